"""The installers users have, as the client matrix runs them: pip releases in their own venvs
(of the real Python 3.7, and one of the host's Python for a 3.7 target by flags), fetched
from the configured index once per session, and uv from the dev environment.

Each client knows the commands users type; every run has pip's and uv's configuration turned
off, so what it installs comes from the one index or lock the test names.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class ClientSpec:
    """Which installer: a pip release (a requirement on pip) under 3.7 or the host, or uv."""

    id: str
    tool: Literal["pip", "uv"]
    pip: str = ""
    host: bool = False  # pip runs under the host's Python and installs for 3.7 by flags


SPECS = (
    ClientSpec("pip-20.2-py37", "pip", "pip==20.2.*"),  # the oldest pip the images ship
    ClientSpec("pip-22-py37", "pip", "pip==22.*"),
    ClientSpec("pip-newest-py37", "pip", "pip"),
    ClientSpec("pip-newest-host", "pip", "pip", host=True),
    ClientSpec("uv-py37", "uv"),
)


@dataclass(frozen=True)
class Client:
    """One installer ready to run: its command and the version it reports."""

    spec: ClientSpec
    program: tuple[str, ...]  # (python, "-m", "pip") or (uv, "pip")
    python37: str  # the target's interpreter uv installs for
    version: str

    def install(
        self,
        requirements: Path,
        target: Path,
        work: Path,
        index: str | None = None,
        no_deps: bool = False,
        python_version: str = "",
    ) -> subprocess.CompletedProcess[str]:
        """`install -r requirements --target target`, hashes required (from `index` only);
        pip under the host's Python is told the target's release (`python_version`)."""
        cmd = [*self.program, "install", "--target", str(target), "-r", str(requirements)]
        if self.spec.tool == "uv":
            cmd += ["--python", self.python37]
        elif self.spec.host:
            cmd += ["--python-version", python_version, "--only-binary", ":all:"]
        if index is not None:
            cmd += ["--index-url", index, "--require-hashes"]
        if no_deps:
            cmd.append("--no-deps")
        return run(cmd, work)


def run(cmd: Sequence[str], work: Path) -> subprocess.CompletedProcess[str]:
    """A client command with no configuration but what the command line says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(work / "uv-cache"),
        UV_NO_PROGRESS="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    return subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=300)


def make_client(spec: ClientSpec, python37: str, work: Path, machine: Mapping[str, str]) -> Client:
    """The client of `spec`; a pip is fetched with this machine's pip configuration."""
    if spec.tool == "uv":
        uv = str(Path(sys.executable).with_name("uv"))
        return Client(spec, (uv, "pip"), python37, _output([uv, "--version"]))
    base = sys.executable if spec.host else python37
    venv = work / spec.id
    wheel = _fetch_pip(spec.pip, _minor(base), work / "downloads" / spec.id, machine)
    _check([base, "-m", "venv", "--without-pip", str(venv)], os.environ)
    python = str(venv / "bin" / "python")
    # pip installs itself from its own wheel: no network, no bundled ensurepip release
    _check([python, f"{wheel}/pip", "install", "-q", "--no-index", str(wheel)], os.environ)
    return Client(spec, (python, "-m", "pip"), python37, _output([python, "-m", "pip", "-V"]))


def _fetch_pip(requirement: str, minor: str, dest: Path, machine: Mapping[str, str]) -> Path:
    """The newest pip wheel matching `requirement` for Python `minor`, from the configured
    index (pip's own Requires-Python decides which is the newest for 3.7)."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest)]
    _check([*cmd, "--only-binary", ":all:", "--python-version", minor, requirement], machine)
    (wheel,) = dest.glob("pip-*.whl")
    return wheel


def _minor(python: str) -> str:
    return _output([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])


def _check(cmd: Sequence[str], env: Mapping[str, str]) -> None:
    out = subprocess.run(list(cmd), env=dict(env), capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")


def _output(cmd: Sequence[str]) -> str:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=True).stdout.strip()

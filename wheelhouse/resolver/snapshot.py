"""Profiles snapshotted from a real interpreter, a Docker image, a package list, or a
resolution (the built-in stand-in for an image whose exact versions were never published).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from wheelhouse.errors import UsageError, WheelhouseError
from wheelhouse.model.profile import (
    ImageFile,
    InstalledDist,
    Profile,
    bare_profile,
    compute_tags,
    expand_platform,
)
from wheelhouse.model.requirements import read_requirements
from wheelhouse.net.cache import Cache
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.resolver.candidates import Options, parse_cutoff
from wheelhouse.resolver.repository import IndexRepository
from wheelhouse.resolver.resolve import resolve


def _script() -> str:
    return (resources.files("wheelhouse.model") / "_snapshot_script.py").read_text()


def profile_from_facts(facts: Mapping[str, Any], name: str, source: str) -> Profile:
    """A Profile from what the snapshot script printed."""
    try:
        version = Version(facts["python_version"])
        impl = {"cpython": "cp", "pypy": "pp"}.get(facts["implementation"], facts["implementation"])
        plat = str(facts["platform"]).replace("-", "_").replace(".", "_")
        if plat.startswith("linux_") and facts.get("glibc"):
            major, minor = str(facts["glibc"]).split(".")[:2]
            plat = f"manylinux_{major}_{minor}_{plat[len('linux_') :]}"
        platforms = expand_platform(plat)
        abi = f"{impl}{version.major}{version.minor}{facts.get('abiflags', '')}"
        installed = [
            InstalledDist(
                canonicalize_name(d["name"]),
                d["version"],
                tuple(d.get("requires_dist") or ()),
                d.get("requires_python"),
            )
            for d in facts.get("distributions", [])
        ]
        return Profile(
            name=name,
            description=f"snapshot of {source}",
            source=source,
            python_version=str(version),
            implementation=impl,
            abis=(abi,),
            platforms=tuple(platforms),
            tags=tuple(compute_tags(version, impl, [abi], platforms)),
            markers={k: str(v) for k, v in facts["markers"].items()},
        ).with_installed(installed)
    except (KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"snapshot of {source} gave unexpected facts: {exc!r}") from exc


def _run(cmd: Sequence[str], source: str, stdin: str | None = None) -> Mapping[str, Any]:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300)
    except FileNotFoundError as exc:
        raise UsageError(f"cannot run {cmd[0]}: not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise WheelhouseError(f"snapshot of {source} timed out") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise WheelhouseError(
            f"snapshot of {source} failed (exit {proc.returncode}): " + " | ".join(tail)
        )
    try:
        data: Mapping[str, Any] = json.loads(proc.stdout)
    except (ValueError, RecursionError) as exc:
        raise WheelhouseError(f"snapshot of {source} printed no JSON: {exc}") from None
    return data


def snapshot_python(python: str, name: str | None = None) -> Profile:
    """Run the stdlib-only script under that interpreter (it works on Python 3.7)."""
    exe = shutil.which(python) or python
    try:
        old = subprocess.run(
            # 3 for an old Python; anything else that fails is not a Python
            [exe, "-c", "import sys; sys.exit(3 if sys.version_info < (3, 6) else 0)"],
            capture_output=True,
            timeout=60,
        ).returncode
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"cannot run {python}: {exc}") from exc
    if old == 3:
        raise UsageError(f"{python} is older than Python 3.6, which wheelhouse does not target")
    if old != 0:
        raise UsageError(f"{python} does not run as a Python interpreter (exit {old})")
    facts = _run([exe, "-I", "-c", _script()], f"python {exe}")
    return profile_from_facts(
        facts, name or f"python-{facts.get('python_version')}", f"python:{exe}"
    )


def snapshot_docker(
    image: str, python: str = "python", name: str | None = None, docker: str = "docker"
) -> Profile:
    """The same script through `docker run --rm` (the image's own interpreter)."""
    facts = _run(
        [docker, "run", "--rm", "-i", "--entrypoint", python, image, "-"],
        f"docker image {image}",
        stdin=_script(),
    )
    return profile_from_facts(facts, name or re.sub(r"[^\w.-]+", "-", image), f"docker:{image}")


def parse_package_list(text: str, path: str) -> list[tuple[str, str]]:
    """`pip freeze` output or `pip list --format=json`: (name, version) pairs."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            return [(d["name"], d["version"]) for d in json.loads(stripped)]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise UsageError(f"{path}: not a `pip list --format=json` document: {exc}") from exc
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==|===)\s*(\S+)$", line)
        at = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*@\s*\S+", line)
        if m:
            out.append((m.group(1), m.group(2)))
        elif at:
            raise UsageError(
                f"{path}:{lineno}: {at.group(1)} is installed from a URL; "
                "its version is unknown to a package list (snapshot with --python)"
            )
        else:
            raise UsageError(f"{path}:{lineno}: not a `name==version` line: {line!r}")
    return out


def snapshot_freeze(
    path: Path, python_version: str, platform: str, name: str | None = None
) -> Profile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    base = bare_profile(python_version, platform)
    installed = [
        InstalledDist(canonicalize_name(n), v, None, None)
        for n, v in parse_package_list(text, str(path))
    ]
    return base.with_installed(
        installed,
        name=name or path.stem,
        source=f"freeze:{path.name}",
        installed_requirements_known=False,
        description=f"from the package list {path.name}; the installed packages' own "
        "requirements are unknown",
    )


def snapshot_resolved(
    requirement_files: Sequence[Path],
    python_version: str,
    platform: str,
    config: IndexConfig,
    *,
    exclude_newer: str | None = None,
    name: str,
    description: str,
    cache: Cache | None = None,
) -> Profile:
    """A stand-in profile: the image's documented packages resolved for the target.

    Image packages need metadata only, so a project published only as an sdist is fine.
    """
    base = bare_profile(python_version, platform)
    reqs = read_requirements(requirement_files, (), base, config.constraints)
    repo = IndexRepository(config, cache or Cache(None))
    try:
        resolution = resolve(
            reqs.reqs,
            base,
            repo,
            Options(
                exclude_newer=parse_cutoff(exclude_newer) if exclude_newer else None,
                allow_sdist=True,
                constraints=reqs.constraints,
            ),
        )
    finally:
        repo.close()
    installed = [
        InstalledDist(p.name, p.version, p.requires_dist, p.requires_python)
        for p in resolution.packages
    ]
    files = tuple(
        ImageFile(
            name=p.name,
            version=p.version,
            filename=p.files[0].filename,
            url=p.files[0].url,
            sha256=p.files[0].sha256 or "",
        )
        for p in resolution.packages
        if p.files
    )
    inputs = [f.name for f in requirement_files]
    return base.with_installed(
        installed,
        name=name,
        description=description,
        source=f"resolved: {' '.join(inputs)} for Python {base.python_version} {platform}"
        + (f", uploads up to {exclude_newer}" if exclude_newer else ""),
        files=files,
        extra={"exclude_newer": exclude_newer} if exclude_newer else {},
    )

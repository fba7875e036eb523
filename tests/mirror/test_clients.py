"""The client matrix: every file wheelhouse writes, read by the clients users have.

- requirements.lock, installed as its header says (`--no-deps --require-hashes`) from the
  index it was locked from, by pip 20.2 (the oldest the images ship), pip 22 and the newest
  pip under the real Python 3.7, the newest pip under the host's Python for a 3.7 target
  (`--target --python-version 3.7 --only-binary :all:`), and uv for the real Python 3.7;
- the wheelhouse's index, from `serve`, as a static tree over file:// and from a plain
  `python -m http.server`: the same clients, installing the lock the way the image's start
  does (`pip install -r`, dependencies resolved by the client), hashes required, no other
  index;
- pylock.toml, installed by uv on the real Python 3.7 (3.7.16) for a bare `--python-version
  3.7` target and for snapshots of that interpreter (as it is, and as if it were the image
  before a rebuild on a later patch release), and read by `packaging.pylock`.

Every install is then imported by the real Python 3.7. The packages are tiny wheels; only
the pips come from the configured index (tests/clients.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Environment
from packaging.pylock import Pylock, PylockSelectError
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

from tests.clients import SPECS, Client, run
from tests.helpers import Synced, isolate, run_mirror, write_requirements
from tests.localserver import python_http_server, serve_folder
from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.cli import main
from wheelhouse.mirror.serveconfig import ServeConfig
from wheelhouse.model.lockfiles import load_lock
from wheelhouse.model.profile import Profile, load_profile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CP37 = "cp37-cp37m-manylinux_2_17_x86_64.manylinux2014_x86_64"
CP311 = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
REBUILT_FROM = "3.7.12"  # the image's release when it was snapshotted, before a rebuild

NEEDS = {  # what each cell needs beyond the host: a real 3.7, and the index for the pips
    "uv-py37": [pytest.mark.py37],
}
CLIENTS = [
    pytest.param(s.id, marks=NEEDS.get(s.id, [pytest.mark.py37, pytest.mark.live]), id=s.id)
    for s in SPECS
]


def _wheels(folder: Path) -> list[tuple[Path, str | None]]:
    """alpha needs beta (only a cp37 wheel fits; it wants 3.7.1 or later), gamma only below
    3.8 (a marker the host's Python does not share) and a name to normalise."""
    w = lambda *a, **k: make_wheel(folder, *a, **k)  # noqa: E731
    alpha_deps = ["beta>=2", 'gamma; python_version < "3.8"', "Delta_Pkg>=1"]
    return [
        (w("alpha", "1.0", alpha_deps, requires_python=">=3.7"), ">=3.7"),
        (w("alpha", "2.0", ["beta>=2"], requires_python=">=3.8"), ">=3.8"),
        (w("beta", "2.0", tag=CP37, requires_python=">=3.7.1"), ">=3.7.1"),
        (w("beta", "2.0", tag=CP311, requires_python=">=3.7.1"), ">=3.7.1"),
        (w("gamma", "1.0", tag="py2.py3-none-any"), None),
        (w("Delta_Pkg", "1.0"), None),
        (w("omega", "1.0", requires_python=">=3.7.17"), ">=3.7.17"),
    ]


@dataclass(frozen=True)
class World:
    """An upstream index with the tiny wheels, locks made from it, and its wheelhouse served
    three ways; all alive for the module."""

    upstream: str  # the upstream's simple index URL
    locks: dict[str, Path]  # kind -> requirements.lock (its pylock.toml beside it)
    indexes: dict[str, str]  # how the wheelhouse is served -> its simple index URL
    profile: Profile  # the snapshot of the real Python 3.7


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, python37: str) -> Iterator[World]:
    root = tmp_path_factory.mktemp("world")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root / "cache")
        index = SimpleIndex(root / "upstream")
        for wheel, requires_python in _wheels(root / "dists"):
            index.add(wheel, requires_python=requires_python)
        index.write()
        with serve_folder(index.root) as (url, _):
            upstream = f"{url}/simple"
            profile = _snapshot(python37, root)
            locks = _locks(upstream, root, profile)
            wh = root / "wh"
            assert main(["sync", str(locks["bare 3.7"]), "--wheelhouse", str(wh)]) == 0
            with run_mirror(ServeConfig(root=wh)) as served, python_http_server(wh) as static:
                indexes = {
                    "serve": f"{served}/simple",
                    "file": (wh / "simple").as_uri(),
                    "http.server": f"{static}/simple",
                }
                yield World(upstream, locks, indexes, profile)


def _snapshot(python37: str, root: Path) -> Profile:
    path = root / "image.json"
    assert main(["snapshot", "--python", python37, "--name", "py37-here", "-o", str(path)]) == 0
    return load_profile(path)


def _locks(upstream: str, root: Path, profile: Profile) -> dict[str, Path]:
    """Each kind of lock the matrix reads, made by the CLI as users run it."""
    older = replace(
        profile,
        name=f"py37-was-{REBUILT_FROM}",
        python_version=REBUILT_FROM,
        markers={
            **profile.markers,
            "python_full_version": REBUILT_FROM,
            "implementation_version": REBUILT_FROM,
        },
    )
    (root / "older.json").write_text(older.to_json())
    bare = ["--python-version", "3.7", "--platform", "manylinux2014_x86_64"]
    kinds = {
        "bare 3.7": [*bare, "alpha"],
        "snapshot": ["--image", str(root / "image.json"), "alpha"],
        f"snapshot of {REBUILT_FROM}": ["--image", str(root / "older.json"), "alpha"],
        "needs 3.7.17": [*bare, "omega"],
    }
    locks = {}
    for n, (kind, args) in enumerate(kinds.items()):
        out = root / f"lock{n}" / "requirements.lock"
        out.parent.mkdir()
        assert main(["lock", "-q", "-i", upstream, "-o", str(out), *args]) == 0, kind
        locks[kind] = out
    return locks


def _installed(target: Path, lock: Path, python37: str) -> None:
    """The target holds exactly the lock's packages, and the real 3.7 imports each one."""
    pins = {p.name: p.version for p in load_lock(lock).to_install()}
    found = {}
    for info in target.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        found[canonicalize_name(name)] = version
    assert found == pins
    code = (
        "import importlib, json, sys; sys.path.insert(0, sys.argv[1]); print(json.dumps("
        "{n: importlib.import_module(n.replace('-', '_')).__version__ for n in sys.argv[2:]}))"
    )
    out = subprocess.run(
        [python37, "-c", code, str(target), *pins], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == pins


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


# -- requirements.lock ------------------------------------------------------------------


@pytest.mark.parametrize("client_id", CLIENTS)
def test_requirements_lock(
    client_id: str, clients: Callable[[str], Client], world: World, python37: str, tmp_path: Path
) -> None:
    """As the lock's header says: `pip install --no-deps --require-hashes -r`, and from
    another Python with `--target DIR --python-version 3.7.17 --only-binary :all:`."""
    lock, target = world.locks["bare 3.7"], tmp_path / "t"
    release = load_lock(lock).target.python_version
    client = clients(client_id)
    _ok(client.install(lock, target, tmp_path, world.upstream, True, release))
    _installed(target, lock, python37)


@pytest.mark.py37
@pytest.mark.live
def test_pip_from_another_python_takes_a_bare_37_as_370(
    clients: Callable[[str], Client], world: World, tmp_path: Path
) -> None:
    """Why the header gives the release: `--python-version 3.7` is 3.7.0 to pip, which then
    refuses every package that needs a later patch release (beta wants 3.7.1)."""
    lock = world.locks["bare 3.7"]
    client = clients("pip-newest-host")
    result = client.install(lock, tmp_path / "t", tmp_path, world.upstream, True, "3.7")
    assert result.returncode != 0
    assert "beta==2.0" in result.stderr and "Requires-Python >=3.7.1" in result.stderr


# -- the wheelhouse's index -------------------------------------------------------------


@pytest.mark.parametrize("served", ["serve", "file", "http.server"])
@pytest.mark.parametrize("client_id", CLIENTS)
def test_index(
    client_id: str,
    served: str,
    clients: Callable[[str], Client],
    world: World,
    python37: str,
    tmp_path: Path,
) -> None:
    """As the image's start installs AZUREML_EXTRA_REQUIREMENTS_TXT: `pip install -r`, the
    client resolving the dependencies itself, from the wheelhouse alone."""
    lock, target, index = world.locks["bare 3.7"], tmp_path / "t", world.indexes[served]
    release = load_lock(lock).target.python_version
    _ok(clients(client_id).install(lock, target, tmp_path, index, False, release))
    _installed(target, lock, python37)


# -- pylock.toml ------------------------------------------------------------------------

PYLOCKS = ["bare 3.7", "snapshot", f"snapshot of {REBUILT_FROM}"]


def _pylock(world: World, kind: str) -> Path:
    return world.locks[kind].with_name("pylock.toml")


@pytest.mark.py37
@pytest.mark.parametrize("kind", PYLOCKS)
def test_pylock_with_uv(
    kind: str, clients: Callable[[str], Client], world: World, python37: str, tmp_path: Path
) -> None:
    target = tmp_path / "t"
    _ok(clients("uv-py37").install(_pylock(world, kind), target, tmp_path))
    _installed(target, world.locks[kind], python37)


@pytest.mark.py37
def test_uv_refuses_a_pylock_that_needs_a_later_patch_release(
    clients: Callable[[str], Client], world: World, tmp_path: Path
) -> None:
    """The range is no blanket: omega wants 3.7.17, the real interpreter is 3.7.16."""
    result = clients("uv-py37").install(_pylock(world, "needs 3.7.17"), tmp_path / "t", tmp_path)
    assert result.returncode != 0
    assert "incompatible with the `pylock.toml`'s Python requirement: `>=3.7.17" in result.stderr


@pytest.mark.py37
@pytest.mark.live
def test_pip_from_another_python_does_not_take_a_pylock_for_37(
    clients: Callable[[str], Client], world: World, tmp_path: Path
) -> None:
    """pip reads pylock.toml only for its own interpreter (and pip under 3.7 not at all):
    for the image, pylock.toml is uv's file and requirements.lock pip's."""
    client = clients("pip-newest-host")
    result = client.install(
        _pylock(world, "bare 3.7"), tmp_path / "t", tmp_path, None, False, "3.7.16"
    )
    assert result.returncode != 0
    assert "--python-version" in result.stderr and "pylock.toml" in result.stderr


@pytest.mark.py37
@pytest.mark.parametrize("kind", PYLOCKS)
def test_pylock_with_packaging(kind: str, world: World) -> None:
    """packaging's reader validates the file and, for the real 3.7's markers and tags
    (the snapshot's), selects exactly the locked packages, each with a fitting wheel."""
    pylock = Pylock.from_dict(tomllib.loads(_pylock(world, kind).read_text()))
    pylock.validate()
    env: Any = dict(world.profile.markers)
    tags = [t for text in world.profile.tags for t in parse_tag(text)]
    selected = pylock.select(environment=env, tags=tags)
    chosen = {p.name: (str(p.version), w.name) for p, w in selected}
    pins = {p.name: p for p in load_lock(world.locks[kind]).to_install()}
    assert {n: v for n, (v, _) in chosen.items()} == {n: p.version for n, p in pins.items()}
    assert chosen["beta"][1].endswith(f"{CP37}.whl")
    older: Environment = {**env, "python_full_version": "3.7.0"}  # type: ignore[typeddict-item]
    with pytest.raises(PylockSelectError, match=r"3\.7\.1"):
        list(pylock.select(environment=older, tags=tags))


# -- serve with credentials -------------------------------------------------------------


def test_pip_with_token_in_index_url(synced: Synced, mirror: Any, tmp_path: Path) -> None:
    base = mirror(synced.root, token="tok3n")
    lock = write_requirements(tmp_path / "requirements.lock", synced.lock)
    index = base.replace("http://", "http://ci:tok3n@") + "/simple"
    cmd = [sys.executable, "-m", "pip", "install", "--index-url", index, "--require-hashes",
           "--no-deps", "-r", str(lock), "--target", str(tmp_path / "t")]  # fmt: skip
    _ok(run(cmd, tmp_path))
    for i in range(len(synced.wheels)):
        assert (tmp_path / "t" / f"pkg{i}" / "__init__.py").read_text() == f"VALUE = {i}\n"

"""`wheelhouse install`: layout, scripts, .data, refusals that leave the target unchanged."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import House, lock_of, rewrite_member, siblings, tree_state
from tests.wheelfactory import make_wheel
from wheelhouse.artifact.manifest import Manifest, ManifestDist, ManifestFile
from wheelhouse.cli import main

SITE = "lib/python3.7/site-packages"


def alpha(build: Path, version: str = "1.0", **kw: object) -> Path:
    files = {
        "alpha/__init__.py": "def main():\n    print('alpha says hi')\n",
        "alpha/util.py": "X = 1\n",
        f"alpha-{version}.data/scripts/alpha-tool": "#!python\nprint('tool')\n",
        f"alpha-{version}.data/data/share/alpha/readme.txt": "data file\n",
        f"alpha-{version}.data/headers/alpha.h": "/* header */\n",
        f"alpha-{version}.data/purelib/alpha_extra.py": "EXTRA = 1\n",
        f"alpha-{version}.data/platlib/alpha_native/__init__.py": "NATIVE = 1\n",
    }
    return make_wheel(
        build,
        "alpha",
        version,
        ["beta>=1"],
        files=files,
        entry_points="[console_scripts]\nalpha-cli = alpha:main\n",
        **kw,  # type: ignore[arg-type]
    )


def install(lock: Path, house: House, out: Path, *extra: str) -> int:
    argv = ["install", str(lock), "--wheelhouse", str(house.root), "--target", str(out)]
    return main([*argv, *extra])


@pytest.fixture
def good(house: House, tmp_path: Path) -> tuple[Path, Path]:
    """A wheelhouse with alpha + beta, their lock, and OUT installed from it."""
    build = tmp_path / "build"
    wheels = [house.add(alpha(build)), house.add(make_wheel(build, "beta", "1.2"))]
    lock = house.write_lock(lock_of(wheels))
    out = tmp_path / "out"
    assert install(lock, house, out) == 0
    return lock, out


def test_layout_scripts_data_and_no_bytecode(good: tuple[Path, Path]) -> None:
    _, out = good
    site = out / SITE
    assert (site / "alpha" / "util.py").read_text() == "X = 1\n"
    assert (site / "alpha-1.0.dist-info" / "INSTALLER").read_text() == "wheelhouse\n"
    record = (site / "alpha-1.0.dist-info" / "RECORD").read_text()
    assert "../../../bin/alpha-cli,sha256=" in record
    script = out / "bin" / "alpha-cli"
    assert script.read_text().startswith("#!/usr/bin/env python3.7\n")
    assert "from alpha import main" in script.read_text()
    assert script.stat().st_mode & stat.S_IXUSR
    tool = out / "bin" / "alpha-tool"
    assert tool.read_text() == "#!/usr/bin/env python3.7\nprint('tool')\n"
    assert tool.stat().st_mode & stat.S_IXUSR
    assert (out / "share" / "alpha" / "readme.txt").read_text() == "data file\n"
    assert (out / "include" / "alpha.h").exists()
    assert (site / "alpha_extra.py").read_text() == "EXTRA = 1\n"
    assert (site / "alpha_native" / "__init__.py").exists()
    assert not [p for p in out.rglob("*") if p.suffix == ".pyc" or p.name == "__pycache__"]
    manifest = json.loads((out / ".wheelhouse-manifest.json").read_text())
    assert [d["name"] for d in manifest["dists"]] == ["alpha", "beta"]
    assert f"{SITE}/alpha/util.py" in {f["path"] for f in manifest["files"]}
    assert siblings(out) == ["build", "out", "pylock.toml", "wh"]


def test_console_script_runs_under_this_python(house: House, tmp_path: Path) -> None:
    build = tmp_path / "build"
    wheels = [house.add(alpha(build)), house.add(make_wheel(build, "beta", "1.2"))]
    lock = house.write_lock(lock_of(wheels))
    out = tmp_path / "out"
    assert install(lock, house, out, "--interpreter", sys.executable) == 0
    env = {**os.environ, "PYTHONPATH": str(out / SITE)}
    done = subprocess.run([str(out / "bin" / "alpha-cli")], capture_output=True, text=True, env=env)
    assert done.stdout == "alpha says hi\n"


def test_requirements_lock_finds_wheels_by_name_version_and_hash(
    house: House, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    wheels = [house.add(make_wheel(build, "beta", "1.2"))]
    house.add(make_wheel(build, "beta", "1.1"))
    lock = house.write_lock(lock_of(wheels, named=False), "requirements.lock")
    out = tmp_path / "out"
    assert install(lock, house, out) == 0
    assert (out / SITE / "beta-1.2.dist-info").is_dir()
    assert not (out / SITE / "beta-1.1.dist-info").exists()


def test_reinstall_removes_a_dropped_package(good: tuple[Path, Path], house: House) -> None:
    _, out = good
    beta = next(house.files.glob("beta-*.whl"))
    lock = house.write_lock(lock_of([beta]), "pylock.beta.toml")
    assert install(lock, house, out) == 0
    site = out / SITE
    assert not (site / "alpha").exists()
    assert not (site / "alpha-1.0.dist-info").exists()
    assert not (out / "bin" / "alpha-cli").exists()
    assert (site / "beta-1.2.dist-info").is_dir()
    assert siblings(out) == sorted(["out", "pylock.toml", "pylock.beta.toml", "wh", "build"])


def test_refuses_a_folder_it_did_not_make(house: House, tmp_path: Path) -> None:
    build = tmp_path / "build"
    lock = house.write_lock(lock_of([house.add(make_wheel(build, "beta", "1.2"))]))
    out = tmp_path / "precious"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert install(lock, house, out) == 6
    assert tree_state(out) == {"mine.txt": b"keep"}


def test_parallel_install_of_many_wheels(house: House, tmp_path: Path) -> None:
    build = tmp_path / "build"
    wheels = [house.add(make_wheel(build, f"pkg{i}", f"1.{i}")) for i in range(12)]
    lock = house.write_lock(lock_of(wheels))
    out = tmp_path / "out"
    assert install(lock, house, out, "--jobs", "4") == 0
    assert len(list((out / SITE).glob("*.dist-info"))) == 12


# -- refusals: each leaves OUT exactly as it was ----------------------------------------


def _bad_wheel(case: str, build: Path) -> Path:
    if case == "dotdot":
        return make_wheel(build, "gamma", "1.0", extra_entries={"../../evil.py": b"x = 1\n"})
    if case == "absolute":
        return make_wheel(build, "gamma", "1.0", extra_entries={"/tmp/evil.py": b"x = 1\n"})
    if case == "symlink":
        return make_wheel(
            build,
            "gamma",
            "1.0",
            extra_entries={"gamma/link": b"/etc/passwd"},
            modes={"gamma/link": stat.S_IFLNK | 0o777},
        )
    if case == "bad-record":
        wheel = make_wheel(build, "gamma", "1.0")
        return rewrite_member(wheel, "gamma/__init__.py", b"import os; os.system('evil')\n")
    if case == "same-size-edit":
        wheel = make_wheel(build, "gamma", "1.0")
        original = b"__version__ = '1.0'\n"
        return rewrite_member(wheel, "gamma/__init__.py", original.replace(b"1.0", b"6.6"))
    if case == "script-edit":
        files = {"gamma/__init__.py": "", "gamma-1.0.data/scripts/tool": "#!python\nprint(1)\n"}
        wheel = make_wheel(build, "gamma", "1.0", files=files)
        return rewrite_member(wheel, "gamma-1.0.data/scripts/tool", b"#!python\nprint(6)\n")
    if case == "unrecorded":
        wheel = make_wheel(build, "gamma", "1.0", record=False)
        return wheel
    if case == "script-name":
        return make_wheel(
            build, "gamma", "1.0", entry_points="[console_scripts]\n../../evil = gamma:main\n"
        )
    if case == "data-escape":
        return make_wheel(
            build, "gamma", "1.0", extra_entries={"gamma-1.0.data/data/../../../evil": b"x"}
        )
    if case == "wrong-tags":
        return make_wheel(build, "gamma", "1.0", tag="cp39-cp39-manylinux_2_17_x86_64")
    if case in ("local-name", "bad-deflate"):
        # members are inflated straight from the archive: its local headers are checked too
        wheel = make_wheel(build, "gamma", "1.0")
        with zipfile.ZipFile(wheel) as zf:
            items = [(i, zf.read(i)) for i in zf.infolist()]
        with zipfile.ZipFile(wheel, "w") as zf:  # deflated, as real wheels are
            for item, content in items:
                item.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(item, content)
        with zipfile.ZipFile(wheel) as zf:
            info = zf.getinfo("gamma/__init__.py")
        data = bytearray(wheel.read_bytes())
        start = info.header_offset + 30
        if case == "local-name":  # same length, so only the name differs
            assert data[start : start + 17] == b"gamma/__init__.py"
            data[start : start + 17] = b"gamma/__evil__.py"
        else:  # a deflate stream with an invalid block type
            begin = start + len(info.orig_filename) + len(info.extra)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            data[begin : begin + info.compress_size] = b"\xff" * info.compress_size
        wheel.write_bytes(bytes(data))
        return wheel
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("dotdot", "'..' in path"),
        ("absolute", "absolute path"),
        ("symlink", "a link or special file"),
        ("bad-record", "does not match its RECORD"),
        ("same-size-edit", "gamma/__init__.py does not match its RECORD hash/size"),
        ("script-edit", "gamma-1.0.data/scripts/tool does not match its RECORD hash/size"),
        ("unrecorded", "no readable RECORD"),
        ("wrong-tags", "does not fit the target's tags"),
        ("script-name", "refusing script name '../../evil'"),
        ("data-escape", "'..' in path"),
        ("local-name", "gamma/__init__.py: encrypted, or its local header names another file"),
        ("bad-deflate", "gamma/__init__.py: "),
    ],
)
def test_refusals_leave_the_target_unchanged(
    case: str,
    reason: str,
    good: tuple[Path, Path],
    house: House,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out = good
    before = tree_state(out)
    beta = next(house.files.glob("beta-*.whl"))
    bad = house.add(_bad_wheel(case, tmp_path / f"bad-{case}"))
    lock = house.write_lock(lock_of([beta, bad]), "pylock.bad.toml")
    capsys.readouterr()
    code = install(lock, house, out)
    err = capsys.readouterr().err
    assert code in (5, 6), err
    assert "gamma 1.0" in err and reason in err, err
    assert tree_state(out) == before
    assert not [n for n in siblings(out) if ".staging-" in n or ".old-" in n]


def test_refuses_a_wheel_failing_its_lock_hash(
    good: tuple[Path, Path], house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock_path, out = good
    before = tree_state(out)
    # same filename, different bytes: what a corrupted or substituted download looks like
    make_wheel(tmp_path / "other", "beta", "1.2", files={"beta/__init__.py": "EVIL = 1\n"})
    house.add(tmp_path / "other" / "beta-1.2-py3-none-any.whl")
    capsys.readouterr()
    assert install(lock_path, house, out) == 5
    err = capsys.readouterr().err
    assert "beta 1.2" in err and "hash mismatch" in err
    assert tree_state(out) == before


def test_refuses_a_missing_wheel(
    good: tuple[Path, Path], house: House, capsys: pytest.CaptureFixture[str]
) -> None:
    lock_path, out = good
    before = tree_state(out)
    (house.files / "alpha-1.0-py3-none-any.whl").unlink()
    capsys.readouterr()
    assert install(lock_path, house, out) == 6
    err = capsys.readouterr().err
    assert "alpha 1.0" in err and "is in" in err
    assert tree_state(out) == before


def test_refuses_two_wheels_claiming_one_file(house: House, tmp_path: Path) -> None:
    build = tmp_path / "build"
    one = make_wheel(build, "one", "1.0", files={"shared/__init__.py": "A = 1\n"})
    two = make_wheel(build, "two", "1.0", files={"shared/__init__.py": "B = 2\n"})
    lock = house.write_lock(lock_of([house.add(one), house.add(two)]))
    out = tmp_path / "out"
    assert install(lock, house, out) == 5
    assert not out.exists()


def test_a_script_two_wheels_declare_is_the_later_ones(
    house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a framework and its dashboard both declare `board`; a .data script is shared too
    build = tmp_path / "build"
    entry = "[console_scripts]\nboard = {}.main:run\n"
    frame = make_wheel(
        build,
        "aframework",
        "2.11",
        files={
            "aframework/__init__.py": "",
            "aframework/main.py": "def run(): pass\n",
            "aframework-2.11.data/scripts/helper": "#!python\nprint('a')\n",
        },
        entry_points=entry.format("aframework"),
    )
    board = make_wheel(
        build,
        "board",
        "2.11",
        files={
            "board/__init__.py": "",
            "board/main.py": "def run(): pass\n",
            "board-2.11.data/scripts/helper": "#!python\nprint('b')\n",
        },
        entry_points=entry.format("board"),
    )
    lock = house.write_lock(lock_of([house.add(frame), house.add(board)]))
    out = tmp_path / "out"
    assert install(lock, house, out) == 0
    assert "script board is declared by aframework 2.11 too; board 2.11's is installed" in (
        capsys.readouterr().err
    )
    assert "from board.main import run" in (out / "bin" / "board").read_text()
    assert "print('b')" in (out / "bin" / "helper").read_text()
    records = {
        name: (out / SITE / f"{name}-2.11.dist-info" / "RECORD").read_text()
        for name in ("aframework", "board")
    }
    assert "bin/board" not in records["aframework"] and "bin/helper" not in records["aframework"]
    assert "bin/board" in records["board"] and "bin/helper" in records["board"]
    assert main(["verify", str(out), "--lock", str(lock)]) == 0  # manifest and RECORDs agree
    assert main(["verify", str(out), "--lock", str(lock), "--wheelhouse", str(house.root)]) == 0


# -- read back by the real tools ---------------------------------------------------------


@pytest.mark.py37
def test_python37_pip_lists_the_installed_folder(good: tuple[Path, Path], python37: str) -> None:
    _, out = good
    done = subprocess.run(
        [python37, "-m", "pip", "list", "--format=json", "--path", str(out / SITE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, done.stderr
    listed = {d["name"].lower(): d["version"] for d in json.loads(done.stdout)}
    assert listed == {"alpha": "1.0", "beta": "1.2"}


def test_importlib_metadata_reads_the_installed_folder(good: tuple[Path, Path]) -> None:
    import importlib.metadata as md

    _, out = good
    dists = {d.metadata["Name"]: d for d in md.distributions(path=[str(out / SITE)])}
    assert sorted(dists) == ["alpha", "beta"]
    alpha_dist = dists["alpha"]
    assert alpha_dist.version == "1.0"
    assert alpha_dist.requires == ["beta>=1"]
    assert [ep.name for ep in alpha_dist.entry_points] == ["alpha-cli"]
    for f in alpha_dist.files or ():
        assert Path(str(f.locate())).exists(), f


@pytest.mark.py37
def test_compile_with_the_target_python(house: House, tmp_path: Path, python37: str) -> None:
    build = tmp_path / "build"
    wheels = [house.add(alpha(build)), house.add(make_wheel(build, "beta", "1.2"))]
    lock = house.write_lock(lock_of(wheels))
    out = tmp_path / "out"
    assert install(lock, house, out, "--compile-with", python37) == 0
    pycs = sorted(p.relative_to(out / SITE).as_posix() for p in out.rglob("*.pyc"))
    assert pycs == [
        "__pycache__/alpha_extra.cpython-37.pyc",
        "alpha/__pycache__/__init__.cpython-37.pyc",
        "alpha/__pycache__/util.cpython-37.pyc",
        "alpha_native/__pycache__/__init__.cpython-37.pyc",
        "beta/__pycache__/__init__.cpython-37.pyc",
    ]
    manifest = json.loads((out / ".wheelhouse-manifest.json").read_text())
    assert manifest["compiled_with"].startswith("3.7.")
    assert main(["verify", str(out), "--lock", str(lock)]) == 0


def test_compile_with_refuses_another_python(
    house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = house.write_lock(lock_of([house.add(make_wheel(tmp_path / "b", "beta", "1.2"))]))
    out = tmp_path / "out"
    assert install(lock, house, out, "--compile-with", sys.executable) == 2
    assert "the target is Python 3.7" in capsys.readouterr().err
    assert not out.exists()


def test_an_sdist_only_pin_is_refused_with_a_reason(
    house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.wheelfactory import make_sdist

    sdist = house.add(make_sdist(tmp_path / "b", "delta", "1.0"))
    lock = lock_of([])
    import hashlib

    from wheelhouse.model.lock import LockedFile, Pin

    locked = LockedFile(sdist.name, {"sha256": hashlib.sha256(sdist.read_bytes()).hexdigest()})
    pin = Pin(name="delta", version="1.0", files=(locked,))  # type: ignore[arg-type]
    lock_path = house.write_lock(type(lock)(lock.target, (pin,), "d"))
    assert install(lock_path, house, tmp_path / "out") == 6
    err = capsys.readouterr().err
    assert "delta 1.0: locked as the sdist delta-1.0.tar.gz, and no wheel built from it" in err
    assert "run wheelhouse sync --build-with PYTHON" in err


def test_library_install_on_threads_reports_what_it_removed(house: House, tmp_path: Path) -> None:
    from wheelhouse.artifact.install import InstallOptions, install_lock
    from wheelhouse.model.lockfiles import load_lock

    build = tmp_path / "build"
    wheels = [house.add(make_wheel(build, f"pkg{i}", "1.0")) for i in range(5)]
    out = tmp_path / "out"
    options = InstallOptions(jobs=3, processes=False)
    first = install_lock(load_lock(house.write_lock(lock_of(wheels))), house.root, out, options)
    assert [w.name for w in first.wheels] == [f"pkg{i}" for i in range(5)]
    assert first.removed == ()
    second = install_lock(
        load_lock(house.write_lock(lock_of(wheels[1:]), "pylock.less.toml")),
        house.root,
        out,
        options,
    )
    assert second.removed == ("pkg0 1.0",)
    assert second.layout.site_packages == out / SITE
    assert not (out / SITE / "pkg0").exists()


def test_a_member_bigger_than_its_record_is_refused_before_inflating(
    house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = make_wheel(tmp_path / "b", "gamma", "1.0")
    rewrite_member(wheel, "gamma/__init__.py", b"#" * 10_000_000)
    lock = house.write_lock(lock_of([house.add(wheel)]))
    assert install(lock, house, tmp_path / "out") == 5
    assert "gamma/__init__.py does not match its RECORD size" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_manifest_json_is_what_json_dumps_writes() -> None:
    """to_json writes the file rows itself, for speed; the bytes must not change."""
    files = tuple(
        ManifestFile(f'lib/p/\u00e9"x\\{i}.py', f"{i:064x}", i, i % 3 == 0) for i in range(50)
    )
    dists = (ManifestDist("n", "1", "n-1-py3-none-any.whl", "ab" * 32),)
    for rows in (files, ()):
        manifest = Manifest("a", "b", "c", "d", "3.7", dists, rows, "")
        expected = json.dumps(manifest.to_dict(), indent=1, sort_keys=True) + "\n"
        assert manifest.to_json() == expected

"""Tampers that rewrite RECORD and the manifest to match (a "consistent" tamper): only the
locked wheels can tell, and `verify --wheelhouse` must, in the folder and in the packed tar.
Modes: refused by pack and unpack, reported by verify, in folders and in tars."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import House, lock_of, tree_state
from tests.wheelfactory import make_wheel
from wheelhouse.artifact.manifest import MANIFEST_NAME, read_manifest, scan_tree, write_manifest
from wheelhouse.artifact.pack import unpack_artifact
from wheelhouse.cli import main
from wheelhouse.errors import IntegrityError
from wheelhouse.model.pylock import render_pylock

SITE = "lib/python3.7/site-packages"


def _verify(target: Path, lock: Path, *extra: str) -> tuple[int, list[str], list[str]]:
    """Exit code, error lines and warning lines of `verify --json`."""
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["verify", str(target), "--lock", str(lock), "--json", *extra])
    findings = json.loads(buf.getvalue())["findings"]

    def lines(severity: str) -> list[str]:
        return [f"{f['subject']}: {f['message']}" for f in findings if f["severity"] == severity]

    return code, lines("error"), lines("warning")


@pytest.fixture
def built(house: House, tmp_path: Path) -> tuple[Path, Path]:
    """alpha (a console script, a .data script) and beta installed into OUT."""
    build = tmp_path / "build"
    files = {
        "alpha/__init__.py": "def main():\n    print('hi')\n",
        "alpha-1.0.data/scripts/alpha-tool": "#!python\nprint('tool')\n",
        "alpha-1.0.data/scripts/alpha-sh": "#!/bin/sh\necho sh\n",
    }
    wheels = [
        house.add(
            make_wheel(
                build,
                "alpha",
                "1.0",
                files=files,
                entry_points="[console_scripts]\nalpha-cli = alpha:main\n",
            )
        ),
        house.add(make_wheel(build, "beta", "2.0")),
    ]
    lock = house.write_lock(lock_of(wheels))
    out = tmp_path / "out"
    argv = ["install", str(lock), "--wheelhouse", str(house.root), "--target", str(out)]
    assert main(argv) == 0
    return lock, out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _reseal(out: Path, dist_info: str = "beta-2.0.dist-info") -> None:
    """Make RECORD (of `dist_info`) and the manifest agree with the tree as it is now: every
    file nobody records is added to that RECORD, every recorded one rehashed."""
    record = out / SITE / dist_info / "RECORD"
    rows = {r[0]: r for r in csv.reader(record.read_text().splitlines())}
    recorded = {
        r[0]
        for other in (out / SITE).glob("*.dist-info")
        for r in csv.reader((other / "RECORD").read_text().splitlines())
    }
    for f in scan_tree(out):
        rel = posixpath.relpath(f.path, SITE)  # "../../../bin/x" outside site-packages
        if rel.endswith("/RECORD"):
            continue
        if rel in rows or rel not in recorded:
            data = (out / f.path).read_bytes()
            rows[rel] = [rel, f"sha256={_b64(data)}", str(len(data))]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows.values())
    record.write_text(buf.getvalue())
    manifest = read_manifest(out)
    assert manifest is not None
    from dataclasses import replace

    write_manifest(out, replace(manifest, files=scan_tree(out)))


def _add_sitecustomize(out: Path) -> str:
    (out / SITE / "sitecustomize.py").write_text("import os; os.system('echo owned')\n")
    return f"{SITE}/sitecustomize.py"


def _add_pth(out: Path) -> str:
    (out / SITE / "zzz.pth").write_text("import os; os.system('echo owned')\n")
    return f"{SITE}/zzz.pth"


def _add_module_to_package(out: Path) -> str:
    (out / SITE / "alpha" / "extra.py").write_text("EVIL = 1\n")
    return f"{SITE}/alpha/extra.py"


def _add_outside_site(out: Path) -> str:
    (out / "bin" / "helper").write_text("#!/bin/sh\necho owned\n")
    os.chmod(out / "bin" / "helper", 0o755)
    return "bin/helper"


def _edit_console_script(out: Path) -> str:
    script = out / "bin" / "alpha-cli"
    script.write_bytes(script.read_bytes().replace(b"sys.exit(main())", b"import evil"))
    return "script alpha-cli: bin/alpha-cli differs from what the locked wheel makes"


def _edit_data_script(out: Path) -> str:
    script = out / "bin" / "alpha-tool"
    script.write_bytes(script.read_bytes().replace(b"print('tool')", b"print('evil')"))
    return "alpha-1.0.data/scripts/alpha-tool: bin/alpha-tool differs"


def _edit_copied_script(out: Path) -> str:
    script = out / "bin" / "alpha-sh"
    script.write_bytes(script.read_bytes().replace(b"echo sh", b"echo ev"))
    return "alpha-1.0.data/scripts/alpha-sh: differs from the locked wheel"


def _edit_installer(out: Path) -> str:
    (out / SITE / "beta-2.0.dist-info" / "INSTALLER").write_text("pip\n")
    return f"{SITE}/beta-2.0.dist-info/INSTALLER: not what install writes"


ADDED: list[Callable[[Path], str]] = [
    _add_sitecustomize,
    _add_pth,
    _add_module_to_package,
    _add_outside_site,
]
EDITED: list[Callable[[Path], str]] = [
    _edit_console_script,
    _edit_data_script,
    _edit_copied_script,
    _edit_installer,
]


def _pack(out: Path, artifact: Path) -> Path:
    assert main(["pack", str(out), "-o", str(artifact)]) == 0
    return artifact


def test_an_untouched_tree_and_its_tar_are_accounted_for(
    built: tuple[Path, Path], house: House, tmp_path: Path
) -> None:
    lock, out = built
    for target in (out, _pack(out, tmp_path / "a.tar.gz")):
        code, errors, warnings = _verify(target, lock, "--wheelhouse", str(house.root))
        assert code == 0 and errors == [] and warnings == [], (errors, warnings)


@pytest.mark.parametrize("tamper", ADDED, ids=lambda f: f.__name__)
def test_an_added_file_is_caught_in_the_folder_and_the_packed_tar(
    tamper: Callable[[Path], str], built: tuple[Path, Path], house: House, tmp_path: Path
) -> None:
    lock, out = built
    path = tamper(out)
    _reseal(out)
    code, errors, _ = _verify(out, lock)
    assert code == 0, errors  # RECORD and the manifest were rewritten to agree
    artifact = _pack(out, tmp_path / "a.tar.gz")  # and so pack takes it
    for target in (out, artifact):
        code, errors, _ = _verify(target, lock, "--wheelhouse", str(house.root))
        assert code == 1
        assert f"{path}: not shipped by any locked wheel" in errors, errors


@pytest.mark.parametrize("tamper", EDITED, ids=lambda f: f.__name__)
def test_an_edited_generated_or_rewritten_file_is_caught(
    tamper: Callable[[Path], str], built: tuple[Path, Path], house: House, tmp_path: Path
) -> None:
    lock, out = built
    expected = tamper(out)
    _reseal(out, "alpha-1.0.dist-info")
    _reseal(out, "beta-2.0.dist-info")
    assert _verify(out, lock)[0] == 0
    for target in (out, _pack(out, tmp_path / "a.tar.gz")):
        code, errors, _ = _verify(target, lock, "--wheelhouse", str(house.root))
        assert code == 1
        assert any(expected in e for e in errors), errors


def test_a_changed_shebang_is_named(built: tuple[Path, Path], house: House) -> None:
    lock, out = built
    for name in ("alpha-cli", "alpha-tool"):
        script = out / "bin" / name
        script.write_bytes(script.read_bytes().replace(b"/usr/bin/env python3.7", b"/tmp/x"))
    _reseal(out, "alpha-1.0.dist-info")
    code, errors, warnings = _verify(out, lock, "--wheelhouse", str(house.root))
    assert code == 0, errors
    assert "bin: scripts start with '#!/tmp/x', not '#!/usr/bin/env python3.7'" in warnings
    script = out / "bin" / "alpha-cli"
    script.write_bytes(script.read_bytes().replace(b"/tmp/x", b"/tmp/y"))
    _reseal(out, "alpha-1.0.dist-info")
    code, errors, _ = _verify(out, lock, "--wheelhouse", str(house.root))
    assert code == 1 and any("scripts differ in shebang" in e for e in errors), errors


def test_a_wheel_the_lock_does_not_allow_accounts_for_nothing(
    built: tuple[Path, Path], house: House, tmp_path: Path
) -> None:
    """The manifest names an extra wheel that is in the wheelhouse but not in the lock."""
    lock, out = built
    extra = house.add(make_wheel(tmp_path / "x", "gamma", "1.0", files={"gamma.py": "X=1\n"}))
    (out / SITE / "gamma.py").write_text("X=1\n")
    _reseal(out)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    digest = hashlib.sha256(extra.read_bytes()).hexdigest()
    manifest["dists"].append(
        {"name": "gamma", "version": "1.0", "wheel": extra.name, "sha256": digest}
    )
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    code, errors, _ = _verify(out, lock, "--wheelhouse", str(house.root))
    assert code == 1
    assert f"gamma 1.0: {extra.name} is not a wheel the lock allows" in errors
    assert f"{SITE}/gamma.py: not shipped by any locked wheel" in errors


def test_startup_code_is_listed_in_every_report(built: tuple[Path, Path]) -> None:
    lock, out = built
    site, pth = _add_sitecustomize(out), _add_pth(out)
    _reseal(out)
    code, _, warnings = _verify(out, lock)
    assert code == 0
    assert f"{site}: imported at every start of Python" in warnings
    assert any(w.startswith(f"{pth}: a .pth file") for w in warnings)


# -- modes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "mode", "problem"),
    [
        (f"{SITE}/alpha/__init__.py", 0o4755, "mode 4755 (setuid), not 0644 or 0755"),
        (f"{SITE}/alpha/__init__.py", 0o2644, "mode 2644 (setgid), not 0644 or 0755"),
        (f"{SITE}/alpha/__init__.py", 0o666, "mode 0666 (world-writable), not 0644 or 0755"),
        (f"{SITE}/alpha/__init__.py", 0o600, "mode 0600, not 0644 or 0755"),
        (f"{SITE}/alpha", 0o1777, "mode 1777 (sticky, world-writable), not 0755"),
        (f"{SITE}/alpha", 0o775, "mode 0775 (group-writable), not 0755"),
    ],
)
def test_modes_are_reported_by_verify_and_refused_by_pack(
    rel: str, mode: int, problem: str, built: tuple[Path, Path], tmp_path: Path
) -> None:
    lock, out = built
    os.chmod(out / rel, mode)
    code, errors, _ = _verify(out, lock)
    assert code == 1 and f"{rel}: {problem}" in errors, errors
    artifact = tmp_path / "a.tar.gz"
    assert main(["pack", str(out), "-o", str(artifact)]) == 5
    assert not artifact.exists()


def _retar(artifact: Path, change: Callable[[tarfile.TarInfo], None], dest: Path) -> Path:
    """The artifact with every entry passed through `change` (modes, as a hand-made tar
    would have them)."""
    with tarfile.open(artifact) as src, tarfile.open(dest, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            change(member)
            out.addfile(member, data)
    return dest


def test_a_tar_with_setuid_or_writable_entries_fails_verify_and_unpack(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    lock, out = built
    good = _pack(out, tmp_path / "good.tar.gz")

    def loosen(m: tarfile.TarInfo) -> None:
        if m.name == f"{SITE}/alpha/__init__.py":
            m.mode = 0o4755
        elif m.name == f"{SITE}/alpha":
            m.mode = 0o777

    bad = _retar(good, loosen, tmp_path / "bad.tar.gz")
    code, errors, _ = _verify(bad, lock)
    assert code == 1
    assert f"{SITE}/alpha/__init__.py: mode 4755 (setuid), not 0644 or 0755" in errors
    assert f"{SITE}/alpha: mode 0777 (world-writable), not 0755" in errors
    dest = tmp_path / "unpacked"
    assert main(["unpack", str(bad), str(dest)]) == 5
    assert not dest.exists()
    with pytest.raises(IntegrityError, match="mode 4755"):
        unpack_artifact(bad, tmp_path / "lib-unpacked")
    assert tree_state(tmp_path / "lib-unpacked") == {}


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_unpack_makes_exactly_the_artifacts_modes_and_checks_its_manifest(
    umask: int, built: tuple[Path, Path], tmp_path: Path
) -> None:
    lock, out = built
    artifact = _pack(out, tmp_path / "a.tar.gz")
    dest = tmp_path / "myenv"
    old = os.umask(umask)
    try:
        assert main(["unpack", str(artifact), str(dest)]) == 0
    finally:
        os.umask(old)
    assert tree_state(dest) == tree_state(out)
    for path in [dest, *dest.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        want = (os.stat(out / path.relative_to(dest)).st_mode & 0o777) if path != dest else 0o755
        assert mode == want, (path, oct(mode))
    assert _verify(dest, lock)[0] == 0


def test_unpack_refuses_an_artifact_that_differs_from_its_manifest(
    built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = built
    (out / SITE / "alpha" / "__init__.py").write_text("EVIL = 1\n")
    artifact = tmp_path / "a.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        for path in sorted(out.rglob("*")):
            tar.add(path, arcname=path.relative_to(out).as_posix(), recursive=False)
    dest = tmp_path / "myenv"
    assert main(["unpack", str(artifact), str(dest)]) == 5
    assert "alpha/__init__.py: content differs from the manifest" in capsys.readouterr().err
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".myenv")] == []


@pytest.mark.py37
def test_tampered_byte_code_is_caught_by_compiling_again(
    house: House, tmp_path: Path, python37: str
) -> None:
    """--compile-with byte-code runs unchecked at import: verify compiles the (checked)
    sources again with the target's interpreter and compares every .pyc."""
    build = tmp_path / "build"
    wheels = [house.add(make_wheel(build, "alpha", "1.0", files={"alpha/__init__.py": "X = 1\n"}))]
    lock = house.write_lock(lock_of(wheels), "pylock.compiled.toml")
    out = tmp_path / "compiled"
    argv = ["install", str(lock), "--wheelhouse", str(house.root), "--target", str(out)]
    assert main([*argv, "--compile-with", python37]) == 0
    wheelhouse = ("--wheelhouse", str(house.root))
    code, errors, warnings = _verify(out, lock, *wheelhouse, "--python", python37)
    assert code == 0 and errors == [], errors
    assert not any("byte-code" in w for w in warnings)
    (pyc,) = (out / SITE / "alpha" / "__pycache__").glob("*.pyc")
    data = bytearray(pyc.read_bytes())
    data[-2] ^= 0x01  # a constant of the code object
    pyc.write_bytes(bytes(data))
    _reseal(out, "alpha-1.0.dist-info")
    assert _verify(out, lock)[0] == 0  # the manifest agrees: nothing else can tell
    rel = pyc.relative_to(out).as_posix()
    code, errors, _ = _verify(out, lock, *wheelhouse, "--python", python37)
    assert code == 1 and f"{rel}: byte-code differs from its source compiled again" in errors
    code, _, warnings = _verify(out, lock, *wheelhouse)
    assert any("1 byte-code files not compared" in w for w in warnings), warnings


def test_a_broken_manifest_in_a_tar_is_named_by_the_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "deep.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        for name, data in ((MANIFEST_NAME, b"[" * 200_000), (f"{SITE}/x.py", b"x")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    assert main(["unpack", str(artifact), str(tmp_path / "out")]) == 5
    err = capsys.readouterr().err
    assert f"{artifact}: {MANIFEST_NAME} is not valid JSON" in err and "unpack-" not in err
    lock = tmp_path / "pylock.toml"
    lock.write_text(render_pylock(lock_of([])))
    assert main(["verify", str(artifact), "--lock", str(lock)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{artifact}: {MANIFEST_NAME} is not valid JSON" in err and "wheelhouse-verify-" not in err
    )

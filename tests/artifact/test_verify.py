"""`wheelhouse verify`: tampering, missing and marker-only dependencies, imports under 3.7."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.helpers import PLATFORM, House, lock_of
from tests.wheelfactory import make_wheel
from wheelhouse.cli import main
from wheelhouse.model.profile import InstalledDist, bare_profile

SITE = "lib/python3.7/site-packages"


def _install(house: House, wheels: list[Path], out: Path, python: str = "3.7.16") -> Path:
    lock = house.write_lock(lock_of(wheels, python=python), f"pylock.{out.name}.toml")
    argv = ["install", str(lock), "--wheelhouse", str(house.root), "--target", str(out)]
    assert main(argv) == 0
    return lock


def _verify(out: Path, lock: Path, *extra: str) -> tuple[int, dict[str, object]]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["verify", str(out), "--lock", str(lock), "--json", *extra])
    return code, json.loads(buf.getvalue())


def _errors(report: dict[str, object]) -> list[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return [f"{f['subject']}: {f['message']}" for f in findings if f["severity"] == "error"]


@pytest.fixture
def built(house: House, tmp_path: Path) -> tuple[Path, Path]:
    build = tmp_path / "build"
    wheels = [
        house.add(make_wheel(build, "alpha", "1.0", ["beta>=2", "Beta[fast]"], extras=())),
        house.add(make_wheel(build, "beta", "2.0", ["zipp; extra == 'slow'"], extras=["fast"])),
    ]
    out = tmp_path / "out"
    return _install(house, wheels, out), out


def test_a_sound_tree_passes_with_a_readable_report(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lock, out = built
    assert main(["verify", str(out), "--lock", str(lock)]) == 0
    text = capsys.readouterr().out
    assert "2 distributions" in text and text.rstrip().endswith(
        "OK: the artifact fits the lock and the target"
    )
    code, report = _verify(out, lock)
    assert code == 0 and report["ok"] is True and _errors(report) == []


def test_catches_a_deleted_and_an_edited_file(built: tuple[Path, Path]) -> None:
    lock, out = built
    (out / SITE / "alpha" / "__init__.py").unlink()
    (out / SITE / "beta" / "__init__.py").write_text("__version__ = 'evil'\n")
    (out / SITE / "gamma.py").write_text("")
    code, report = _verify(out, lock)
    assert code == 1 and report["ok"] is False
    errors = "\n".join(_errors(report))
    assert f"{SITE}/alpha/__init__.py: missing (recorded by alpha 1.0)" in errors
    assert f"{SITE}/beta/__init__.py: differs from beta 2.0's RECORD" in errors
    assert f"{SITE}/beta/__init__.py: content differs from the manifest" in errors
    assert f"{SITE}/gamma.py: not recorded by any distribution" in errors


def test_catches_a_missing_dependency(house: House, tmp_path: Path) -> None:
    wheel = house.add(make_wheel(tmp_path / "b", "alpha", "1.0", ["requests>=2"]))
    out = tmp_path / "out"
    lock = _install(house, [wheel], out)
    code, report = _verify(out, lock)
    assert code == 1
    assert _errors(report) == ["alpha 1.0 (artifact): requires requests>=2, which is not installed"]


def test_marker_only_dependency_counts_for_a_37_target_only(house: House, tmp_path: Path) -> None:
    wheel = house.add(
        make_wheel(tmp_path / "b", "alpha", "1.0", ['zipp>=0.5; python_version < "3.8"'])
    )
    out37 = tmp_path / "out37"
    lock37 = _install(house, [wheel], out37, python="3.7.16")
    code, report = _verify(out37, lock37)
    assert code == 1
    assert any("requires zipp>=0.5" in e for e in _errors(report))

    out311 = tmp_path / "out311"
    lock311 = _install(house, [wheel], out311, python="3.11.7")
    code, report = _verify(out311, lock311)
    assert code == 0, _errors(report)


def test_extras_are_followed(house: House, tmp_path: Path) -> None:
    build = tmp_path / "b"
    wheels = [
        house.add(make_wheel(build, "alpha", "1.0", ["beta[fast]"])),
        house.add(
            make_wheel(build, "beta", "2.0", ['cython-speedups; extra == "fast"'], extras=["fast"])
        ),
    ]
    out = tmp_path / "out"
    code, report = _verify(out, _install(house, wheels, out))
    assert code == 1
    assert any(
        "beta 2.0 (artifact): with extra [fast] requires cython-speedups" in e
        for e in _errors(report)
    )


def test_image_packages_count_and_overrides_are_listed(house: House, tmp_path: Path) -> None:
    build = tmp_path / "b"
    wheels = [
        house.add(make_wheel(build, "alpha", "1.0", ["numpy>=1.16", "flask"])),
        house.add(make_wheel(build, "numpy", "1.21.6")),
    ]
    out = tmp_path / "out"
    lock = _install(house, wheels, out)
    image = bare_profile("3.7.16", PLATFORM).with_installed(
        [
            InstalledDist(name="numpy", version="1.19.5", requires_dist=()),  # type: ignore[arg-type]
            InstalledDist(name="flask", version="1.0.3", requires_dist=("Werkzeug<2",)),  # type: ignore[arg-type]
            InstalledDist(name="werkzeug", version="1.0.1", requires_dist=()),  # type: ignore[arg-type]
            InstalledDist(name="pandas", version="1.1.5", requires_dist=("numpy<1.20",)),  # type: ignore[arg-type]
        ]
    )
    profile = tmp_path / "image.json"
    profile.write_text(image.to_json())
    code, report = _verify(out, lock, "--image", str(profile))
    assert code == 1
    # the artifact's numpy shadows the image's and breaks the image's own pandas
    assert _errors(report) == ["pandas 1.1.5 (image): requires numpy<1.20, but 1.21.6 is installed"]
    findings = report["findings"]
    assert isinstance(findings, list)
    overrides = [f["subject"] + " " + f["message"] for f in findings if f["check"] == "overrides"]
    assert overrides == ["numpy 1.21.6 shadows the image's 1.19.5"]


def test_catches_a_distribution_the_lock_does_not_have(house: House, tmp_path: Path) -> None:
    build = tmp_path / "b"
    a, b = house.add(make_wheel(build, "alpha", "1.0")), house.add(make_wheel(build, "beta", "1"))
    out = tmp_path / "out"
    _install(house, [a, b], out)
    code, report = _verify(out, house.write_lock(lock_of([a]), "pylock.only-a.toml"))
    assert code == 1
    assert "beta 1: installed but not in the lock" in _errors(report)


def test_a_packed_artifact_verifies_and_a_tampered_one_fails(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    lock, out = built
    artifact = tmp_path / "a.tar.gz"
    assert main(["pack", str(out), "-o", str(artifact)]) == 0
    code, report = _verify(artifact, lock)
    assert code == 0, _errors(report)

    unpacked = tmp_path / "unpacked"
    with tarfile.open(artifact) as tar:
        tar.extractall(unpacked, filter="data")
    (unpacked / SITE / "alpha" / "__init__.py").write_text("import os\n")
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        tar.add(unpacked, arcname=".")
    code, report = _verify(tampered, lock)
    assert code == 1
    assert any("alpha/__init__.py" in e for e in _errors(report))


@pytest.mark.py37
def test_imports_every_top_level_module_under_python37(
    house: House, tmp_path: Path, python37: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "b"
    wheels = [
        house.add(make_wheel(build, "alpha", "1.0", files={"alpha/__init__.py": "import beta\n"})),
        house.add(make_wheel(build, "beta", "2.0", files={"beta.py": "import sys\nB = 2\n"})),
        house.add(
            make_wheel(
                build,
                "broken",
                "0.1",
                files={"broken/__init__.py": "import does_not_exist_anywhere\n"},
            )
        ),
    ]
    out = tmp_path / "out"
    lock = _install(house, wheels, out)
    assert main(["verify", str(out), "--lock", str(lock), "--python", python37]) == 1
    text = capsys.readouterr().out
    assert "[imports] broken: import failed" in text
    assert "No module named 'does_not_exist_anywhere'" in text
    assert "2/3 top-level modules imported under Python 3.7" in text
    assert not list(out.rglob("__pycache__"))  # checking never writes byte-code

    shutil.rmtree(out / SITE / "broken")
    shutil.rmtree(out / SITE / "broken-0.1.dist-info")
    _code, report = _verify(out, lock, "--python", python37)
    errors = _errors(report)
    assert all("broken" in e or "manifest" in e for e in errors), errors


def test_an_image_of_another_python_is_an_error(built: tuple[Path, Path], tmp_path: Path) -> None:
    lock, out = built
    profile = tmp_path / "py38.json"
    profile.write_text(bare_profile("3.8.18", PLATFORM).to_json())
    code, report = _verify(out, lock, "--image", str(profile))
    assert code == 1
    assert any("the image runs Python 3.8.18" in e for e in _errors(report))


def test_catches_wheel_tags_that_do_not_fit(house: House, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "b",
        "gamma",
        "1.0",
        extra_entries={
            "gamma-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
            b"Tag: cp39-cp39-win_amd64\n"
        },
    )
    out = tmp_path / "out"
    lock = _install(house, [house.add(wheel)], out)
    # the file name (py3-none-any) decides, as it does for pip and uv: reported, not failed
    code, report = _verify(out, lock)
    assert code == 0, _errors(report)
    assert any(
        "Tag lines (cp39-cp39-win_amd64) do not" in str(f["message"]) for f in report["findings"]
    )  # type: ignore[union-attr]
    # without the manifest's file name, the Tag lines are all there is: they must fit
    (out / ".wheelhouse-manifest.json").unlink()
    code, report = _verify(out, lock)
    assert code == 1
    assert "gamma 1.0: built for cp39-cp39-win_amd64: none fits the target" in _errors(report)


def test_tags_judged_by_the_wheel_file_name_as_installers_do(house: House, tmp_path: Path) -> None:
    """xgboost publishes py3-none-manylinux wheels whose WHEEL still says cp39: installers
    go by the file name, and so must verify."""
    built = make_wheel(tmp_path / "b", "xgb", "1.6.2", tag="cp39-cp39-manylinux2014_x86_64")
    renamed = built.with_name("xgb-1.6.2-py3-none-manylinux2014_x86_64.whl")
    built.rename(renamed)
    lock = _install(house, [house.add(renamed)], tmp_path / "out")
    code, report = _verify(tmp_path / "out", lock)
    assert code == 0, _errors(report)
    findings = report["findings"]
    assert isinstance(findings, list)
    assert any(f["check"] == "tags" and f["severity"] == "info" for f in findings)


def test_imports_with_relative_folder(
    built: tuple[Path, Path], python37: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, out = built
    monkeypatch.chdir(out.parent)
    code, report = _verify(Path(out.name), lock, "--python", python37)
    assert code == 0, _errors(report)


def test_a_consistent_tamper_is_caught_against_the_wheelhouse(
    built: tuple[Path, Path], house: House
) -> None:
    """Someone edits a module and rewrites its RECORD row and the manifest to match: only
    the locked wheel itself can tell."""
    import base64
    import csv
    import hashlib
    import io

    lock, out = built
    code, report = _verify(out, lock, "--wheelhouse", str(house.root))
    assert code == 0, _errors(report)  # an untouched tree matches its wheels
    target = out / SITE / "alpha" / "__init__.py"
    data = b"import os; os.system('echo owned')\n"
    target.write_bytes(data)
    digest = hashlib.sha256(data).digest()
    record = out / SITE / "alpha-1.0.dist-info" / "RECORD"
    rows = list(csv.reader(record.read_text().splitlines()))
    for row in rows:
        if row[0] == "alpha/__init__.py":
            row[1] = "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            row[2] = str(len(data))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    record.write_text(buf.getvalue())
    manifest_path = out / ".wheelhouse-manifest.json"
    manifest = json.loads(manifest_path.read_text())
    rec_bytes = record.read_bytes()
    for f in manifest["files"]:
        if f["path"] == f"{SITE}/alpha/__init__.py":
            f.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        if f["path"] == f"{SITE}/alpha-1.0.dist-info/RECORD":
            f.update(sha256=hashlib.sha256(rec_bytes).hexdigest(), size=len(rec_bytes))
    manifest_path.write_text(json.dumps(manifest))

    code, report = _verify(out, lock)
    assert code == 0  # RECORD and manifest agree with the tree: nothing else to compare with
    code, report = _verify(out, lock, "--wheelhouse", str(house.root))
    assert code == 1
    assert "alpha 1.0: alpha/__init__.py: differs from the locked wheel" in " ".join(
        _errors(report)
    )


def test_an_image_older_than_a_package_needs_is_named(house: House, tmp_path: Path) -> None:
    """A lock for the newest 3.7 may need a later patch release than the image runs."""
    build = tmp_path / "b"
    wheels = [
        house.add(make_wheel(build, "pandaslike", "1.3.5", requires_python=">=3.7.1")),
        house.add(make_wheel(build, "plain", "1.0", requires_python=">=3.6")),
    ]
    out = tmp_path / "out"
    lock = _install(house, wheels, out, python="3.7.17")
    for python, expected in (("3.7.16", []), ("3.7.17", [])):
        (tmp_path / "image.json").write_text(bare_profile(python, PLATFORM).to_json())
        code, report = _verify(out, lock, "--image", str(tmp_path / "image.json"))
        assert (code, _errors(report)) == (0, expected)
    (tmp_path / "old.json").write_text(bare_profile("3.7.0", PLATFORM).to_json())
    code, report = _verify(out, lock, "--image", str(tmp_path / "old.json"))
    assert code == 1
    assert _errors(report) == [
        "cp37-manylinux_2_27_x86_64: runs Python 3.7.0, which the artifact does not fit "
        "(it needs 3.7.1 and every later 3.7 release: >=3.7.1,<3.8): "
        "pandaslike 1.3.5 requires Python >=3.7.1"
    ]

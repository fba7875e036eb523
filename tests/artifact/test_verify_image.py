"""verify proves the image still works: an artifact that shadows what an image package
imports is caught with the real Python 3.7; relative folders, compressed WHEEL tag sets and
active extras are judged as the target would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.helpers import House, lock_of
from tests.wheelfactory import make_wheel
from wheelhouse.artifact.deps import DistRequires, check_requirements
from wheelhouse.cli import main
from wheelhouse.model.profile import InstalledDist, bare_profile

SITE = "lib/python3.7/site-packages"


def _install(house: House, wheels: list[Path], out: Path) -> Path:
    lock = house.write_lock(lock_of(wheels), f"pylock.{out.name}.toml")
    argv = ["install", str(lock), "--wheelhouse", str(house.root), "--target", str(out)]
    assert main(argv) == 0
    return lock


def _verify(out: Path, lock: Path, *extra: str) -> tuple[int, list[dict[str, str]]]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["verify", str(out), "--lock", str(lock), "--json", *extra])
    return code, json.loads(buf.getvalue())["findings"]


def _stand_in(python37: str, tmp_path: Path, wheels: list[Path]) -> Path:
    """A venv of the real 3.7 holding `wheels`: the image's stand-in."""
    venv = tmp_path / "image-env"
    subprocess.run([python37, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / SITE
    for wheel in wheels:  # a plain unzip is an install for these pure wheels
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
    return venv / "bin" / "python"


@pytest.mark.py37
def test_a_shadowing_that_breaks_an_image_package_is_caught(
    tmp_path: Path, house: House, python37: str
) -> None:
    image = tmp_path / "image-wheels"
    old_api = "def old_function():\n    return 1\n\ndef kept():\n    return 2\n"
    python = _stand_in(
        python37,
        tmp_path,
        [
            make_wheel(image, "shadowlib", "1.0", files={"shadowlib/__init__.py": old_api}),
            make_wheel(
                image,
                "imgpkg",
                "1.0",
                ["shadowlib>=1.0"],
                files={"imgpkg/__init__.py": "from shadowlib import old_function\n"},
            ),
            make_wheel(  # depends on the broken one: named with the chain
                image,
                "imgtop",
                "1.0",
                ["imgpkg"],
                files={"imgtop/__init__.py": "import imgpkg\n"},
            ),
            make_wheel(  # depends on nothing shadowed: not imported
                image, "bystander", "1.0", files={"bystander/__init__.py": "raise SystemExit(3)\n"}
            ),
        ],
    )
    new = make_wheel(
        tmp_path / "b",
        "shadowlib",
        "2.0",
        files={"shadowlib/__init__.py": "def kept():\n    return 2\n"},
    )
    out = tmp_path / "out"
    lock = _install(house, [house.add(new)], out)
    code, findings = _verify(out, lock, "--python", str(python))
    assert code == 1
    errors = {f["subject"]: f for f in findings if f["severity"] == "error"}
    assert set(errors) == {"imgpkg 1.0 (image)", "imgtop 1.0 (image)"}
    broken = errors["imgpkg 1.0 (image)"]
    assert broken["message"] == (
        "import imgpkg failed with the artifact's shadowlib 2.0 in place of the image's 1.0"
    )
    assert "cannot import name 'old_function'" in broken["detail"]
    assert errors["imgtop 1.0 (image)"]["message"].endswith("1.0 (through imgpkg)")
    summary = [
        f["message"] for f in findings if f["check"] == "imports" and f["severity"] == "info"
    ]
    assert "0/2 of the 2 image package(s) that depend on what it shadows" in summary[0]

    # an artifact that keeps the API passes, image packages included
    fixed = make_wheel(tmp_path / "c", "shadowlib", "2.1", files={"shadowlib/__init__.py": old_api})
    lock = _install(house, [house.add(fixed)], tmp_path / "out2")
    code, findings = _verify(tmp_path / "out2", lock, "--python", str(python))
    assert code == 0, [f for f in findings if f["severity"] == "error"]


@pytest.mark.py37
def test_a_relative_folder_gives_no_false_warning(
    tmp_path: Path, house: House, python37: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = house.add(make_wheel(tmp_path / "b", "alpha", "1.0"))
    lock = _install(house, [wheel], tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    code, findings = _verify(Path("out"), lock, "--python", python37)
    assert code == 0
    assert not [f for f in findings if f["severity"] == "warning"], findings


def test_compressed_tag_sets_in_wheel_are_expanded(tmp_path: Path, house: House) -> None:
    tag = "cp37-cp37m-manylinux_2_17_x86_64.manylinux2014_x86_64"
    wheel = make_wheel(tmp_path / "b", "native", "1.0", tag=tag)
    _rewrite_wheel_tags(wheel, tag)  # one compressed Tag line, as auditwheel writes it
    lock = _install(house, [house.add(wheel)], tmp_path / "out")
    os.remove(tmp_path / "out" / ".wheelhouse-manifest.json")  # judge WHEEL alone
    _code, findings = _verify(tmp_path / "out", lock)
    assert not [f for f in findings if f["check"] == "tags"], findings


def _rewrite_wheel_tags(wheel: Path, tag: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    text = f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n"
    import base64
    import hashlib

    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
    with zipfile.ZipFile(wheel, "w") as zf:
        for info, data in items:
            if info.filename.endswith("/WHEEL"):
                data = text.encode()
            elif info.filename.endswith("/RECORD"):
                rows = [
                    f"{r.split(',')[0]},sha256={digest.decode()},{len(text)}"
                    if r.split(",")[0].endswith("/WHEEL")
                    else r
                    for r in data.decode().splitlines()
                ]
                data = ("\n".join(rows) + "\n").encode()
            zf.writestr(info, data)


def test_an_active_extra_the_artifact_breaks_is_an_error(tmp_path: Path, house: House) -> None:
    # the image has b 1.0; the artifact adds pkg-a 2.0 whose extra [b] needs b>=2
    wheel = make_wheel(tmp_path / "b", "pkg-a", "2.0", ['b>=2; extra == "b"'], extras=["b"])
    lock = _install(house, [house.add(wheel)], tmp_path / "out")
    profile = tmp_path / "image.json"
    image = bare_profile("3.7.16", "manylinux_2_27_x86_64").with_installed(
        [InstalledDist("b", "1.0", (), None)]  # type: ignore[arg-type]
    )
    profile.write_text(image.to_json())
    code, findings = _verify(tmp_path / "out", lock, "--image", str(profile))
    errors = [f"{f['subject']}: {f['message']}" for f in findings if f["severity"] == "error"]
    assert code == 1
    unmet = 'with active extra [b] requires b>=2; extra == "b", but 1.0 is installed'
    assert errors == [f"pkg-a 2.0 (artifact): {unmet}"]
    code, _ = _verify(tmp_path / "out", lock, "--image", str(profile), "--ignore-active-extras")
    assert code == 0


def test_an_extra_asking_for_an_absent_integration_is_not_checked() -> None:
    # boto3[crt] asks botocore[crt], which needs awscrt: absent, so neither extra is active
    boto = ('botocore[crt]; extra == "crt"',)
    dists = [
        DistRequires(canonicalize_name("boto"), "1.0", boto, "artifact"),
        DistRequires(canonicalize_name("botocore"), "1.0", ('awscrt; extra == "crt"',), "artifact"),
    ]
    assert check_requirements(dists, bare_profile("3.7.16", "manylinux2014_x86_64")) == []

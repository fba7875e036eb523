"""`wheelhouse sbom`: CycloneDX 1.6 of a lock or an artifact, checked by the library's own
JSON schema validator."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.helpers import House, lock_of
from tests.wheelfactory import make_wheel
from wheelhouse.cli import main
from wheelhouse.model.lock import Lock, Pin
from wheelhouse.model.profile import InstalledDist, bare_profile


def _valid(text: str) -> dict[str, Any]:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    doc: dict[str, Any] = json.loads(text)
    assert doc["specVersion"] == "1.6"
    return doc


@pytest.fixture
def locked(house: House, tmp_path: Path) -> tuple[Path, Lock]:
    """alpha (asked for) requires beta; gamma overrides the image's gamma 1.0; numpy is
    the image's and requires nothing here."""
    build = tmp_path / "build"
    alpha = make_wheel(
        build,
        "alpha",
        "1.0",
        ["beta>=1"],
        headers={"License": "MIT", "Author-email": "Ann Author <ann@example.org>"},
    )
    beta = make_wheel(build, "beta", "2.0", headers={"License-Expression": "Apache-2.0 OR MIT"})
    gamma = make_wheel(
        build,
        "gamma",
        "2.0",
        headers={"Classifier": "License :: OSI Approved :: BSD License", "Maintainer": "G Co"},
    )
    wheels = [house.add(w) for w in (alpha, beta, gamma)]
    with zipfile.ZipFile(beta) as zf:  # a PEP 658 file beside one wheel, as sync writes it
        (house.files / f"{beta.name}.metadata").write_bytes(zf.read("beta-2.0.dist-info/METADATA"))
    base = lock_of(wheels)
    via = {"alpha": ("-r requirements.in",), "beta": ("alpha",), "gamma": ("command line",)}
    pins = [dataclasses.replace(p, via=via[p.name]) for p in base.pins]
    pins[2] = dataclasses.replace(pins[2], source="override", image_version="1.0")
    pins.append(Pin(name="numpy", version="1.21.6", source="image", via=("gamma",)))  # type: ignore[arg-type]
    lock = dataclasses.replace(base, pins=tuple(pins))
    return house.write_lock(lock), lock


def test_lock_sbom_validates_and_says_what_ships(
    locked: tuple[Path, Lock], house: House, tmp_path: Path
) -> None:
    lock_path, _ = locked
    out = tmp_path / "sbom.json"
    assert main(["sbom", str(lock_path), "--wheelhouse", str(house.root), "-o", str(out)]) == 0
    doc = _valid(out.read_text())
    comps = {c["name"]: c for c in doc["components"] if c["bom-ref"] != "image"}
    assert sorted(comps) == ["alpha", "beta", "gamma"]
    alpha = comps["alpha"]
    digest = hashlib.sha256((house.files / "alpha-1.0-py3-none-any.whl").read_bytes())
    assert alpha["hashes"] == [{"alg": "SHA-256", "content": digest.hexdigest()}]
    assert alpha["purl"] == "pkg:pypi/alpha@1.0?file_name=alpha-1.0-py3-none-any.whl"
    assert alpha["licenses"] == [{"license": {"id": "MIT"}}]
    assert alpha["supplier"]["name"] == "Ann Author"
    assert alpha["supplier"]["contact"][0]["email"] == "ann@example.org"
    assert comps["beta"]["licenses"] == [{"expression": "Apache-2.0 OR MIT"}]
    assert comps["gamma"]["licenses"] == [{"license": {"name": "BSD License"}}]
    assert comps["gamma"]["supplier"]["name"] == "G Co"
    props = {p["name"]: p["value"] for p in comps["gamma"]["properties"]}
    assert props == {"wheelhouse:source": "override"}
    # the image's packages: one group, nested, not shipped
    image = next(c for c in doc["components"] if c["bom-ref"] == "image")
    assert image["type"] == "container"
    assert [(c["name"], c["version"], c["scope"]) for c in image["components"]] == [
        ("numpy", "1.21.6", "excluded")
    ]
    # the graph from the lock's via
    deps = {d["ref"]: sorted(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert deps["subject"] == ["artifact:alpha@1.0", "artifact:gamma@2.0"]
    assert deps["artifact:alpha@1.0"] == ["artifact:beta@2.0"]
    assert deps["artifact:gamma@2.0"] == ["image:numpy@1.21.6"]
    # the target as metadata
    meta = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert meta["wheelhouse:target:python-version"] == "3.7.16"
    assert meta["wheelhouse:target:abi"] == "cp37m"
    assert doc["metadata"]["component"]["name"] == lock_path.name


def test_same_inputs_same_bytes_with_source_date_epoch(
    locked: tuple[Path, Lock], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lock_path, _ = locked
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    assert main(["sbom", str(lock_path)]) == 0
    first = capsys.readouterr().out
    assert main(["sbom", str(lock_path)]) == 0
    assert capsys.readouterr().out == first
    doc = _valid(first)
    assert doc["metadata"]["timestamp"].startswith("2020-09-13T12:26:40")
    # without a wheelhouse there is no metadata to read: no licenses, still valid
    assert all("licenses" not in c for c in doc["components"])


def test_whole_installed_set_of_a_profile(
    locked: tuple[Path, Lock], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock_path, _ = locked
    profile = bare_profile("3.7").with_installed(
        [InstalledDist("numpy", "1.21.6", ()), InstalledDist("gamma", "1.0", ())]  # type: ignore[arg-type]
    )
    path = tmp_path / "image.json"
    path.write_text(profile.to_json())
    assert main(["sbom", str(lock_path), "--image", str(path)]) == 0
    doc = _valid(capsys.readouterr().out)
    image = next(c for c in doc["components"] if c["bom-ref"] == "image")
    assert sorted(c["name"] for c in image["components"]) == ["gamma", "numpy"]


def test_artifact_sbom(locked: tuple[Path, Lock], house: House, tmp_path: Path) -> None:
    lock_path, lock = locked
    out, packed, sbom = tmp_path / "out", tmp_path / "env.tar.gz", tmp_path / "a.json"
    argv = ["install", str(lock_path), "--wheelhouse", str(house.root), "--target", str(out)]
    assert main(argv) == 0
    assert main(["pack", str(out), "-o", str(packed)]) == 0
    assert main(["sbom", "--artifact", str(packed), "-o", str(sbom)]) == 0
    doc = _valid(sbom.read_text())
    comps = {c["name"]: c for c in doc["components"]}
    assert sorted(comps) == ["alpha", "beta", "gamma"]
    want = {p.name: p.files[0].sha256 for p in lock.to_install()}
    assert {n: c["hashes"][0]["content"] for n, c in comps.items()} == want
    assert comps["alpha"]["licenses"] == [{"license": {"id": "MIT"}}]
    deps = {d["ref"]: sorted(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert deps["artifact:alpha@1.0"] == ["artifact:beta@2.0"]
    assert deps["subject"] == ["artifact:alpha@1.0", "artifact:gamma@2.0"]
    assert doc["metadata"]["component"]["name"] == "env.tar.gz"


@pytest.mark.parametrize(
    "argv",
    [["sbom"], ["sbom", "x.lock", "--artifact", "y.tar.gz"], ["sbom", "missing.lock"]],
)
def test_bad_arguments_exit_2(argv: list[str], tmp_path: Path) -> None:
    assert main([a if a == "sbom" or a.startswith("-") else str(tmp_path / a) for a in argv]) == 2


def test_a_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    assert main(["sbom", "--artifact", str(tmp_path / "tree")]) == 2


def test_an_sdist_pin_says_what_is_built_from_it(tmp_path: Path) -> None:
    from wheelhouse.artifact.sbom import lock_subject, render_sbom
    from wheelhouse.model.lock import LockedFile

    sdist = LockedFile("tiny-1.0.tar.gz", {"sha256": "a" * 64})
    wheel = LockedFile("tiny-1.0-py3-none-any.whl", {"sha256": "b" * 64})
    pin = Pin("tiny", "1.0", files=(sdist,), built_wheel=wheel)  # type: ignore[arg-type]
    lock = dataclasses.replace(lock_of([]), pins=(pin,))
    doc = _valid(render_sbom(lock_subject(lock, "x.lock")))
    (tiny,) = doc["components"]
    assert tiny["purl"] == "pkg:pypi/tiny@1.0?file_name=tiny-1.0.tar.gz"
    assert tiny["hashes"][0]["content"] == "a" * 64
    props = {p["name"]: p["value"] for p in tiny["properties"]}
    assert props["wheelhouse:built"] == (
        f"tiny-1.0-py3-none-any.whl sha256:{'b' * 64}, built by sync --build-with from this sdist"
    )

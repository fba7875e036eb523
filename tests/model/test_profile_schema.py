"""Profile files checked against their format: every problem named by file and field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from wheelhouse.cli import main
from wheelhouse.errors import UsageError
from wheelhouse.model.profile import DEFAULT_PROFILE, Profile, bare_profile, load_profile


def good() -> dict[str, Any]:
    profile = bare_profile("3.7.16", "manylinux2014_x86_64").with_installed([])
    return profile.to_dict()


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(good())
    data["installed"] = [{"name": "numpy", "version": "1.21.6", "requires_dist": []}]
    change(data)
    return data


CASES = [
    (lambda d: d.pop("version"), "no 'version' field"),
    (lambda d: d.update(version=2), "format version 2 is not one this wheelhouse reads"),
    (lambda d: d.update(version=True), "format version True"),
    (lambda d: d.pop("name"), "name: missing (required)"),
    (lambda d: d.update(name=""), "name: must not be empty"),
    (lambda d: d.update(python_version="three"), "python_version: 'three' is not a Python"),
    (lambda d: d.update(python_version=3.7), "python_version: expected a string, got a number"),
    (lambda d: d.update(abis="cp37m"), "abis: expected a list, got a string"),
    (lambda d: d.update(platforms=[]), "platforms: must not be empty"),
    (lambda d: d["tags"].insert(3, None), "tags[3]: expected a string, got null"),
    (lambda d: d["tags"].insert(0, "cp37"), "tags[0]: 'cp37' is not a wheel tag"),
    (lambda d: d["markers"].pop("sys_platform"), "markers.sys_platform: missing"),
    (lambda d: d.update(markers=["linux"]), "markers: expected a table, got a list"),
    (lambda d: d["installed"].append([]), "installed[1]: expected a table, got a list"),
    (lambda d: d["installed"][0].pop("version"), "installed[0].version: missing"),
    (lambda d: d["installed"][0].update(version=["1"]), "installed[0].version: expected a"),
    (lambda d: d["installed"][0].update(requires_dist="x"), "installed[0].requires_dist: exp"),
    (lambda d: d.update(installed={"numpy": "1"}), "installed: expected a list, got a table"),
    (lambda d: d.update(extra=[]), "extra: expected a table, got a list"),
    (lambda d: d.update(extra={"files": [{"name": "x"}]}), "extra.files[0].version: missing"),
    (lambda d: d.update(python_versoin="3.7"), "python_versoin: unknown field (known: "),
    (lambda d: d.update(installed_requirements_known="yes"), "expected true or false"),
]


@pytest.mark.parametrize(("change", "says"), CASES)
def test_each_problem_named_by_field(change: Any, says: str) -> None:
    with pytest.raises(UsageError) as exc:
        Profile.from_dict(broken(change), "image.json")
    assert str(exc.value).startswith("profile image.json: ")
    assert says in str(exc.value)


def test_every_problem_at_once() -> None:
    data = broken(lambda d: (d.pop("name"), d.update(abis=1), d["installed"][0].pop("name")))
    with pytest.raises(UsageError) as exc:
        Profile.from_dict(data, "x.json")
    text = str(exc.value)
    assert "3 problems" in text
    assert "name: missing" in text and "abis: expected a list" in text
    assert "installed[0].name: missing" in text


def test_the_earlier_format_field_is_still_read() -> None:
    data = good()
    data["format"] = data.pop("version")
    assert Profile.from_dict(data) == Profile.from_dict(good())


def test_the_builtin_profile_passes() -> None:
    assert load_profile(DEFAULT_PROFILE).name == DEFAULT_PROFILE


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[1, 2]", "expected a JSON object (a table), got a list"),
        (b"{", "is not valid JSON: Expecting property name"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b"{}", "no 'version' field"),
        (b'{"version": 1}', "7 problems"),
    ],
)
def test_bad_files_through_the_cli(
    tmp_path: Path, content: bytes, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "image.json"
    path.write_bytes(content)
    assert main(["lock", "six", "--image", str(path), "-o", str(tmp_path / "x.lock")]) == 2
    err = capsys.readouterr().err
    assert f"profile {path}" in err and says in err
    assert "Traceback" not in err and "object has no attribute" not in err


def test_a_written_profile_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert main(["snapshot", "--python-version", "3.8", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["version"] == 1
    assert load_profile(out).python_version == "3.8.20"


def test_the_readme_example_is_a_valid_profile() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### The profile format", 1)[1]
    example = section.split("```json\n", 1)[1].split("```", 1)[0]
    profile = Profile.from_dict(json.loads(example), "README.md")
    assert profile.installed[0].name == "numpy"


def test_profiles_command_lists_and_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    assert f"{DEFAULT_PROFILE} (default): Python 3.7.16" in capsys.readouterr().out
    assert main(["profiles", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == DEFAULT_PROFILE
    assert main(["profiles", DEFAULT_PROFILE]) == 0
    assert Profile.from_dict(json.loads(capsys.readouterr().out)).name == DEFAULT_PROFILE
    assert main(["profiles", "nope"]) == 2
    assert "see wheelhouse profiles" in capsys.readouterr().err

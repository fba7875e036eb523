"""The Python releases a lock installs on: the range, its words, and both lock files."""

from __future__ import annotations

import itertools
import sys

import pytest
from packaging.pylock import Pylock
from packaging.specifiers import SpecifierSet

from tests.helpers import TARGET, target_for
from wheelhouse.model.lock import Lock, LockedFile, Pin
from wheelhouse.model.lockfiles import _files_intact
from wheelhouse.model.pylock import parse_pylock, render_pylock
from wheelhouse.model.pyrange import python_range
from wheelhouse.model.requirements_lock import render_requirements

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Requires-Python values as projects publish them, and what they leave of 3.7
CASES = [
    (None, ">=3.7,<3.8", "every 3.7 release"),
    (">=3.6", ">=3.7,<3.8", "every 3.7 release"),
    (">=2.7, !=3.0.*, !=3.1.*, !=3.2.*", ">=3.7,<3.8", "every 3.7 release"),
    (">=3.7.1", ">=3.7.1,<3.8", "3.7.1 and every later 3.7 release"),
    (">=3.7.1,<4", ">=3.7.1,<3.8", "3.7.1 and every later 3.7 release"),
    ("<3.7.5", ">=3.7,<=3.7.4", "3.7.0 to 3.7.4"),
    (">=3.7,!=3.7.3", ">=3.7,!=3.7.3,<3.8", "every 3.7 release except 3.7.3"),
    ("~=3.7.2", ">=3.7.2,<3.8", "3.7.2 and every later 3.7 release"),
    ("not a specifier", ">=3.7,<3.8", "every 3.7 release"),  # ignored, as pip does
]


@pytest.mark.parametrize(("requires_python", "specifier", "words"), CASES)
def test_one_package(requires_python: str | None, specifier: str, words: str) -> None:
    span = python_range("3.7.17", [("pkg", "1.0", requires_python)])
    assert (span.specifier, span.describe()) == (specifier, words)
    assert bool(span.limits) == (specifier != ">=3.7,<3.8")


def test_every_pair_is_exactly_the_intersection() -> None:
    """For each pair of published Requires-Python, the range holds exactly the 3.7 releases
    both accept: no release lost, none let in."""
    valid = [rp for rp, _, _ in CASES if rp and rp != "not a specifier"]
    for a, b in itertools.product(valid, repeat=2):
        span = python_range("3.7.16", [("a", "1", a), ("b", "1", b)])
        for patch in range(18):
            release = f"3.7.{patch}"
            both = SpecifierSet(a).contains(release) and SpecifierSet(b).contains(release)
            if span.releases != (16,) or both:  # (16,) alone: the pair contradicts itself
                assert span.contains(release) == both, (a, b, release, span.specifier)


def test_the_packages_that_narrow_it_are_named() -> None:
    dists = [("pandas", "1.3.5", ">=3.7.1"), ("attrs", "24.2.0", ">=3.7"), ("x", "1", "<3.7.9")]
    span = python_range("3.7.17", dists)
    assert span.specifier == ">=3.7.1,<=3.7.8"
    assert [(x.name, x.requires_python) for x in span.limits] == [
        ("pandas", ">=3.7.1"),
        ("x", "<3.7.9"),
    ]
    assert [x.name for x in span.excluding("3.7.0")] == ["pandas"]
    assert [x.name for x in span.excluding("3.7.16")] == ["x"]
    assert span.excluding("3.7.5") == []


def test_a_minor_still_released_is_open_ended() -> None:
    assert python_range("3.12.99", [("a", "1", ">=3.8")]).specifier == ">=3.12,<3.13"
    assert python_range("3.12.4", [("a", "1", ">=3.12.2")]).specifier == ">=3.12.2,<3.13"


def test_a_contradiction_keeps_the_targets_own_release() -> None:
    span = python_range("3.7.16", [("a", "1", ">=3.7.10"), ("b", "1", "<3.7.5")])
    assert (span.specifier, span.releases) == ("==3.7.16", (16,))
    assert span.describe() == "only 3.7.16"


def _lock(requires_python: dict[str, str | None], python: str = "3.7.16") -> Lock:
    pins = tuple(
        Pin(
            name=name,  # type: ignore[arg-type]
            version="1.0",
            files=(
                LockedFile(
                    f"{name}-1.0-py3-none-any.whl",
                    {"sha256": "ab" * 32},
                    url=f"https://files.example/{name}-1.0-py3-none-any.whl",
                ),
            ),
            requires_python=rp,
        )
        for name, rp in requires_python.items()
    )
    image = Pin(name="numpy", version="1.19.5", source="image", requires_python=">=3.8")  # type: ignore[arg-type]
    return Lock(target=target_for(python), pins=(*pins, image), input_digest="d")


def test_pylock_records_every_interpreter_the_lock_installs_on() -> None:
    lock = _lock({"pandas": ">=3.7.1", "attrs": ">=3.7", "six": None})
    text = render_pylock(lock)
    doc = tomllib.loads(text)
    assert doc["environments"] == [
        'python_version == "3.7" and platform_python_implementation == "CPython" and '
        'sys_platform == "linux" and platform_machine == "x86_64"'
    ]
    # the image's own packages are not installed: their Requires-Python does not count
    assert doc["requires-python"] == ">=3.7.1,<3.8"
    # the exact profile stays under [tool.wheelhouse]
    target = doc["tool"]["wheelhouse"]["target"]
    assert target["python-version"] == "3.7.16"
    assert target["markers"]["python_full_version"] == "3.7.16"
    pylock = Pylock.from_dict(doc)
    pylock.validate()
    assert SpecifierSet(str(pylock.requires_python)).contains("3.7.16")
    assert not SpecifierSet(str(pylock.requires_python)).contains("3.7.0")
    assert render_pylock(parse_pylock(text)) == text  # what "unchanged inputs" relies on


def test_a_bare_target_lock_is_valid_for_the_images_release() -> None:
    """`--python-version 3.7` resolves for 3.7.17; the lock must still take 3.7.16."""
    lock = Lock(target=TARGET, pins=_lock({"a": ">=3.7"}).pins, input_digest="d")
    assert lock.target.python_version == "3.7.17"
    assert SpecifierSet(lock.python_range().specifier).contains("3.7.16")


def test_requirements_header_says_it_in_words() -> None:
    text = render_requirements(_lock({"pandas": ">=3.7.1", "attrs": ">=3.7"}))
    assert (
        "# Valid for: CPython on linux x86_64, 3.7.1 and every later 3.7 release\n"
        "#   (requires-python >=3.7.1,<3.8), narrowed by Requires-Python of pandas 1.0 "
        "(>=3.7.1)\n"
    ) in text
    plain = render_requirements(_lock({"attrs": ">=3.7"}))
    assert "3.7 release\n#   (requires-python >=3.7,<3.8)\n" in plain


def test_both_files_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    lock = _lock({"pandas": ">=3.7.1", "x": "<3.7.9"})
    out, pylock = tmp_path / "requirements.lock", tmp_path / "pylock.toml"  # type: ignore[operator]
    out.write_text(render_requirements(lock))
    pylock.write_text(render_pylock(lock))
    assert _files_intact(out, pylock)

"""The pure parts of the mirror: member names, the target's pip check, top-level modules."""

from __future__ import annotations

import stat

import pytest
from packaging.utils import canonicalize_name

from tests.helpers import PLATFORM
from wheelhouse.artifact.deps import DistRequires, check_requirements
from wheelhouse.artifact.destination import is_link_mode, unsafe_member_reason
from wheelhouse.artifact.imports import top_level_modules
from wheelhouse.model.profile import bare_profile


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("pkg/mod.py", None),
        ("pkg-1.0.data/scripts/tool", None),
        ("pkg/..hidden/x.py", None),
        ("../x.py", "'..' in path"),
        ("pkg/../../x.py", "'..' in path"),
        ("/etc/passwd", "absolute path"),
        ("C:/x.py", "absolute path"),
        ("pkg\\..\\x.py", "backslash in path"),
        ("", "empty or NUL in name"),
        ("pkg/\x00x", "empty or NUL in name"),
    ],
)
def test_unsafe_member_reason(name: str, reason: str | None) -> None:
    assert unsafe_member_reason(name) == reason


@pytest.mark.parametrize(
    ("mode", "link"),
    [
        (0o644, False),
        (stat.S_IFREG | 0o755, False),
        (stat.S_IFDIR | 0o755, False),
        (stat.S_IFLNK | 0o777, True),
        (stat.S_IFCHR | 0o644, True),
        (stat.S_IFIFO | 0o644, True),
    ],
)
def test_is_link_mode(mode: int, link: bool) -> None:
    assert is_link_mode(mode) is link


def _dist(name: str, version: str, *requires: str, origin: str = "artifact") -> DistRequires:
    return DistRequires(canonicalize_name(name), version, tuple(requires), origin)


@pytest.mark.parametrize(
    ("python", "dists", "unmet"),
    [
        ("3.7.16", [_dist("a", "1", "b>=2"), _dist("b", "2.1")], []),
        ("3.7.16", [_dist("a", "1", "b>=2"), _dist("b", "1.9")], ["b>=2, but 1.9"]),
        ("3.7.16", [_dist("a", "1", "B_Thing")], ["B_Thing, which is not"]),
        ("3.7.16", [_dist("a", "1", "zipp; python_version < '3.8'")], ["zipp"]),
        ("3.11.7", [_dist("a", "1", "zipp; python_version < '3.8'")], []),
        ("3.7.16", [_dist("a", "1", "pywin32; sys_platform == 'win32'")], []),
        ("3.7.16", [_dist("a", "1", "b[x]"), _dist("b", "1", "c; extra == 'x'")], ["[x] req"]),
        ("3.7.16", [_dist("a", "1", "b"), _dist("b", "1", "c; extra == 'x'")], []),
        ("3.7.16", [_dist("a", "1", "b>=1.0"), _dist("b", "1.1rc1")], []),
        ("3.7.16", [_dist("a", "1", "not a requirement !")], ["(malformed)"]),
    ],
)
def test_check_requirements(python: str, dists: list[DistRequires], unmet: list[str]) -> None:
    problems = check_requirements(dists, bare_profile(python, PLATFORM))
    assert len(problems) == len(unmet), [p.message for p in problems]
    for problem, fragment in zip(problems, unmet):
        assert fragment in problem.message


def test_unknown_requirements_of_image_packages_are_not_checked() -> None:
    image = DistRequires(canonicalize_name("old"), "1", None, "image")
    assert check_requirements([image], bare_profile("3.7.16", PLATFORM)) == []


def test_top_level_modules_from_record_paths() -> None:
    paths = [
        "pkg/__init__.py",
        "pkg/sub/mod.py",
        "single.py",
        "_native.cpython-37m-x86_64-linux-gnu.so",
        "pkg-1.0.dist-info/METADATA",
        "pkg-1.0.data/scripts/tool",
        "__pycache__/single.cpython-37.pyc",
        "../../../bin/tool",
        "not-a-module.py",
        "README.txt",
    ]
    assert top_level_modules(paths) == ["_native", "pkg", "single"]

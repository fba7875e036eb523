from __future__ import annotations

import pytest
from packaging.markers import Marker

from wheelhouse.errors import UsageError
from wheelhouse.model.profile import Profile, bare_profile, expand_platform, full_python_version


def test_bare_37_is_newest_patch_and_cp37m() -> None:
    p = bare_profile("3.7", "manylinux2014_x86_64")
    assert p.python_version == "3.7.17"
    assert p.abis == ("cp37m",)
    assert p.tags[0] == "cp37-cp37m-manylinux_2_17_x86_64"
    assert "cp37-abi3-manylinux1_x86_64" in p.tags
    assert "py3-none-any" in p.tags
    assert "cp311-cp311-manylinux_2_17_x86_64" not in p.tags
    assert p.accepts_python(">=3.7.1")
    assert not p.accepts_python(">=3.8")
    assert p.evaluate(Marker('python_version < "3.8"'))
    assert "3.7.17" in p.description


def test_full_version_kept() -> None:
    assert full_python_version("3.7.16") == ("3.7.16", False)
    with pytest.raises(UsageError):
        full_python_version("three")


def test_manylinux_expansion_order() -> None:
    plats = expand_platform("manylinux_2_27_x86_64")
    assert plats[0] == "manylinux_2_27_x86_64"
    assert plats.index("manylinux2014_x86_64") == plats.index("manylinux_2_17_x86_64") + 1
    assert plats[-2:] == ["manylinux1_x86_64", "linux_x86_64"]


def test_roundtrip_and_digest() -> None:
    p = bare_profile("3.7.16", "manylinux_2_27_x86_64")
    again = Profile.from_dict(p.to_dict())
    assert again == p
    assert again.digest() == p.digest()


def test_windows_markers() -> None:
    p = bare_profile("3.11", "win_amd64")
    assert p.markers["sys_platform"] == "win32"
    assert p.markers["platform_machine"] == "AMD64"


def test_python2_and_eol_patch_table() -> None:
    with pytest.raises(UsageError, match=r"3\.6 or newer"):
        full_python_version("2.7")
    assert full_python_version("3.8") == ("3.8.20", True)
    assert full_python_version("3.12") == ("3.12.99", True)  # still released: above any real


def test_malformed_profile_names_the_field() -> None:
    data = bare_profile("3.7.16", "manylinux2014_x86_64").to_dict()
    del data["implementation"]
    with pytest.raises(UsageError, match="implementation: missing"):
        Profile.from_dict(data)

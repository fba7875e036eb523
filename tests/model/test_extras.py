"""The active-extras rule on whole environments: names present, nested extras active too."""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from wheelhouse.model.extras import settle
from wheelhouse.model.profile import bare_profile

TARGET = bare_profile("3.7.16", "manylinux2014_x86_64")


def env(**dists: list[str]) -> dict:  # type: ignore[type-arg]
    return {canonicalize_name(n): ([Requirement(r) for r in reqs], ()) for n, reqs in dists.items()}


def active(**dists: list[str]) -> set[tuple[str, str]]:
    return {(n, e) for n, found in settle(env(**dists), TARGET).items() for e, _ in found}


def test_an_extra_is_active_when_what_it_names_is_there() -> None:
    got = active(lib=['b>=2; extra == "b"', 'c; extra == "c"'], b=[])
    assert got == {("lib", "b")}


def test_an_extra_asking_an_inactive_extra_is_inactive() -> None:
    # boto3[crt] asks botocore[crt], which names awscrt: absent, so neither is active
    dists = {
        "boto": ['botocore[crt]>=1; extra == "crt"'],
        "botocore": ['awscrt==0.19; extra == "crt"'],
    }
    assert active(**dists) == set()
    assert active(**dists, awscrt=[]) == {("boto", "crt"), ("botocore", "crt")}


def test_extras_asking_each_other_are_active_together() -> None:
    got = active(a=['b[y]; extra == "x"'], b=['a[x]; extra == "y"'])
    assert got == {("a", "x"), ("b", "y")}


def test_an_extra_that_only_turns_on_the_packages_own_extras_names_nothing() -> None:
    assert active(a=['a[x]; extra == "all"', 'b; extra == "x"']) == set()

"""Legacy Requires-Dist read as pip's legacy parser and uv read them; the rest refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement

from wheelhouse.model.legacy import parse_lenient


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("pytz (>dev)", "pytz"),
        ("pytz (>=dev)", "pytz"),
        ("e (>=1.0, >dev)", "e>=1.0"),
        ('pytz (>dev); extra == "tz"', 'pytz; extra == "tz"'),
        ("six>=1.0.*", "six>=1.0"),
        ("foo (>=1.0.*,<2)", "foo<2,>=1.0"),
        ("pyzmq>=2.7,!=3.0*,!=3.1*", "pyzmq!=3.0.*,!=3.1.*,>=2.7"),
        ("a>=7.2.0<8.0.0", "a<8.0.0,>=7.2.0"),
        ("d!=~5.0", "d!=5.0"),
    ],
)
def test_legacy_spellings_are_read_with_a_note(text: str, read_as: str) -> None:
    got = parse_lenient(text)
    assert str(got.requirement) == read_as
    assert got.fixed.startswith(f"read {text!r} as {read_as!r}")


@pytest.mark.parametrize("text", ["numpy>=1.16", "c[x]>=1.0-beta", "b (>=1.0)"])
def test_valid_requirements_need_no_fix(text: str) -> None:
    assert parse_lenient(text).fixed == ""


@pytest.mark.parametrize("text", ["f==dev", "g<dev", "x!!", "(>=1)", "h>=>1"])
def test_ambiguous_or_broken_stays_an_error(text: str) -> None:
    with pytest.raises(InvalidRequirement):
        parse_lenient(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_requirement_or_invalid_requirement(text: str) -> None:
    try:
        got = parse_lenient(text)
    except InvalidRequirement:
        return
    assert got.requirement.name  # a requirement, never a half-read one

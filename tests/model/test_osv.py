"""OSV records: ECOSYSTEM ranges evaluated as PEP 440 versions; malformed records named."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.osvfixture import advisory, write_export
from wheelhouse.errors import UsageError
from wheelhouse.model.osv import parse_advisory, read_export

CASES = [
    # (events, version, affected)
    ([("introduced", "0"), ("fixed", "2.0")], "1.9.9", True),
    ([("introduced", "0"), ("fixed", "2.0")], "2.0", False),
    ([("introduced", "0"), ("fixed", "2.0")], "2.0rc1", True),
    ([("introduced", "1.0"), ("fixed", "2.0")], "0.9", False),
    ([("introduced", "1.0"), ("last_affected", "1.4")], "1.4", True),
    ([("introduced", "1.0"), ("last_affected", "1.4")], "1.4.post1", False),
    (
        [("introduced", "1.0"), ("fixed", "1.2"), ("introduced", "1.5"), ("fixed", "1.7")],
        "1.3",
        False,
    ),
    (
        [("introduced", "1.0"), ("fixed", "1.2"), ("introduced", "1.5"), ("fixed", "1.7")],
        "1.6",
        True,
    ),
    # events out of order are sorted first; 1.10 is above 1.9 as a version, not as text
    ([("fixed", "1.10"), ("introduced", "1.9")], "1.9.5", True),
    ([("introduced", "0")], "99", True),
    ([("introduced", "0"), ("fixed", "not a version")], "1.0", True),
]


@pytest.mark.parametrize(("events", "version", "affected"), CASES)
def test_ecosystem_ranges(events: list[tuple[str, str]], version: str, affected: bool) -> None:
    adv = parse_advisory(advisory("X-1", "Some_Pkg", ranges=[events]), "fixture")
    assert adv.affects("some-pkg", version) is affected


def test_listed_versions_aliases_fixed_and_withdrawn() -> None:
    doc = advisory(
        "X-2",
        "pkg",
        versions=["1.0.0"],
        ranges=[[("introduced", "2"), ("fixed", "2.1")], [("introduced", "3"), ("fixed", "3.0.2")]],
        aliases=["CVE-1"],
    )
    adv = parse_advisory(doc, "fixture")
    assert adv.affects("pkg", "1.0") and adv.affects("PKG", "2.0.5")
    assert not adv.affects("other", "1.0")
    assert adv.fixed_versions("pkg") == ("2.1", "3.0.2")
    assert adv.names() == {"X-2", "CVE-1"}
    gone = parse_advisory({**doc, "withdrawn": "2024-01-01T00:00:00Z"}, "fixture")
    assert not gone.affects("pkg", "1.0")


def test_export_is_indexed_by_project_and_dated(tmp_path: Path) -> None:
    records = [
        advisory("A-1", "one", versions=["1"], modified="2024-05-01T00:00:00Z"),
        advisory("A-2", "Two", versions=["1"], modified="2024-06-02T10:00:00Z"),
        advisory("A-3", "one", versions=["1"], ecosystem="npm"),
    ]
    db = read_export(write_export(tmp_path / "all.zip", records))
    assert db.records == 3
    assert sorted(db.by_project) == ["one", "two"]
    assert [a.id for a in db.matching("two", "1")] == ["A-2"]
    assert db.newest is not None and db.newest.isoformat() == "2024-06-02T10:00:00+00:00"


@pytest.mark.parametrize(
    ("member", "data", "words"),
    [
        ("bad.json", b"{not json", "bad.json: not JSON"),
        ("noid.json", b'{"affected": []}', "noid.json: not an OSV record"),
        ("time.json", b'{"id": "T-1", "modified": "yesterday"}', "'modified' is not a time"),
        ("shape.json", b'{"id": "S-1", "affected": [{"package": 3}]}', "malformed OSV record S-1"),
    ],
)
def test_malformed_records_are_named(tmp_path: Path, member: str, data: bytes, words: str) -> None:
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
    with pytest.raises(UsageError, match=words):
        read_export(path)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "all.zip"
    path.write_bytes(b"PK but not really")
    with pytest.raises(UsageError, match="not a readable OSV export"):
        read_export(path)

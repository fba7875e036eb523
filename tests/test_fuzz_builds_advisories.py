"""Fuzz the inputs issue 12 added, as tests/test_fuzz_parsers.py does the others: a lock's
sdist pins and build pins, OSV records and export zips, sdist archives and their build
system. Whatever comes in, a value or the project's own error comes out."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import target_for
from tests.osvfixture import advisory
from tests.test_fuzz_parsers import _toml, fuzz, mutated, toml_values, values
from wheelhouse.errors import IntegrityError, UsageError
from wheelhouse.model.lock import Lock, LockedFile, Pin
from wheelhouse.model.osv import parse_advisory, read_export
from wheelhouse.model.pylock import parse_pylock, render_pylock
from wheelhouse.net.metadata import metadata_from_sdist
from wheelhouse.sdists import build_system, sdist_members

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _sdist_lock() -> Lock:
    sdist = LockedFile("tiny-1.0.tar.gz", {"sha256": "ab" * 32}, url="https://i.test/t.tar.gz")
    wheel = LockedFile("tiny-1.0-py3-none-any.whl", {"sha256": "cd" * 32})
    tiny = Pin(
        name="tiny",  # type: ignore[arg-type]
        version="1.0",
        files=(sdist,),
        build_requires=("setuptools==68.0.0",),
        built_wheel=wheel,
    )
    tool = LockedFile("setuptools-68.0.0-py3-none-any.whl", {"sha256": "ef" * 32})
    build = Pin(name="setuptools", version="68.0.0", source="build", files=(tool,))  # type: ignore[arg-type]
    return Lock(target_for(), (tiny, build), "digest", stand_in=True)


GOOD = render_pylock(_sdist_lock())


def test_the_good_lock_reads_back() -> None:
    lock = parse_pylock(GOOD, "good.toml")
    assert lock == _sdist_lock()


@fuzz
@given(mutated(tomllib.loads(GOOD), toml_values).map(_toml))
def test_pylock_with_sdists_and_build_pins(text: str) -> None:
    try:
        lock = parse_pylock(text, "fuzz/pylock.toml")
    except UsageError as exc:
        assert str(exc).startswith("fuzz/pylock.toml: ")
        return
    for pin in lock.to_sync():  # what sync and its builds then rely on
        assert all(len(f.sha256) == 64 for f in pin.files)
        assert all(isinstance(r, str) for r in pin.build_requires)


GOOD_OSV = advisory("X-1", "pkg", ranges=[[("introduced", "0"), ("fixed", "2")]], versions=["1"])


@fuzz
@given(st.one_of(values, mutated(GOOD_OSV, values)), st.text(max_size=12))
def test_osv_records(doc: Any, version: str) -> None:
    try:
        found = parse_advisory(doc, "fuzz.json")
    except UsageError as exc:
        assert str(exc).startswith("fuzz.json: ")
        return
    found.affects("pkg", version)  # never raises, whatever the versions in the record
    found.fixed_versions("pkg")


@fuzz
@given(
    st.lists(
        st.tuples(st.text("abcXYZ019-_.", min_size=1, max_size=12), st.binary(max_size=200)),
        max_size=4,
        unique_by=lambda m: m[0],
    )
)
def test_osv_exports(tmp_path_factory: Any, members: list[tuple[str, bytes]]) -> None:
    path = tmp_path_factory.mktemp("osv") / "all.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(f"{name}.json", data)
    try:
        read_export(path)
    except UsageError as exc:
        assert str(path) in str(exc)


@fuzz
@given(st.binary(max_size=400), st.sampled_from(["x-1.0.tar.gz", "x-1.0.zip"]))
def test_sdist_archives(data: bytes, filename: str) -> None:
    try:
        sdist_members(data, filename, ["PKG-INFO", "pyproject.toml"])
        metadata_from_sdist(data, filename)
    except (IntegrityError, UsageError) as exc:
        assert filename in str(exc)


@fuzz
@given(st.one_of(values, st.dictionaries(st.just("build-system"), values, max_size=1)))
def test_build_system_tables(doc: Any) -> None:
    try:
        found = build_system(doc if isinstance(doc, dict) else {"build-system": doc}, "x.tar.gz")
    except UsageError as exc:
        assert "x.tar.gz" in str(exc)
        return
    assert all(isinstance(r, str) for r in found.requires)


def test_an_sdist_zip_of_json_lies_is_the_projects_error() -> None:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("x-1.0/PKG-INFO", json.dumps({"not": "headers"}))
        zf.writestr("x-1.0/pyproject.toml", "[project\n")
    try:
        metadata_from_sdist(data.getvalue(), "x-1.0.zip")
    except UsageError as exc:
        assert "x-1.0.zip" in str(exc)

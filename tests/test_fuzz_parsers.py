"""Fuzz every parser of untrusted input with hypothesis: whatever the bytes, only the
project's own error comes out (or a value), never another exception.

Inputs are random bytes and text, and valid documents with one field replaced by a random
value (that is where the tracebacks were). Examples are bounded (EXAMPLES each, derandomized:
the same ones every run, no database) so that the whole file runs in seconds in make check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import lock_of, target_for
from tests.wheelfactory import make_wheel
from wheelhouse.errors import IntegrityError, NetworkError, UsageError, WheelhouseError
from wheelhouse.mirror.protocol import etag_matches, negotiate, parse_range
from wheelhouse.mirror.serveconfig import parse_basic_auth
from wheelhouse.model.lock import Lock, LockedFile, Pin
from wheelhouse.model.profile import Profile, bare_profile, load_profile
from wheelhouse.model.pylock import parse_pylock, render_pylock
from wheelhouse.model.record import read_record
from wheelhouse.model.requirements_lock import parse_requirements_lock, render_requirements
from wheelhouse.net.http import backoff, make_client, read_bounded, with_retries
from wheelhouse.net.pages import parse_html_page, parse_json_page
from wheelhouse.net.pipconfig import IndexConfig, load_index_config

EXAMPLES = 150
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# any JSON/TOML-like value: what a hostile document can put where a field belongs
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.datetimes(),
    st.dates(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a nested document of dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of `doc` with the value at `path` replaced (or deleted for the marker)."""
    copy = json.loads(json.dumps(doc, default=str))
    node = copy
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


_DELETE = object()


def mutated(doc: Any, replacement: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`doc` with one field replaced by a random value or deleted."""
    paths = _paths(doc)
    return st.tuples(st.sampled_from(paths), st.one_of(replacement, st.just(_DELETE))).map(
        lambda pv: _replaced(doc, pv[0], pv[1])
    )


# -- index pages (PEP 691 JSON, PEP 503 HTML) ----------------------------------------------

PAGE_URL = "https://index.test/simple/pkg/"
GOOD_PAGE = {
    "meta": {"api-version": "1.1"},
    "name": "pkg",
    "files": [
        {
            "filename": "pkg-1.0-py3-none-any.whl",
            "url": "../../files/pkg-1.0-py3-none-any.whl",
            "hashes": {"sha256": "ab" * 32},
            "requires-python": ">=3.7",
            "upload-time": "2021-01-01T00:00:00Z",
            "yanked": False,
            "size": 10,
            "core-metadata": {"sha256": "cd" * 32},
        }
    ],
}


@fuzz
@given(st.one_of(st.binary(max_size=300), mutated(GOOD_PAGE, values).map(json.dumps)))
def test_json_pages(body: bytes | str) -> None:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    try:
        parse_json_page(data, PAGE_URL, "https://index.test/simple")
    except NetworkError as exc:
        assert "index.test" in str(exc)


html_bits = st.sampled_from(
    ['<a href="', '">', "</a>", "<base href=", "[::1", "http://[x]/", "#sha256=", "&#", "<!", "%"]
)


@fuzz
@given(st.lists(st.one_of(html_bits, st.text(max_size=15)), max_size=20).map("".join))
def test_html_pages(text: str) -> None:
    with contextlib.suppress(NetworkError):
        parse_html_page(text.encode("utf-8", "surrogatepass"), PAGE_URL, "idx")


# -- locks: pylock.toml and requirements.lock ------------------------------------------------


def _good_lock() -> Lock:
    pin = Pin(
        name="pkg",  # type: ignore[arg-type]
        version="1.0",
        files=(
            LockedFile(
                "pkg-1.0-py3-none-any.whl",
                {"sha256": "ab" * 32},
                url="https://index.test/files/pkg-1.0-py3-none-any.whl",
                size=10,
            ),
        ),
        via=("-r requirements.in",),
    )
    image = Pin(name="numpy", version="1.21.6", source="image")  # type: ignore[arg-type]
    return Lock(target_for(), (pin, image), "digest")


GOOD_PYLOCK = render_pylock(_good_lock())
GOOD_PYLOCK_DOC = __import__("tomllib").loads(GOOD_PYLOCK)


def _toml(doc: Any) -> str:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return GOOD_PYLOCK  # a value TOML cannot hold (None): the good file instead


@fuzz
@given(
    st.one_of(
        st.text(max_size=200),
        mutated(GOOD_PYLOCK_DOC, toml_values).map(_toml),
    )
)
def test_pylock(text: str) -> None:
    try:
        lock = parse_pylock(text, "fuzz/pylock.toml")
    except UsageError as exc:
        assert str(exc).startswith("fuzz/pylock.toml: ")
        return
    for pin in lock.to_install():  # what sync and install then rely on
        assert all(len(f.sha256) == 64 for f in pin.files)
    assert lock.target.python_minor


GOOD_REQUIREMENTS = render_requirements(_good_lock())
req_bits = st.sampled_from(
    [
        "# wheelhouse-target: ",
        "python=",
        "platform=",
        "abi=",
        "implementation=",
        "macosx_",
        "manylinux_2_",
        "3.7",
        "pkg==1.0 \\",
        "--hash=sha256:",
        "ab" * 32,
        "\n",
        " ",
        "# wheelhouse-input-digest: ",
        "-r x",
    ]
)


@fuzz
@given(
    st.one_of(
        st.lists(st.one_of(req_bits, st.text(max_size=10)), max_size=25).map("".join),
        st.tuples(st.integers(0, len(GOOD_REQUIREMENTS)), st.text(max_size=30)).map(
            lambda it: GOOD_REQUIREMENTS[: it[0]] + it[1] + GOOD_REQUIREMENTS[it[0] :]
        ),
    )
)
def test_requirements_lock(text: str) -> None:
    try:
        lock = parse_requirements_lock(text, "fuzz.lock")
    except UsageError as exc:
        assert str(exc).startswith("fuzz.lock")
        return
    assert lock.target.tags and lock.target.python_minor


# -- profiles ----------------------------------------------------------------------------------

GOOD_PROFILE = bare_profile("3.7", "manylinux2014_x86_64").to_dict()
GOOD_PROFILE["installed"] = [{"name": "numpy", "version": "1.21.6", "requires_dist": []}]


@fuzz
@given(st.one_of(mutated(GOOD_PROFILE, values), values))
def test_profile_from_dict(data: Any) -> None:
    try:
        profile = Profile.from_dict(data)
    except UsageError:
        return
    # what the lock then does with it
    profile.environment_marker()
    profile.tag_priority()
    profile.digest()


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=200))
def test_profile_files_of_any_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("p") / "profile.json"
    path.write_bytes(data)
    with pytest.raises(UsageError):
        load_profile(path)


# -- RECORD --------------------------------------------------------------------------------

record_bits = st.sampled_from(['"', ",", "\n", "\r", "\x00", "sha256=", "a/b.py", "..", "=", "12"])


@fuzz
@given(
    st.one_of(
        st.binary(max_size=200),
        st.lists(st.one_of(record_bits, st.text(max_size=8)), max_size=30).map("".join),
    )
)
def test_record(data: bytes | str) -> None:
    try:
        rows = read_record(data, "fuzz/RECORD")
    except IntegrityError as exc:
        assert str(exc).startswith("fuzz/RECORD: ")
        return
    assert all(len(row) == 3 for row in rows)


# -- pip configuration -------------------------------------------------------------------------

PIP_KEYS = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_TIMEOUT",
    "PIP_RETRIES",
    "PIP_NO_INDEX",
    "PIP_PROXY",
    "PIP_FIND_LINKS",
]
pip_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["nan", "inf", "-1", "1e400", "http://[::1", "http://h:99999/", "\x07h"]),
)


@fuzz
@given(st.dictionaries(st.sampled_from(PIP_KEYS), pip_values, max_size=4))
def test_pip_configuration_from_the_environment(env: dict[str, str]) -> None:
    env = {**env, "PIP_CONFIG_FILE": "/dev/null"}
    try:
        config = load_index_config(env)
    except UsageError as exc:
        assert "pip configuration" in str(exc)
        return
    assert math.isfinite(config.timeout) and config.timeout > 0 and config.retries >= 0
    # and the client it makes takes it without an error of httpx's own
    asyncio.run(make_client(config).aclose())


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=120))
def test_pip_configuration_files(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("pip") / "pip.conf"
    path.write_text("[global]\n" + text, encoding="utf-8", errors="surrogateescape")
    with contextlib.suppress(UsageError):
        load_index_config({"PIP_CONFIG_FILE": str(path), "HOME": str(path.parent)})


# -- HTTP: headers from servers and clients --------------------------------------------------


@fuzz
@given(st.integers(1, 10_000), st.text(max_size=40))
def test_retry_after(attempt: int, value: str) -> None:
    delay = backoff(attempt, value)
    assert math.isfinite(delay) and 0 <= delay <= 30


@fuzz
@given(st.text(max_size=60), st.integers(0, 10**12))
def test_range_header(header: str, size: int) -> None:
    got = parse_range(header, size)
    if isinstance(got, tuple):
        assert 0 <= got[0] <= got[1] < size


@fuzz
@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=10)))
def test_accept_and_etag_headers(accept: str, fmt: str | None) -> None:
    negotiate(accept, fmt)
    etag_matches(accept, '"x"')


@fuzz
@given(st.text(max_size=30))
def test_basic_auth_values(text: str) -> None:
    try:
        user, password = parse_basic_auth(text)
    except UsageError:
        return
    assert user.strip() and password.strip()


def _serve_once(headers: dict[str, str], body: bytes) -> bytes:
    """A body read through the one HTTP seam from a server that answers with these."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))

    async def go() -> bytes:
        async with make_client(IndexConfig(), transport=httpx.MockTransport(handler)) as client:

            async def call() -> bytes:
                async with client.stream("GET", "https://index.test/x") as r:
                    return await read_bounded(r, 1 << 20, "fuzz body")

            return await with_retries("fuzz", "https://index.test/x", 0, call)

    return asyncio.run(go())


@fuzz
@given(
    st.sampled_from(["gzip", "deflate", "x-gzip", "br", "identity", "gzip, gzip", ""]),
    st.one_of(
        st.binary(max_size=100),
        st.binary(max_size=100).map(lambda b: __import__("gzip").compress(b)[: len(b) // 2 + 10]),
    ),
)
def test_encoded_bodies(coding: str, body: bytes) -> None:
    with contextlib.suppress(NetworkError):
        _serve_once({"Content-Encoding": coding}, body)


# -- wheels: WHEEL, METADATA and RECORD as install and verify read them -----------------------

metadata_files = st.sampled_from(["WHEEL", "METADATA", "RECORD", "entry_points.txt"])


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(metadata_files, st.one_of(st.binary(max_size=120), st.text(max_size=120)))
def test_wheel_metadata_files(
    tmp_path_factory: pytest.TempPathFactory, member: str, content: bytes | str
) -> None:
    from wheelhouse.artifact.install import InstallOptions, install_lock
    from wheelhouse.artifact.verify import verify

    root = tmp_path_factory.mktemp("w")
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    wheel = make_wheel(
        root / "build",
        "gamma",
        "1.0",
        entry_points="[console_scripts]\ng = gamma:main\n",
        extra_entries={f"gamma-1.0.dist-info/{member}": data} if member != "RECORD" else None,
        record=member != "RECORD",
    )
    if member == "RECORD":
        import zipfile

        with zipfile.ZipFile(wheel, "a") as zf:
            zf.writestr("gamma-1.0.dist-info/RECORD", data)
    (root / "wh" / "files").mkdir(parents=True)
    (root / "wh" / "files" / wheel.name).write_bytes(wheel.read_bytes())
    lock = lock_of([wheel])
    try:
        install_lock(lock, root / "wh", root / "out", InstallOptions(processes=False))
    except WheelhouseError:
        return
    verify(root / "out", lock, wheelhouse=root / "wh")


# -- the installed tree's manifest and the wheelhouse's catalog ---------------------------------

GOOD_MANIFEST = {
    "format": 1,
    "lock_digest": "a",
    "lock_input_digest": "b",
    "profile": "p",
    "profile_digest": "d",
    "python_version": "3.7.16",
    "compiled_with": "",
    "dists": [
        {"name": "pkg", "version": "1.0", "wheel": "pkg-1.0-py3-none-any.whl", "sha256": "ab"}
    ],
    "files": [{"path": "lib/x.py", "sha256": "cd", "size": 3, "executable": False}],
}


@fuzz
@given(st.one_of(mutated(GOOD_MANIFEST, values), values))
def test_manifest(data: Any) -> None:
    from wheelhouse.artifact.manifest import Manifest, compare_tree

    try:
        manifest = Manifest.from_dict(data)
    except UsageError:
        return
    compare_tree(manifest, manifest.files)  # what pack, unpack and verify then do with it


GOOD_CATALOG = {
    "format": 1,
    "files": [{"filename": "pkg-1.0-py3-none-any.whl", "sha256": "ab", "size": 3, "mtime_ns": 1}],
}


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.one_of(mutated(GOOD_CATALOG, values).map(json.dumps), st.text(max_size=50)))
def test_catalog(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    from wheelhouse.mirror.catalog import load_catalog
    from wheelhouse.store.layout import Wheelhouse

    house = Wheelhouse(tmp_path_factory.mktemp("wh"))
    house.catalog_path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        records = load_catalog(house)
    except UsageError:
        return
    for record in records.values():
        record.matches_stat(house.files / "x")


DEEP = "[" * 100_000


@pytest.mark.parametrize("where", ["page", "pylock", "profile", "manifest", "catalog"])
def test_nesting_deeper_than_the_parser_goes_is_the_projects_error(
    where: str, tmp_path: Path
) -> None:
    from wheelhouse.artifact.manifest import MANIFEST_NAME, read_manifest
    from wheelhouse.mirror.catalog import load_catalog
    from wheelhouse.store.layout import Wheelhouse

    with pytest.raises(WheelhouseError, match=r"nested too deeply|not valid JSON|unreadable"):
        if where == "page":
            parse_json_page(DEEP.encode(), PAGE_URL, "idx")
        elif where == "pylock":
            parse_pylock("a = " + DEEP, "deep.toml")
        elif where == "profile":
            (tmp_path / "p.json").write_text(DEEP)
            load_profile(tmp_path / "p.json")
        elif where == "manifest":
            (tmp_path / MANIFEST_NAME).write_text(DEEP)
            read_manifest(tmp_path)
        else:
            house = Wheelhouse(tmp_path)
            house.catalog_path.write_text(DEEP)
            load_catalog(house)

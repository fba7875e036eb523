"""A distribution's core metadata without downloading more than needed.

In order: the index's PEP 658 metadata file; HTTP range requests into the wheel's zip
directory; the whole wheel. An sdist is read for PKG-INFO / egg-info requires.txt (image
packages only need metadata, and some were published only as sdists).
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from email.parser import HeaderParser

import httpx
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse.errors import HashMismatch, IntegrityError, NetworkError, UsageError

# the target-side snapshot script owns the one copy of this conversion (it runs stdlib-only)
from wheelhouse.model._snapshot_script import requires_txt_to_dist
from wheelhouse.net.cache import Cache
from wheelhouse.net.http import read_bounded, redact_url, with_retries
from wheelhouse.net.pages import DistFile
from wheelhouse.net.urls import local_path

log = logging.getLogger("wheelhouse")
TAIL = 64 * 1024
METADATA_BYTES = 16 << 20  # a METADATA file (the biggest real ones are a few hundred KB)
WHOLE_FILE_BYTES = 4 << 30  # a distribution fetched whole whose index gives no size
SDIST_MEMBERS = 100_000  # tar entries looked through for PKG-INFO


def _file_limit(f: DistFile) -> int:
    """The most bytes taken for a whole distribution file: its size where the index says."""
    return f.size if f.size is not None and f.size >= 0 else WHOLE_FILE_BYTES


@dataclass(frozen=True)
class CoreMetadata:
    name: NormalizedName
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str | None
    provides_extra: tuple[str, ...] = ()
    metadata_version: str = ""
    dynamic: tuple[str, ...] = ()  # PEP 643: fields a build may still change (lowercase)

    @property
    def static_requirements(self) -> bool:
        """True if Requires-Dist and Requires-Python are final (PEP 643: metadata 2.2 or
        later, neither field Dynamic): an sdist's PKG-INFO may then stand for its wheel's."""
        try:
            new_enough = Version(self.metadata_version) >= Version("2.2")
        except InvalidVersion:
            return False
        return new_enough and not {"requires-dist", "requires-python"} & set(self.dynamic)


def parse_metadata(data: bytes) -> CoreMetadata:
    msg = HeaderParser().parsestr(data.decode("utf-8", errors="replace"))
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        raise UsageError("metadata without Name or Version")
    return CoreMetadata(
        name=canonicalize_name(name),
        version=str(version).strip(),
        requires_dist=tuple(str(r).strip() for r in msg.get_all("Requires-Dist") or ()),
        requires_python=(str(msg["Requires-Python"]).strip() or None)
        if msg.get("Requires-Python")
        else None,
        provides_extra=tuple(str(e).strip() for e in msg.get_all("Provides-Extra") or ()),
        metadata_version=str(msg.get("Metadata-Version") or "").strip(),
        dynamic=tuple(str(d).strip().lower() for d in msg.get_all("Dynamic") or ()),
    )


def metadata_from_wheel_zip(zf: zipfile.ZipFile, filename: str) -> bytes:
    names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if len(names) != 1:
        raise IntegrityError(f"{filename}: expected one .dist-info/METADATA, found {len(names)}")
    if zf.getinfo(names[0]).file_size > METADATA_BYTES:
        raise IntegrityError(f"{filename}: METADATA is over {METADATA_BYTES} bytes")
    return zf.read(names[0])


def metadata_from_sdist(data: bytes, filename: str) -> bytes:
    """An sdist's metadata: PKG-INFO when it is static (PEP 643), else the [project] table
    of pyproject.toml when that is static (as Metadata 2.2), else PKG-INFO with Requires-Dist
    filled from egg-info (fine for an image's packages, which are only read; not static)."""
    static = _sdist_head(data, filename)
    if static is not None:
        return static
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = {
                i.filename: zf.read(i)
                for i in zf.infolist()[:SDIST_MEMBERS]
                if _wanted_in_sdist(i.filename, i.file_size)
            }
    else:
        members = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for _ in range(SDIST_MEMBERS):
                m = tf.next()
                if m is None:
                    break
                if m.isfile() and _wanted_in_sdist(m.name, m.size):
                    f = tf.extractfile(m)
                    if f is not None:
                        members[m.name] = f.read()
    top = [n for n in members if n.count("/") == 1 and n.endswith("/PKG-INFO")]
    if not top:
        raise IntegrityError(f"{filename}: sdist has no PKG-INFO")
    pkg_info = members[top[0]]
    parsed = HeaderParser().parsestr(pkg_info.decode("utf-8", errors="replace"))
    if parsed.get_all("Requires-Dist"):
        return pkg_info
    req_txt = [n for n in members if n.endswith(".egg-info/requires.txt")]
    if req_txt:
        extra = "".join(
            f"Requires-Dist: {r}\n" for r in requires_txt_to_dist(members[req_txt[0]].decode())
        )
        head, sep, body = pkg_info.decode("utf-8", errors="replace").partition("\n\n")
        return (head.rstrip("\n") + "\n" + extra + sep + body).encode()
    return pkg_info


def _sdist_head(data: bytes, filename: str) -> bytes | None:
    """Static metadata of an sdist: PKG-INFO 2.2+ as is, or one made from pyproject.toml."""
    from wheelhouse.sdists import parse_pyproject, sdist_members

    members = sdist_members(data, filename, ["PKG-INFO", "pyproject.toml"])
    pkg_info = members.get("PKG-INFO")
    if pkg_info is not None and parse_metadata_safe(pkg_info).static_requirements:
        return pkg_info
    if "pyproject.toml" not in members:
        return None
    project = parse_pyproject(members["pyproject.toml"], filename).get("project")
    if not isinstance(project, dict):
        return None
    return _from_project(project, filename)


def parse_metadata_safe(data: bytes) -> CoreMetadata:
    try:
        return parse_metadata(data)
    except UsageError:
        return CoreMetadata(canonicalize_name("unknown"), "", (), None)


def _from_project(project: dict[str, object], filename: str) -> bytes | None:
    """PEP 621's [project] as Metadata 2.2, when its name, version and requirements are
    static (not listed in `dynamic`)."""
    dynamic = {str(d) for d in project.get("dynamic") or ()}  # type: ignore[attr-defined]
    if dynamic & {"version", "dependencies", "optional-dependencies", "requires-python"}:
        return None
    name, version = project.get("name"), project.get("version")
    deps = project.get("dependencies") or []
    optional = project.get("optional-dependencies") or {}
    if not (isinstance(name, str) and isinstance(version, str)):
        return None
    if not isinstance(deps, list) or not isinstance(optional, dict):
        raise UsageError(f"{filename}: pyproject.toml [project] dependencies are malformed")
    lines = ["Metadata-Version: 2.2", f"Name: {name}", f"Version: {version}"]
    rp = project.get("requires-python")
    if isinstance(rp, str):
        lines.append(f"Requires-Python: {rp}")
    lines += [f"Requires-Dist: {d}" for d in deps]
    for extra, reqs in sorted(optional.items()):
        lines.append(f"Provides-Extra: {extra}")
        lines += [f"Requires-Dist: {_with_extra(str(r), str(extra))}" for r in reqs or ()]
    return ("\n".join(lines) + "\n\n").encode()


def _with_extra(requirement: str, extra: str) -> str:
    req, sep, marker = requirement.partition(";")
    cond = f'extra == "{extra}"'
    return f"{req.strip()}; ({marker.strip()}) and {cond}" if sep else f"{req.strip()}; {cond}"


def _wanted_in_sdist(name: str, size: int) -> bool:
    """PKG-INFO or egg-info requires.txt near the top, of a size worth reading."""
    wanted = name.endswith(("/PKG-INFO", "/requires.txt")) and name.count("/") <= 2
    return wanted and size <= METADATA_BYTES


def _check(data: bytes, expected: dict[str, str] | None, what: str) -> None:
    if not expected:
        return
    for algo in ("sha256", "sha384", "sha512"):
        if algo in expected:
            got = hashlib.new(algo, data).hexdigest()
            if got != expected[algo]:
                raise HashMismatch(
                    f"{what}: expected {algo}:{expected[algo]}, received {algo}:{got}"
                )
            return


class MetadataFetcher:
    """Fetches metadata of DistFiles through the shared client and cache."""

    def __init__(
        self, client: httpx.AsyncClient, cache: Cache, retries: int = 5, offline: bool = False
    ) -> None:
        self.client = client
        self.cache = cache
        self.retries = retries
        self.offline = offline
        self.stats = {"pep658": 0, "range": 0, "whole": 0, "cached": 0, "local": 0}

    def _key(self, f: DistFile) -> str:
        return f"sha256:{f.sha256}" if f.sha256 else f"url:{f.url}"

    async def fetch(self, f: DistFile) -> CoreMetadata:
        key = self._key(f)
        data = self.cache.get_metadata(key)
        if data is not None:
            self.stats["cached"] += 1
        else:
            data = await self._fetch_bytes(f)
            self.cache.put_metadata(key, data)
        try:
            meta = parse_metadata(data)
        except UsageError as exc:
            raise IntegrityError(f"{describe(f)}: {exc}") from None
        if meta.name != f.name:
            raise IntegrityError(f"{f.filename}: metadata names {meta.name}, not {f.name}")
        return meta

    async def _fetch_bytes(self, f: DistFile) -> bytes:
        path = local_path(f.url)
        if path is None and self.offline:
            raise NetworkError(
                f"offline: the metadata of {f.filename} is not in the cache "
                "(lock once with the index reachable)"
            )
        if path is not None:
            self.stats["local"] += 1
            meta_path = path.with_name(path.name + ".metadata")
            if f.metadata_hashes is not None and meta_path.is_file():
                return meta_path.read_bytes()
            return self._from_archive(path.read_bytes(), f)
        if f.metadata_hashes is not None:
            data = await self._get(f.url + ".metadata", f"metadata of {f.filename}", METADATA_BYTES)
            _check(data, dict(f.metadata_hashes), f"metadata of {f.filename}")
            self.stats["pep658"] += 1
            return data
        if f.is_wheel:
            ranged = await self._from_range(f)
            if ranged is not None:
                self.stats["range"] += 1
                return ranged
        data = await self._get(f.url, f.filename, _file_limit(f))
        _check(data, dict(f.hashes), f.filename)
        self.stats["whole"] += 1
        return self._from_archive(data, f)

    async def whole(self, f: DistFile) -> bytes:
        """The file's bytes (a local one read, a remote one fetched), checked against the
        index's hash."""
        path = local_path(f.url)
        if path is not None:
            data = path.read_bytes()
        elif self.offline:
            raise NetworkError(f"offline: {f.filename} is needed whole and is not cached")
        else:
            data = await self._get(f.url, f.filename, _file_limit(f))
        _check(data, dict(f.hashes), f.filename)
        return data

    def _from_archive(self, data: bytes, f: DistFile) -> bytes:
        try:
            if f.is_wheel:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    return metadata_from_wheel_zip(zf, f.filename)
            return metadata_from_sdist(data, f.filename)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            tarfile.TarError,
            OSError,
            EOFError,
            zlib.error,
            ValueError,
            NotImplementedError,
        ) as exc:
            raise IntegrityError(f"{f.filename}: unreadable archive ({exc})") from exc

    async def _get(
        self, url: str, what: str, limit: int, headers: dict[str, str] | None = None
    ) -> bytes:
        """A body of at most `limit` bytes (more is a NetworkError: cut off there)."""

        async def call() -> bytes:
            async with self.client.stream("GET", url, headers=headers or {}) as r:
                r.raise_for_status()
                return await read_bounded(r, limit, what)

        return await with_retries(f"downloading {what}", url, self.retries, call)

    async def _from_range(self, f: DistFile) -> bytes | None:
        """METADATA out of the zip's central directory, by HTTP range requests."""
        try:

            async def tail_call() -> tuple[int, str, bytes]:
                async with self.client.stream(
                    "GET", f.url, headers={"Range": f"bytes=-{TAIL}"}
                ) as r:
                    r.raise_for_status()
                    body = await read_bounded(r, _file_limit(f), f.filename)
                    return r.status_code, r.headers.get("Content-Range", ""), body

            status, content_range, tail = await with_retries(
                f"reading {f.filename}", f.url, self.retries, tail_call
            )
        except NetworkError:
            return None
        if status != 206:
            _check(tail, dict(f.hashes), f.filename)  # the server sent the whole file
            return self._from_archive(tail, f)
        total_text = content_range.rsplit("/", 1)[-1]
        if not (total_text.isascii() and total_text.isdigit() and len(total_text) < 20):
            return None
        total = int(total_text)
        tail_start = total - len(tail)
        eocd = tail.rfind(b"PK\x05\x06")
        if eocd < 0 or eocd + 20 > len(tail):
            return None
        cd_size, cd_offset = struct.unpack("<II", tail[eocd + 12 : eocd + 20])
        if cd_offset == 0xFFFFFFFF:
            return None  # zip64: let the whole-file path handle it
        if cd_offset < tail_start:
            cd = await self._get(
                f.url,
                f.filename,
                cd_size,
                {"Range": f"bytes={cd_offset}-{cd_offset + cd_size - 1}"},
            )
        else:
            cd = tail[cd_offset - tail_start : cd_offset - tail_start + cd_size]
        entry = _find_central_entry(cd)
        if entry is None:
            return None
        method, csize, local_offset, _name = entry
        # local header is 30 bytes + name + extra; read generously
        want_end = local_offset + 30 + 1024 + csize
        if local_offset >= tail_start:
            blob = tail[local_offset - tail_start :]
        else:
            blob = await self._get(
                f.url,
                f.filename,
                want_end - local_offset,
                {"Range": f"bytes={local_offset}-{min(want_end, total) - 1}"},
            )
        if len(blob) < 30 or blob[:4] != b"PK\x03\x04":
            return None
        nlen, xlen = struct.unpack("<HH", blob[26:30])
        start = 30 + nlen + xlen
        comp = blob[start : start + csize]
        if len(comp) < csize:
            return None
        if method == 0:
            return comp if len(comp) <= METADATA_BYTES else None
        if method == 8:
            inflater = zlib.decompressobj(-15)
            try:
                out = inflater.decompress(comp, METADATA_BYTES + 1)
            except zlib.error:
                return None  # the whole-file path says what is wrong with it
            return out if inflater.eof and len(out) <= METADATA_BYTES else None
        return None


def _find_central_entry(cd: bytes) -> tuple[int, int, int, str] | None:
    pos = 0
    while pos + 46 <= len(cd) and cd[pos : pos + 4] == b"PK\x01\x02":
        method = struct.unpack("<H", cd[pos + 10 : pos + 12])[0]
        csize = struct.unpack("<I", cd[pos + 20 : pos + 24])[0]
        nlen, xlen, clen = struct.unpack("<HHH", cd[pos + 28 : pos + 34])
        offset = struct.unpack("<I", cd[pos + 42 : pos + 46])[0]
        name = cd[pos + 46 : pos + 46 + nlen].decode("utf-8", errors="replace")
        if name.count("/") == 1 and name.endswith(".dist-info/METADATA"):
            return method, csize, offset, name
        pos += 46 + nlen + xlen + clen
    return None


def describe(f: DistFile) -> str:
    return f"{f.filename} from {redact_url(f.index)}"

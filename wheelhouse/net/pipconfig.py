"""pip's own configuration, read the way pip documents it, so wheelhouse sees what pip sees.

Files (later wins): global (`$XDG_CONFIG_DIRS/pip/pip.conf`, `/etc/pip.conf`), user
(`~/.pip/pip.conf`, `$XDG_CONFIG_HOME/pip/pip.conf`), site (`$VIRTUAL_ENV/pip.conf`), then
`PIP_CONFIG_FILE`; in each, `[global]` then `[install]`. `PIP_<OPTION>` variables win over
files. `PIP_CONFIG_FILE=/dev/null` turns all files off, as in pip.
"""

from __future__ import annotations

import configparser
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from wheelhouse.errors import UsageError

_MULTI = {"extra-index-url", "find-links", "trusted-host", "constraint"}
_SECTIONS = ("global", "install")
_ALIASES = {"default-timeout": "timeout"}


@dataclass(frozen=True)
class IndexConfig:
    """Where packages come from and how to reach them."""

    index_url: str | None = None  # None: pip's own default index
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    cert: str | None = None
    client_cert: str | None = None
    proxy: str | None = None
    trusted_hosts: tuple[str, ...] = ()
    timeout: float = 15.0
    retries: int = 5
    constraints: tuple[str, ...] = ()
    origin: Mapping[str, str] = field(default_factory=dict)  # key -> where it was set

    def indexes(self) -> list[str]:
        """The index URLs to search, in order (empty with --no-index)."""
        if self.no_index:
            return []
        main = self.index_url or default_index_url()
        return [main, *self.extra_index_urls]

    def with_sources(
        self,
        index_url: str | None = None,
        extra_index_urls: Sequence[str] = (),
        find_links: Sequence[str] = (),
        no_index: bool = False,
    ) -> IndexConfig:
        """Sources given on the command line replace the configured ones as a whole."""
        if not (index_url or extra_index_urls or find_links or no_index):
            return self
        from wheelhouse.net.urls import check_source

        for url in [index_url] if index_url else []:
            check_source(url, "--index-url")
        for url in extra_index_urls:
            check_source(url, "--extra-index-url")
        for url in find_links:
            check_source(url, "--find-links", folder=False)
        return replace(
            self,
            index_url=index_url or (None if not extra_index_urls else self.index_url),
            extra_index_urls=tuple(extra_index_urls),
            find_links=tuple(find_links),
            no_index=no_index or (not index_url and not extra_index_urls and bool(find_links)),
            origin={**self.origin, "index-url": "command line"},
        )

    def fingerprint(self) -> list[str]:
        """What decides a lock's answer (for the lock's input digest); no credentials."""
        from wheelhouse.net.urls import redact_url

        return [
            *(f"index {redact_url(u)}" for u in self.indexes()),
            *(f"find-links {redact_url(u)}" for u in self.find_links),
            *(f"constraint {c}" for c in self.constraints),
        ]


def config_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files in the order pip loads them (existing or not)."""
    env = os.environ if env is None else env
    forced = env.get("PIP_CONFIG_FILE")
    if forced == os.devnull:
        return []
    home = Path(env.get("HOME", str(Path.home())))
    xdg_dirs = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d]
    files.append(Path("/etc/pip.conf"))
    files.append(home / ".pip" / "pip.conf")
    files.append(Path(env.get("XDG_CONFIG_HOME", str(home / ".config"))) / "pip" / "pip.conf")
    files.append(Path(env.get("VIRTUAL_ENV", sys.prefix)) / "pip.conf")
    if forced:
        files.append(Path(forced))
    return files


def _truthy(value: str, key: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "yes", "true", "on", "y", "t"):
        return True
    if v in ("0", "no", "false", "off", "n", "f", ""):
        return False
    raise UsageError(f"pip configuration {key}={value!r} is not a yes/no value")


def read_raw(env: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Every option pip would see: key -> (value, where it came from)."""
    env = os.environ if env is None else env
    values: dict[str, tuple[str, str]] = {}
    for path in config_files(env):
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read pip configuration {path}: {exc}") from exc
        for section in _SECTIONS:
            if parser.has_section(section):
                for key, value in parser.items(section):
                    key = _ALIASES.get(key.replace("_", "-"), key.replace("_", "-"))
                    values[key] = (value, f"{path} [{section}]")
    for name, value in env.items():
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
            key = name[4:].lower().replace("_", "-")
            values[_ALIASES.get(key, key)] = (value, f"${name}")
    return values


def load_index_config(env: Mapping[str, str] | None = None) -> IndexConfig:
    """pip's configuration as an IndexConfig."""
    raw = read_raw(env)

    def get(key: str) -> str | None:
        return raw[key][0] if key in raw else None

    def multi(key: str) -> tuple[str, ...]:
        value = get(key)
        return tuple(value.split()) if value else ()

    _check_values(raw)
    return IndexConfig(
        index_url=(get("index-url") or None),
        extra_index_urls=multi("extra-index-url"),
        find_links=multi("find-links"),
        no_index=_truthy(get("no-index") or "", "no-index"),
        cert=get("cert") or None,
        client_cert=get("client-cert") or None,
        proxy=get("proxy") or None,
        trusted_hosts=multi("trusted-host"),
        timeout=_number(raw, "timeout", 15.0, float, 1e6),
        retries=int(_number(raw, "retries", 5, int, 100)),
        constraints=multi("constraint"),
        origin={k: v[1] for k, v in raw.items()},
    )


_SOURCE_KEYS = ("index-url", "extra-index-url", "find-links")
_USED = {*_SOURCE_KEYS, "proxy", "trusted-host", "cert", "client-cert", "constraint"}
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$")


def _check_values(raw: Mapping[str, tuple[str, str]]) -> None:
    """Values pip's configuration hands to the network, checked here so that a bad one is
    an error naming its key and where it was set, not a failure deep in httpx. Index URLs
    must be URLs or existing folders (a missing find-links folder is only warned about
    when read, as pip does)."""
    from wheelhouse.net.urls import check_source

    for key, (value, where) in raw.items():
        if key not in _USED:
            continue  # pip's business alone
        name = f"pip configuration {key} ({where})"
        if any((ord(c) < 32 and c not in "\t\r\n") or ord(c) == 127 for c in value):
            raise UsageError(f"{name}: a control character")
        if key in _SOURCE_KEYS:
            links = key == "find-links"
            for url in value.split():
                check_source(url, name, folder=not links, must_exist=not links)
        elif key == "proxy":
            for url in value.split():
                _check_proxy(url, name)
        elif key == "trusted-host":
            for host in value.split():
                if not _HOST.match(host):
                    raise UsageError(f"{name}: {host!r} is no host")


def _check_proxy(url: str, name: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a port that is no number)
    except ValueError as exc:
        raise UsageError(f"{name}: {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise UsageError(f"{name}: {url!r} is no proxy URL")


def _number(
    raw: Mapping[str, tuple[str, str]], key: str, default: float, kind: type, top: float
) -> float:
    """A number from the configuration, finite and from 0 to `top`."""
    if key not in raw or not raw[key][0].strip():
        return default
    value, where = raw[key]
    try:
        number = float(kind(value.strip()))
    except ValueError:
        raise UsageError(f"pip configuration {key}={value!r} ({where}) is no number") from None
    if not (math.isfinite(number) and 0 <= number <= top) or (key == "timeout" and not number):
        raise UsageError(f"pip configuration {key}={value!r} ({where}) is out of range")
    return number


_DEFAULT: list[str] = []


def default_index_url() -> str:
    """pip's built-in default index, asked of pip itself (never written into wheelhouse)."""
    if _DEFAULT:
        return _DEFAULT[0]
    from wheelhouse.net.cache import default_cache_dir

    memo = default_cache_dir() / "pip-default-index.txt"
    try:
        if time.time() - memo.stat().st_mtime < 7 * 86400:
            _DEFAULT.append(memo.read_text().strip())
            return _DEFAULT[0]
    except OSError:
        pass
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--help"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(
            f"no index is configured and pip's default could not be read ({exc}); pass --index-url"
        ) from exc
    m = re.search(r"\(default\s+(\S+?)\)", out.replace("\n", " "))
    if not m:
        raise UsageError("no index is configured and pip's help names no default; pass --index-url")
    _DEFAULT.append(m.group(1).rstrip("/"))
    try:
        from wheelhouse.files import atomic_write

        atomic_write(memo, _DEFAULT[0] + "\n")
    except OSError:
        pass  # a cache only
    return _DEFAULT[0]

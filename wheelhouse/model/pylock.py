"""`pylock.toml` (PEP 751): the same pins with file URLs, and the full target for machines.

`environments` and `requires-python` name every interpreter the lock installs on (the
target's minor, narrowed by the packages' Requires-Python), so that installers such as uv
take it on any patch release of the image; the exact profile lives under `[tool.wheelhouse]`
with wheelhouse's other facts. Rendered by a pure function (same Lock, same bytes).
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse import __version__
from wheelhouse.errors import UsageError
from wheelhouse.model.extras import ActiveExtra
from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin

LOCK_FORMAT = 1


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def render_pylock(lock: Lock) -> str:
    import tomli_w

    t = lock.target
    packages = [_package(p) for p in sorted(lock.pins, key=lambda p: p.name) if p.installs]
    builds = [_package(p) for p in sorted(lock.build_pins(), key=lambda p: (p.name, p.version))]
    doc: dict[str, Any] = {
        "lock-version": "1.0",
        "environments": [t.environment],
        "requires-python": lock.python_range().specifier,
        "created-by": "wheelhouse",
        "packages": packages,
        "tool": {
            "wheelhouse": {
                "format": LOCK_FORMAT,
                "version": __version__,
                "input-digest": lock.input_digest,
                "requirements": list(lock.requirements),
                "exclude-newer": lock.exclude_newer or "",
                "notes": list(lock.notes),
                "indexes": list(lock.indexes),
                "target": {
                    "profile": t.profile_name,
                    "profile-digest": t.profile_digest,
                    "python-version": t.python_version,
                    "implementation": t.implementation,
                    "abis": list(t.abis),
                    "platforms": list(t.platforms),
                    "tags": list(t.tags),
                    "markers": dict(sorted(t.markers.items())),
                },
                **({"build-packages": builds} if builds else {}),
                **({"stand-in": True} if lock.stand_in else {}),
                "image-provided": [
                    {"name": p.name, "version": p.version, "via": list(p.via)}
                    for p in sorted(lock.image_provided(), key=lambda p: p.name)
                ],
            }
        },
    }
    if lock.active_extras:
        doc["tool"]["wheelhouse"]["active-extras"] = [_active_dict(a) for a in lock.active_extras]
    return tomli_w.dumps(doc)


def _active_dict(a: ActiveExtra) -> dict[str, Any]:
    return {
        "package": a.package,
        "version": a.version,
        "extra": a.extra,
        "provides": [{"name": n, "version": v, "from": src} for n, v, src in a.provides],
    }


def _active_from(a: dict[str, Any], path: str, where: str) -> ActiveExtra:
    package = _str(a, "package", path, where)
    if not _NAME.match(package):
        raise _bad(path, where, "package", f"{package!r} is not a project name")
    provides = []
    for j, p in enumerate(_list(a, "provides", path, where)):
        at = f"{where}.provides[{j}]"
        provides.append(
            (_name(p, path, at), _str(p, "version", path, at), _str(p, "from", path, at))
        )
    return ActiveExtra(
        package=canonicalize_name(package),
        version=_str(a, "version", path, where),
        extra=_str(a, "extra", path, where),
        provides=tuple(provides),
    )


def _package(pin: Pin) -> dict[str, Any]:
    """One pin as a PEP 751 package: its wheels, or the sdist it is built from."""
    pkg: dict[str, Any] = {"name": pin.name, "version": pin.version}
    if pin.requires_python:
        pkg["requires-python"] = pin.requires_python
    if pin.index:
        pkg["index"] = pin.index
    if pin.from_sdist:
        pkg["sdist"] = _file(pin.files[0])
    else:
        pkg["wheels"] = [_file(f) for f in pin.files]
    tool: dict[str, Any] = {
        "source": pin.source,
        "via": list(pin.via),
        "requires-dist": list(pin.requires_dist),
    }
    if pin.image_version:
        tool["image-version"] = pin.image_version
    if pin.override_chain:
        tool["override-chain"] = pin.override_chain
    if pin.from_sdist:
        tool["build-requires"] = list(pin.build_requires)
    if pin.built_wheel is not None:
        tool["built-wheel"] = _file(pin.built_wheel)
    pkg["tool"] = {"wheelhouse": tool}
    return pkg


def _file(f: LockedFile) -> dict[str, Any]:
    w: dict[str, Any] = {"name": f.filename}
    if f.upload_time is not None:
        w["upload-time"] = _utc(f.upload_time)
    if f.url:
        w["url"] = f.url
    if f.size is not None:
        w["size"] = f.size
    w["hashes"] = dict(sorted(f.hashes.items()))
    return w


def parse_pylock(text: str, path: str = "<pylock>") -> Lock:
    """A pylock.toml made by wheelhouse; anything malformed is a UsageError naming the file
    and the field (the lock drives downloads and installs: every value is checked here)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise UsageError(f"{path}: not valid TOML: nested too deeply") from None
    tool = _table(_table(doc, "tool", path, "", {}), "wheelhouse", path, "tool", None)
    if tool is None:
        raise UsageError(f"{path}: not made by wheelhouse (no [tool.wheelhouse] table)")
    environments = _strings(doc, "environments", path, "")
    if not environments:
        raise UsageError(f"{path}: malformed pylock.toml: 'environments' is empty")
    target = _target(_table(tool, "target", path, "tool.wheelhouse"), environments[0], path)
    pins = [_pin(pkg, path, f"packages[{i}]") for i, pkg in enumerate(_list(doc, "packages", path))]
    pins += [
        _pin(pkg, path, f"tool.wheelhouse.build-packages[{i}]", build=True)
        for i, pkg in enumerate(_list(tool, "build-packages", path, "tool.wheelhouse"))
    ]
    for i, p in enumerate(_list(tool, "image-provided", path, "tool.wheelhouse")):
        where = f"tool.wheelhouse.image-provided[{i}]"
        pins.append(
            Pin(
                name=_name(p, path, where),
                version=_str(p, "version", path, where),  # the image's, as it reports it
                source="image",
                via=tuple(_strings(p, "via", path, where)),
            )
        )
    return Lock(
        target=target,
        pins=tuple(pins),
        input_digest=_str(tool, "input-digest", path, "tool.wheelhouse", ""),
        requirements=tuple(_strings(tool, "requirements", path, "tool.wheelhouse")),
        exclude_newer=_str(tool, "exclude-newer", path, "tool.wheelhouse", "") or None,
        notes=tuple(_strings(tool, "notes", path, "tool.wheelhouse")),
        indexes=tuple(_strings(tool, "indexes", path, "tool.wheelhouse")),
        active_extras=tuple(
            _active_from(a, path, f"tool.wheelhouse.active-extras[{i}]")
            for i, a in enumerate(_list(tool, "active-extras", path, "tool.wheelhouse"))
        ),
        stand_in=_value(tool, "stand-in", bool, path, "tool.wheelhouse", False),
    )


_MISSING: Any = object()
_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


def _bad(path: str, where: str, key: str, problem: str) -> UsageError:
    field = f"{where}.{key}" if where else key
    return UsageError(f"{path}: malformed pylock.toml: {field} {problem}")


def _value(table: dict[str, Any], key: str, kind: type, path: str, where: str, default: Any) -> Any:
    value = table.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise _bad(path, where, key, "is missing")
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad(path, where, key, f"is {type(value).__name__}, not {kind.__name__}")
    return value


def _table(t: dict[str, Any], key: str, path: str, where: str, default: Any = _MISSING) -> Any:
    return _value(t, key, dict, path, where, default)


def _list(t: dict[str, Any], key: str, path: str, where: str = "") -> list[dict[str, Any]]:
    items = _value(t, key, list, path, where, [])
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(path, where, f"{key}[{i}]", "is not a table")
    return list(items)


def _str(t: dict[str, Any], key: str, path: str, where: str, default: Any = _MISSING) -> Any:
    return _value(t, key, str, path, where, default)


def _strings(t: dict[str, Any], key: str, path: str, where: str) -> list[str]:
    items = _value(t, key, list, path, where, [])
    if not all(isinstance(i, str) for i in items):
        raise _bad(path, where, key, "is not a list of strings")
    return list(items)


def _name(t: dict[str, Any], path: str, where: str) -> NormalizedName:
    name = _str(t, "name", path, where)
    if not _NAME.match(name):
        raise _bad(path, where, "name", f"{name!r} is not a project name")
    return canonicalize_name(name)


def _version(t: dict[str, Any], path: str, where: str) -> str:
    version = _str(t, "version", path, where)
    try:
        Version(version)
    except InvalidVersion:
        raise _bad(path, where, "version", f"{version!r} is not a version") from None
    return str(version)


_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def _target(t: dict[str, Any], environment: str, path: str) -> LockTarget:
    where = "tool.wheelhouse.target"
    python = _str(t, "python-version", path, where)
    try:
        Version(python)
    except InvalidVersion:
        raise _bad(path, where, "python-version", f"{python!r} is not a version") from None
    markers = _table(t, "markers", path, where)
    if not all(isinstance(v, str) for v in markers.values()):
        raise _bad(path, where, "markers", "is not a table of strings")
    tags = _strings(t, "tags", path, where)
    for tag in tags:
        if tag.count("-") != 2 or not all(tag.split("-")):
            raise _bad(path, where, "tags", f"holds {tag!r}, not a wheel tag")
    return LockTarget(
        profile_name=_str(t, "profile", path, where),
        profile_digest=_str(t, "profile-digest", path, where),
        python_version=python,
        implementation=_str(t, "implementation", path, where),
        abis=tuple(_strings(t, "abis", path, where)),
        platforms=tuple(_strings(t, "platforms", path, where)),
        tags=tuple(tags),
        markers=dict(markers),
        environment=environment,
    )


def _pin(pkg: dict[str, Any], path: str, where: str, build: bool = False) -> Pin:
    """A package (or, `build`, a build requirement of the locked sdists)."""
    ptool = _table(_table(pkg, "tool", path, where, {}), "wheelhouse", path, f"{where}.tool", {})
    twhere = f"{where}.tool.wheelhouse"
    source = _str(ptool, "source", path, twhere, "build" if build else "install")
    allowed = ("build",) if build else ("install", "override")
    if source not in allowed:
        raise _bad(path, twhere, "source", f"is {source!r}, not {' or '.join(allowed)}")
    files = tuple(
        _wheel(w, path, f"{where}.wheels[{i}]")
        for i, w in enumerate(_list(pkg, "wheels", path, where))
    )
    sdist = _table(pkg, "sdist", path, where, None)
    if sdist is not None:
        if files:
            raise _bad(path, where, "sdist", "stands beside wheels (wheelhouse locks one)")
        files = (_wheel(sdist, path, f"{where}.sdist"),)
    built = _table(ptool, "built-wheel", path, twhere, None)
    return Pin(
        name=_name(pkg, path, where),
        version=_version(pkg, path, where),
        source=source,
        files=files,
        via=tuple(_strings(ptool, "via", path, twhere)),
        image_version=_str(ptool, "image-version", path, twhere, None),
        requires_dist=tuple(_strings(ptool, "requires-dist", path, twhere)),
        requires_python=_str(pkg, "requires-python", path, where, None),
        index=_str(pkg, "index", path, where, None),
        override_chain=_str(ptool, "override-chain", path, twhere, ""),
        build_requires=tuple(_strings(ptool, "build-requires", path, twhere)),
        built_wheel=_wheel(built, path, f"{twhere}.built-wheel") if built else None,
    )


def _wheel(w: dict[str, Any], path: str, where: str) -> LockedFile:
    """A file entry (a wheel, or the sdist table), every field checked."""
    hashes = _table(w, "hashes", path, where)
    for algorithm, digest in hashes.items():
        size = _HEX.get(algorithm)
        if not isinstance(digest, str) or (
            size and not re.fullmatch(f"[0-9a-f]{{{size}}}", digest)
        ):
            raise _bad(path, where, f"hashes.{algorithm}", "is not a hex digest")
    if "sha256" not in hashes:
        raise _bad(path, where, "hashes", "has no sha256")
    size = _value(w, "size", int, path, where, None)
    if size is not None and size < 0:
        raise _bad(path, where, "size", "is negative")
    uploaded = _value(w, "upload-time", datetime, path, where, None)
    return LockedFile(
        filename=_str(w, "name", path, where),
        hashes=dict(hashes),
        url=_str(w, "url", path, where, None),
        size=size,
        upload_time=uploaded,
    )

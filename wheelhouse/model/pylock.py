"""`pylock.toml` (PEP 751): the same pins with file URLs, and the full target for machines.

`environments` and `requires-python` name every interpreter the lock installs on (the
target's minor, narrowed by the packages' Requires-Python), so that installers such as uv
take it on any patch release of the image; the exact profile lives under `[tool.wheelhouse]`
with wheelhouse's other facts. Rendered by a pure function (same Lock, same bytes).
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

from packaging.utils import canonicalize_name

from wheelhouse import __version__
from wheelhouse.errors import UsageError
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
    return tomli_w.dumps(doc)


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


def _locked(w: dict[str, Any]) -> LockedFile:
    return LockedFile(
        filename=w["name"],
        hashes=dict(w["hashes"]),
        url=w.get("url"),
        size=w.get("size"),
        upload_time=w.get("upload-time"),
    )


def _pin(pkg: dict[str, Any], default_source: str = "install") -> Pin:
    ptool = pkg.get("tool", {}).get("wheelhouse", {})
    wheels = pkg.get("wheels", [])
    files = tuple(_locked(w) for w in wheels) or (
        (_locked(pkg["sdist"]),) if "sdist" in pkg else ()
    )
    return Pin(
        name=canonicalize_name(pkg["name"]),
        version=pkg["version"],
        source=ptool.get("source", default_source),
        files=files,
        via=tuple(ptool.get("via", ())),
        image_version=ptool.get("image-version"),
        requires_dist=tuple(ptool.get("requires-dist", ())),
        requires_python=pkg.get("requires-python"),
        index=pkg.get("index"),
        build_requires=tuple(ptool.get("build-requires", ())),
        built_wheel=_locked(ptool["built-wheel"]) if "built-wheel" in ptool else None,
    )


def parse_pylock(text: str, path: str = "<pylock>") -> Lock:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from exc
    try:
        tool = doc.get("tool", {}).get("wheelhouse")
        if tool is None:
            raise UsageError(f"{path}: not made by wheelhouse (no [tool.wheelhouse] table)")
        t = tool["target"]
        target = LockTarget(
            profile_name=t["profile"],
            profile_digest=t["profile-digest"],
            python_version=t["python-version"],
            implementation=t["implementation"],
            abis=tuple(t["abis"]),
            platforms=tuple(t["platforms"]),
            tags=tuple(t["tags"]),
            markers=dict(t["markers"]),
            environment=doc["environments"][0],
        )
        pins = [_pin(pkg) for pkg in doc.get("packages", [])]
        pins += [_pin(pkg, "build") for pkg in tool.get("build-packages", [])]
        for p in tool.get("image-provided", []):
            pins.append(
                Pin(
                    name=canonicalize_name(p["name"]),
                    version=p["version"],
                    source="image",
                    via=tuple(p.get("via", ())),
                )
            )
        return Lock(
            target=target,
            pins=tuple(pins),
            input_digest=tool.get("input-digest", ""),
            requirements=tuple(tool.get("requirements", ())),
            exclude_newer=tool.get("exclude-newer") or None,
            notes=tuple(tool.get("notes", ())),
            indexes=tuple(tool.get("indexes", ())),
            stand_in=bool(tool.get("stand-in", False)),
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise UsageError(f"{path}: malformed pylock.toml: missing or wrong {exc}") from exc

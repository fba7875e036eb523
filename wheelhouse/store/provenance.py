"""Where a wheel built by wheelhouse came from: the sdist (and its hash), the builder, the
interpreter. Kept with the wheel's entry in the wheelhouse catalog (`wheelhouse.json`, written
by `wheelhouse.mirror.catalog`); read here too, so that `install` can check a built wheel
without depending on the mirror.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wheelhouse.errors import UsageError
from wheelhouse.store.layout import Wheelhouse


@dataclass(frozen=True)
class Provenance:
    """How one wheel in the wheelhouse was built."""

    sdist: str  # file name of the sdist, in the same wheelhouse
    sdist_sha256: str
    builder: str  # the interpreter it ran (a path), or "docker:IMAGE"
    python_version: str  # the interpreter's full version
    backend: str  # the PEP 517 backend
    build_requires: tuple[str, ...] = ()  # the build environment (name==version)
    source_date_epoch: int = 0
    network: bool = False  # True where the build could reach the network
    # compiled against this host's newer glibc, for an image stand-in that runs here: kept
    # out of the index and refused by install (it may not load in the image itself)
    host_only: bool = False

    @property
    def python_minor(self) -> str:
        return ".".join(self.python_version.split(".")[:2])

    def to_dict(self) -> dict[str, Any]:
        return {
            "sdist": self.sdist,
            "sdist_sha256": self.sdist_sha256,
            "builder": self.builder,
            "python_version": self.python_version,
            "backend": self.backend,
            "build_requires": list(self.build_requires),
            "source_date_epoch": self.source_date_epoch,
            "network": self.network,
            "host_only": self.host_only,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        return cls(
            sdist=str(data["sdist"]),
            sdist_sha256=str(data["sdist_sha256"]),
            builder=str(data["builder"]),
            python_version=str(data["python_version"]),
            backend=str(data.get("backend", "")),
            build_requires=tuple(str(r) for r in data.get("build_requires", ())),
            source_date_epoch=int(data.get("source_date_epoch", 0)),
            network=bool(data.get("network", False)),
            host_only=bool(data.get("host_only", False)),
        )


def built_wheels(wheelhouse: Wheelhouse) -> dict[str, tuple[str, Provenance]]:
    """Every built wheel the catalog lists: file name -> (its sha256, its provenance)."""
    path = wheelhouse.catalog_path
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(r["filename"]): (str(r["sha256"]), Provenance.from_dict(r["built"]))
            for r in doc["files"]
            if r.get("built")
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: unreadable wheelhouse catalog ({exc}); remove it") from exc

"""A small OSV export (the format of PyPI's all.zip), built by the tests."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def advisory(
    ident: str,
    name: str,
    *,
    ranges: Sequence[Sequence[tuple[str, str]]] = (),
    versions: Sequence[str] = (),
    aliases: Sequence[str] = (),
    ecosystem: str = "PyPI",
    modified: str = "2024-03-01T00:00:00Z",
    withdrawn: str | None = None,
) -> dict[str, Any]:
    """One OSV record about one project; each range is a list of (event, version)."""
    doc: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": modified,
        "aliases": list(aliases),
        "summary": f"{name}: a problem found by the tests",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{k: v} for k, v in r]} for r in ranges],
                "versions": list(versions),
            }
        ],
    }
    if withdrawn:
        doc["withdrawn"] = withdrawn
    return doc


def write_export(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for doc in records:
            zf.writestr(f"{doc['id']}.json", json.dumps(doc))
    return path


def fixture_records() -> list[dict[str, Any]]:
    """An advisory for the built-in image's werkzeug 1.0.1, one for the lock's alpha 1.0,
    and some that must not match (fixed before, last_affected before, withdrawn, npm)."""
    return [
        advisory(
            "GHSA-test-werk-0001",
            "Werkzeug",
            ranges=[[("introduced", "0"), ("fixed", "2.2.3")]],
            aliases=["CVE-2099-0001"],
        ),
        advisory("PYSEC-2099-2", "alpha", versions=["1.0"], aliases=["CVE-2099-0002"]),
        advisory("PYSEC-2099-3", "alpha", ranges=[[("introduced", "0"), ("fixed", "0.9")]]),
        advisory(
            "PYSEC-2099-4", "alpha", ranges=[[("introduced", "0.1"), ("last_affected", "0.5")]]
        ),
        advisory(
            "PYSEC-2099-5",
            "alpha",
            ranges=[[("introduced", "0")]],
            withdrawn="2024-01-01T00:00:00Z",
        ),
        advisory("GHSA-test-npm-0001", "alpha", ranges=[[("introduced", "0")]], ecosystem="npm"),
    ]

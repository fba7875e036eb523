"""`audit`: the locked packages and the image's own against OSV's advisories, offline.

The advisories come from a file (an OSV export zip) or from the copy `sync --advisories`
keeps in the wheelhouse; the report says how old that data is. Each finding names the
package, its version, whether it is the artifact's or the image's, the advisory with its
aliases and the fixed versions. `ignore` (id or alias -> reason) silences a finding without
hiding it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from wheelhouse.errors import UsageError
from wheelhouse.model.lock import Lock
from wheelhouse.model.osv import AdvisoryDB, ExportSource, read_export
from wheelhouse.model.profile import Profile
from wheelhouse.store.layout import Wheelhouse

Owner = Literal["artifact", "image"]


@dataclass(frozen=True)
class AuditedPackage:
    name: str
    version: str
    owner: Owner


@dataclass(frozen=True)
class AuditFinding:
    package: str
    version: str
    owner: Owner
    advisory: str
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]
    summary: str
    ignored: str | None = None  # the reason, when the user ignored it

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "owner": self.owner,
            "advisory": self.advisory,
            "aliases": list(self.aliases),
            "fixed": list(self.fixed),
            "summary": self.summary,
            "ignored": self.ignored,
        }


@dataclass(frozen=True)
class DataAge:
    """How old the advisory data is: its newest record, and when it was fetched."""

    source: str
    records: int
    newest: datetime | None
    fetched: datetime | None

    def days(self, now: datetime) -> int | None:
        at = self.fetched or self.newest
        return (now - at).days if at else None


@dataclass(frozen=True)
class AuditReport:
    packages: tuple[AuditedPackage, ...]
    findings: tuple[AuditFinding, ...]
    data: DataAge
    checked_at: datetime

    @property
    def ok(self) -> bool:
        return not any(f.ignored is None for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "packages": len(self.packages),
            "findings": [f.to_dict() for f in self.findings],
            "advisories": {
                "source": self.data.source,
                "records": self.data.records,
                "newest": self.data.newest.isoformat() if self.data.newest else None,
                "fetched": self.data.fetched.isoformat() if self.data.fetched else None,
                "age_days": self.data.days(self.checked_at),
            },
        }


def load_advisories(export: Path | None, wheelhouse: Path | None) -> tuple[AdvisoryDB, DataAge]:
    """The advisories from an export zip, or the copy kept in a wheelhouse."""
    if export is not None and wheelhouse is None:
        db = read_export(export)
        return db, DataAge(str(export), db.records, db.newest, None)
    if wheelhouse is None or export is not None:
        raise UsageError("give --advisories FILE or --wheelhouse DIR (one of them)")
    wh = Wheelhouse(Path(wheelhouse))
    if not wh.advisories_export.is_file():
        raise UsageError(
            f"{wheelhouse} keeps no advisories: run wheelhouse sync --advisories URL first"
        )
    source = ExportSource.read(wh.advisories_source)
    db = read_export(wh.advisories_export)
    label = f"{source.url if source else wh.advisories_export} (kept in {wheelhouse})"
    return db, DataAge(label, db.records, db.newest, source.fetched if source else None)


def audited_packages(lock: Lock, image: Profile | None) -> list[AuditedPackage]:
    """What the lock installs, and what the image has (its whole set when known)."""
    out = [AuditedPackage(p.name, p.version, "artifact") for p in lock.to_install()]
    if image is not None:
        out += [AuditedPackage(d.name, d.version, "image") for d in image.installed]
    else:
        out += [AuditedPackage(p.name, p.version, "image") for p in lock.image_provided()]
    return out


def audit(
    packages: Sequence[AuditedPackage],
    db: AdvisoryDB,
    data: DataAge,
    ignore: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> AuditReport:
    """Every advisory that affects one of `packages`; those in `ignore` carry its reason."""
    ignore = ignore or {}
    findings = []
    for pkg in sorted(packages, key=lambda p: (p.owner, p.name)):
        for adv in db.matching(pkg.name, pkg.version):
            finding = AuditFinding(
                package=pkg.name,
                version=pkg.version,
                owner=pkg.owner,
                advisory=adv.id,
                aliases=adv.aliases,
                fixed=adv.fixed_versions(pkg.name),
                summary=adv.summary,
            )
            reason = next((ignore[n] for n in sorted(adv.names()) if n in ignore), None)
            findings.append(replace(finding, ignored=reason) if reason else finding)
    return AuditReport(tuple(packages), tuple(findings), data, now or datetime.now(timezone.utc))


def parse_ignores(values: Sequence[str]) -> dict[str, str]:
    """`--ignore ID=REASON` values: an advisory is silenced only with a reason given."""
    out = {}
    for value in values:
        ident, sep, reason = value.partition("=")
        if not sep or not ident.strip() or not reason.strip():
            raise UsageError(f"--ignore {value!r}: give ID=REASON (why it does not apply)")
        out[ident.strip()] = reason.strip()
    return out


def render_audit(report: AuditReport) -> str:
    """The report for people: one block per finding, then the data's age and a verdict."""
    lines = []
    for f in report.findings:
        aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
        fixed = f"fixed in {', '.join(f.fixed)}" if f.fixed else "no fixed version"
        lines.append(f"{f.package} {f.version} [{f.owner}]: {f.advisory}{aliases}; {fixed}")
        if f.summary:
            lines.append(f"    {f.summary.splitlines()[0][:160]}")
        if f.ignored:
            lines.append(f"    ignored: {f.ignored}")
    lines.append(_age_line(report))
    open_ = sum(1 for f in report.findings if f.ignored is None)
    lines.append(
        f"{len(report.packages)} packages checked: "
        + (f"{open_} vulnerable" if open_ else "no known vulnerability")
        + (f", {len(report.findings) - open_} ignored" if len(report.findings) > open_ else "")
    )
    return "\n".join(lines) + "\n"


def _age_line(report: AuditReport) -> str:
    data = report.data
    newest = data.newest.date().isoformat() if data.newest else "undated"
    fetched = f", fetched {data.fetched.date().isoformat()}" if data.fetched else ""
    days = data.days(report.checked_at)
    age = f": {days} days old" if days is not None else ""
    return f"advisories: {data.records} records from {data.source}, newest {newest}{fetched}{age}"

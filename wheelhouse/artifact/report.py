"""What verify found: findings with a check, a severity and a subject; the report that
holds them, as JSON for machines and as text for people (failures first, then the verdict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    check: str  # files, manifest, lock, tags, python, dependencies, overrides, imports
    severity: Severity
    subject: str
    message: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        data = {"check": self.check, "severity": self.severity, "subject": self.subject}
        data["message"] = self.message
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass(frozen=True)
class VerifyReport:
    artifact: str
    python_version: str
    dists: tuple[tuple[str, str], ...]
    findings: tuple[Finding, ...]
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "artifact": self.artifact,
            "python_version": self.python_version,
            "dists": [{"name": n, "version": v} for n, v in self.dists],
            "checked": dict(self.checked),
            "findings": [f.to_dict() for f in self.findings],
        }


def render_text(report: VerifyReport) -> str:
    """The report for a person: failures first, then what was noted, then the verdict."""
    lines = [
        f"verify {report.artifact} for Python {report.python_version}: "
        f"{report.checked.get('distributions', 0)} distributions, "
        f"{report.checked.get('files', 0)} files"
    ]
    for severity in ("error", "warning", "info"):
        for f in (f for f in report.findings if f.severity == severity):
            lines.append(f"  {severity.upper():7} [{f.check}] {f.subject}: {f.message}")
            lines += [f"            | {line}" for line in f.detail.splitlines()]
    errors = len(report.errors())
    lines.append(
        "OK: the artifact fits the lock and the target"
        if report.ok
        else f"FAILED: {errors} problem{'s' if errors != 1 else ''}"
    )
    return "\n".join(lines) + "\n"

"""Why resolution failed, in words a person can act on: who requires what, or why no file
of a project fits the target (Requires-Python, tags, sdist only, upload date, yanked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.model.requirements import Req
from wheelhouse.resolver.candidates import filter_files, pinned_exactly
from wheelhouse.resolver.provider import Provider


def explain_conflict(causes: Sequence[Any], provider: Provider) -> str:
    """A message a person can act on: who requires what, or why nothing fits the target."""
    lines: list[str] = []
    by_name: dict[str, list[Any]] = {}
    for c in causes:
        by_name.setdefault(c.requirement.name, []).append(c)
    for name, items in by_name.items():
        items = _culprits(items)
        chain = []
        for c in items:
            req: Req = c.requirement
            if c.parent is None:
                if req.origin == "image":
                    installed = provider.image.get(req.name)
                    shown = installed.version if installed else ""
                    chain.append(f"the image has {req.name} {shown}".strip())
                else:
                    chain.append(f"you asked {req.shown} ({req.source})")
            else:
                chain.append(f"{c.parent.shown} requires {req.shown}")
        spec = SpecifierSet()
        for c in items:
            spec &= c.requirement.specifier
        if len(chain) > 1 or any(c.parent is not None for c in items):
            lines.append("; ".join(dict.fromkeys(chain)))
        if len(chain) > 1:
            if any(
                c.requirement.origin == "image" or (c.parent is not None and c.parent.installed)
                for c in items
            ):
                lines.append(
                    f"an override of the image's {name} must still satisfy every "
                    "image package that depends on it"
                )
            continue
        hint = explain_no_candidates(canonicalize_name(name), spec, provider)
        if hint:
            lines.append(hint if len(chain) > 1 else f"{'; '.join(chain)}: {hint}")
        elif len(chain) == 1 and not lines:
            lines.append(chain[0])
    body = "\n  ".join(dict.fromkeys(lines))
    return (
        f"no versions satisfy the requirements for {provider.profile.name} "
        f"(Python {provider.profile.python_version}):\n  {body}"
    )


def _culprits(items: list[Any]) -> list[Any]:
    """Drop the packages that accept what the user pinned: they are not in the way."""
    pins = [
        Version(spec.version)
        for c in items
        if c.parent is None and c.requirement.origin == "user"
        for spec in c.requirement.specifier
        if spec.operator == "==" and "*" not in spec.version
    ]
    if not pins:
        return items
    kept = [
        c
        for c in items
        if c.parent is None or not all(c.requirement.specifier.contains(v, True) for v in pins)
    ]
    return kept if any(c.parent is not None for c in kept) else items


def explain_no_candidates(name: NormalizedName, spec: SpecifierSet, provider: Provider) -> str:
    """Why no candidate of `name` matched `spec` on the target ('' if some exist)."""
    image = provider.image.get(name)
    repo = provider.repo
    files = repo.files(name)
    if not files:
        if image is not None:
            return ""
        searched = ", ".join(repo.sources()) or "no index or find-links at all"
        if not repo.exists(name):
            return f"no project named {name!r} (searched: {searched})"
        return f"{name} has no files (searched: {searched})"
    filtered = filter_files(
        files,
        provider.profile,
        provider.options,
        provider.ranks,
        allow_yanked=pinned_exactly(spec),
    )
    matching = list(spec.filter(filtered.candidates))
    if matching:
        return ""
    all_versions = {f.version for f in files}
    wanted = sorted(spec.filter(all_versions, prereleases=True), reverse=True)
    newest_fit = max(filtered.candidates) if filtered.candidates else None
    parts = []
    if not wanted:
        newest = max(all_versions)
        parts.append(f"{name} has no version matching {spec or 'any'} (newest is {newest})")
    else:
        top = wanted[0]
        reason = []
        if top in filtered.wrong_python:
            # the most common reason by far (numpy 2 on Python 3.7): say it first
            reason.append(
                f"requires Python {filtered.wrong_python[top]} "
                f"(the target has {provider.profile.python_version})"
            )
        if top in filtered.no_wheel:
            reason.append(
                f"no wheel for the target's tags (looked for "
                f"{', '.join(provider.profile.tags[:3])}, … "
                f"{len(provider.profile.tags)} tags in all)"
            )
            reason.append(
                "an sdist exists but wheelhouse locks wheels only"
                " (lock --allow-sdist NAME builds it)"
                if filtered.no_wheel[top]
                else "and no sdist for it either"
            )
        if top in filtered.too_new:
            reason.append(f"uploaded after --exclude-newer {provider.options.exclude_newer}")
        if top in filtered.yanked:
            reason.append("yanked")
        if not reason:
            reason.append(
                f"its metadata's Requires-Python excludes {provider.profile.python_version}"
            )
        parts.append(f"{name} {top}: " + "; ".join(reason))
    if newest_fit is not None:
        parts.append(f"the newest {name} with a wheel for the target is {newest_fit}")
    else:
        parts.append(f"no version of {name} has a wheel for the target")
    if filtered.no_time:
        parts.append(
            f"{filtered.no_time} file(s) have no upload time and were skipped under --exclude-newer"
        )
    return "; ".join(parts)

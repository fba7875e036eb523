"""Why resolution failed, in words a person can act on: who requires what, or why no file
of a project fits the target (Requires-Python, tags, sdist only, upload date, yanked,
unreadable metadata); and why an image package had to be replaced (its chain).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.model.requirements import Req
from wheelhouse.resolver.candidates import Filtered, filter_files, pinned_exactly
from wheelhouse.resolver.provider import Candidate, Provider, identify

CHAIN_LIMIT = 12  # links shown of one chain; dependency graphs are shallow in practice


def override_chain(result: Any, overridden: Candidate, provider: Provider) -> str:
    """The requirements that forced an override, from what the user asked down to the one
    that excludes the image's copy: 'you asked a (…) → a 2.0 requires b>=2'."""
    image = provider.image[overridden.name]
    excluding = [
        i
        for ident in (identify(overridden.name, ()), identify(overridden.name, overridden.extras))
        if ident in result.criteria
        for i in result.criteria[ident].information
        if not i.requirement.specifier.contains(Version(image.version), prereleases=True)
    ]
    if not excluding:
        return "no requirement excludes the image's copy"
    links: list[str] = []
    info = min(excluding, key=lambda i: i.parent is not None)  # the user's own first
    seen: set[str] = set()
    while info is not None and len(links) < CHAIN_LIMIT:
        links.append(_link(info))
        parent = info.parent
        if parent is None or parent.name in seen:
            break
        seen.add(parent.name)
        info = _how_it_came(result, parent)
    return " → ".join(reversed(links))


def _link(info: Any) -> str:
    req: Req = info.requirement
    if info.parent is None:
        where = "command line" if req.source.startswith("argument") else req.source
        return f"you asked {req.shown} ({where})"
    return f"{req.source} requires {req.shown}"  # the source says so when an extra did


def _how_it_came(result: Any, cand: Candidate) -> Any:
    """One requirement that brought `cand` in: the user's own first, the image's last."""
    ident = identify(cand.name, cand.extras)
    infos = list(result.criteria[ident].information) if ident in result.criteria else []
    infos = [i for i in infos if i.requirement.origin != "image"]
    if not infos:
        return None
    return min(infos, key=lambda i: (i.parent is not None, bool(i.parent and i.parent.installed)))


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
    matching = sorted(spec.filter(filtered.candidates), reverse=True)
    if any(_metadata_refusal(name, v, filtered, provider) is None for v in matching):
        return ""
    all_versions = {f.version for f in files}
    wanted = sorted(spec.filter(all_versions, prereleases=True), reverse=True)
    parts = []
    if not wanted:
        newest = max(all_versions)
        parts.append(f"{name} has no version matching {spec or 'any'} (newest is {newest})")
    else:
        top = wanted[0]
        parts.append(f"{name} {top}: " + "; ".join(_refusals(name, top, filtered, provider)))
    newest_fit = _newest_fit(name, filtered, provider)
    if newest_fit is not None:
        parts.append(f"the newest {name} with a wheel for the target is {newest_fit}")
    else:
        parts.append(f"no version of {name} has a wheel for the target")
    if filtered.no_time:
        parts.append(
            f"{filtered.no_time} file(s) have no upload time and were skipped under --exclude-newer"
        )
    return "; ".join(parts)


def _refusals(
    name: NormalizedName, top: Version, filtered: Filtered, provider: Provider
) -> list[str]:
    """Every reason the target cannot have `name` `top`, never none."""
    target = provider.profile
    reason = []
    if top in filtered.wrong_python:
        # the most common reason by far (numpy 2 on Python 3.7): say it first
        reason.append(
            f"requires Python {filtered.wrong_python[top]} (the target has {target.python_version})"
        )
    if top in filtered.no_wheel:
        reason.append(
            f"no wheel for the target's tags (looked for {', '.join(target.tags[:3])}, … "
            f"{len(target.tags)} tags in all)"
        )
        reason.append(
            "an sdist exists but wheelhouse locks wheels only (lock --allow-sdist NAME builds it)"
            if filtered.no_wheel[top]
            else "and no sdist for it either"
        )
    if top in filtered.too_new:
        reason.append(f"uploaded after --exclude-newer {provider.options.exclude_newer}")
    if top in filtered.yanked:
        reason.append("yanked")
    if not reason and top in filtered.candidates:
        reason.append(_metadata_refusal(name, top, filtered, provider) or "")
    if not any(reason):
        reason = ["no file of it fits the target"]
    return [r for r in reason if r]


def _metadata_refusal(
    name: NormalizedName, version: Version, filtered: Filtered, provider: Provider
) -> str | None:
    """Why a release with a fitting wheel is still refused by its metadata (None: it is not)."""
    files = tuple(filtered.candidates[version])
    meta = provider.metadata(name, version, files)
    if meta is None:
        reason = provider.notes.unreadable.get((name, version), "unknown reason")
        return f"its metadata cannot be read ({reason.splitlines()[0]})"
    if not provider.profile.accepts_python(meta.requires_python):
        return (
            f"its metadata's Requires-Python {meta.requires_python} excludes "
            f"{provider.profile.python_version}"
        )
    return None


HINT_LOOKUPS = 25  # releases whose metadata a hint may read, newest first


def _newest_fit(name: NormalizedName, filtered: Filtered, provider: Provider) -> Version | None:
    """The newest release with a wheel for the target whose metadata accepts it too."""
    for version in sorted(filtered.candidates, reverse=True)[:HINT_LOOKUPS]:
        if _metadata_refusal(name, version, filtered, provider) is None:
            return version
    return None

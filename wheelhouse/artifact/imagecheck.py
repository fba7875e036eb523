"""Which of the image's packages an artifact can break: those that depend, directly or
through other image packages, on a package the artifact shadows.

The image's packages are read from the target's own interpreter (the image or its stand-in)
by the stdlib-only snapshot script, without the artifact on the path; their Requires-Dist
are evaluated for the target's markers. The modules found here are then imported with the
artifact first on the path (`imports`), so a newer copy that dropped what an image package
uses fails the check instead of the deployment.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.errors import UsageError
from wheelhouse.interpreters import resolve_interpreter, target_env
from wheelhouse.model.legacy import parse_lenient
from wheelhouse.model.profile import Profile, snapshot_script

SCAN_TIMEOUT = 120


@dataclass(frozen=True)
class ImageDist:
    """One distribution the target's interpreter has, as it reports it."""

    name: NormalizedName
    version: str
    requires_dist: tuple[str, ...]
    modules: tuple[str, ...]


@dataclass(frozen=True)
class Affected:
    """An image package reached by a shadowed one: the chain from it down to the shadowed
    package (`chain[0]` is the image package, `chain[-1]` the shadowed one)."""

    dist: ImageDist
    chain: tuple[NormalizedName, ...]

    @property
    def shadowed(self) -> NormalizedName:
        return self.chain[-1]


def scan_image(python: str) -> list[ImageDist]:
    """The distributions `python` imports from by itself (no PYTHONPATH of this host)."""
    python = resolve_interpreter(python)
    try:
        proc = subprocess.run(
            [python, "-c", snapshot_script()],
            capture_output=True,
            text=True,
            env=target_env({"PYTHONDONTWRITEBYTECODE": "1"}),
            timeout=SCAN_TIMEOUT,
        )
        facts = json.loads(proc.stdout)
        return [_image_dist(d) for d in facts["distributions"]]
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"cannot list the packages of {python}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{python} did not describe its packages ({exc})") from exc


def _image_dist(data: Mapping[str, Any]) -> ImageDist:
    return ImageDist(
        name=canonicalize_name(str(data["name"])),
        version=str(data["version"]),
        requires_dist=tuple(str(r) for r in data.get("requires_dist") or ()),
        modules=tuple(str(m) for m in data.get("modules") or ()),
    )


def affected_by(
    image: Sequence[ImageDist], shadowed: set[NormalizedName], target: Profile
) -> list[Affected]:
    """Image packages that depend on a shadowed package, nearest first, each with its chain."""
    users = _reverse_dependencies(image, target)
    chains: dict[NormalizedName, tuple[NormalizedName, ...]] = {n: (n,) for n in shadowed}
    queue = sorted(shadowed)
    while queue:
        name = queue.pop(0)
        for user in sorted(users.get(name, ())):
            if user not in chains:
                chains[user] = (user, *chains[name])
                queue.append(user)
    by_name = {d.name: d for d in image}
    return [
        Affected(by_name[n], chain)
        for n, chain in sorted(chains.items(), key=lambda c: (len(c[1]), c[0]))
        if n not in shadowed and n in by_name
    ]


def _reverse_dependencies(
    image: Sequence[ImageDist], target: Profile
) -> dict[NormalizedName, set[NormalizedName]]:
    """name -> the image packages that require it on the target (base requirements)."""
    out: dict[NormalizedName, set[NormalizedName]] = {}
    for dist in image:
        for text in dist.requires_dist:
            try:
                req = parse_lenient(text).requirement
            except InvalidRequirement:
                continue  # verify's dependency check reports it
            if target.evaluate(req.marker, ("",)):
                out.setdefault(canonicalize_name(req.name), set()).add(dist.name)
    return out

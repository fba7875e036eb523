"""`wheelhouse profiles [NAME]`: the built-in target profiles and what each stands for."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "profiles",
        help="list the built-in target profiles, or print one",
        description="List the built-in target profiles (what each stands for: its Python, "
        "platform and installed packages). With NAME, print that profile's JSON: a start for "
        "a profile of your own (--image FILE), in the format the README describes.",
    )
    p.add_argument("name", nargs="?", help="print this profile's JSON")
    p.add_argument("--json", action="store_true", help="the list as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.model.profile import DEFAULT_PROFILE, builtin_profiles, load_profile

    if args.name:
        print(load_profile(args.name).to_json(), end="")
        return 0
    rows = []
    for name in builtin_profiles():
        profile = load_profile(name)
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_PROFILE,
                "python": profile.python_version,
                "platform": profile.platforms[0],
                "installed": len(profile.installed),
                "description": profile.description,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        default = " (default)" if row["default"] else ""
        print(
            f"{row['name']}{default}: Python {row['python']} {row['platform']}, "
            f"{row['installed']} packages installed"
        )
        print(
            textwrap.fill(str(row["description"]), 92, initial_indent="  ", subsequent_indent="  ")
        )
    return 0

"""Console scripts that two wheels of one lock both declare (a framework and its dashboard,
e.g. TensorFlow < 2.12 with TensorBoard): installed as pip installs them, the later wheel in
the lock's order wins. The loser does not write the script and its RECORD does not list it,
so the manifest and every RECORD describe the files that are really there. Two wheels
claiming one module file stay refused (`destination`).
"""

from __future__ import annotations

import configparser
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.artifact.wheelsource import METADATA_MEMBER, check_directory_size, mapped
from wheelhouse.errors import IntegrityError

SCRIPT_SECTIONS = ("console_scripts", "gui_scripts")


@dataclass(frozen=True)
class SharedScript:
    """One script name several wheels declare, and which of them writes it."""

    name: str
    winner: str  # "name version" of the wheel whose script is installed
    losers: tuple[str, ...]


def script_names(wheel: Path, label: str) -> set[str]:
    """The scripts a wheel installs: its entry points and its .data/scripts/ files."""
    try:
        with open(wheel, "rb") as f, mapped(f) as data:
            check_directory_size(data, label)  # before zipfile parses the directory
            with zipfile.ZipFile(f) as zf:
                return _scripts_in(zf)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise IntegrityError(f"{label}: {wheel.name} is not a readable wheel ({exc})") from None


def _scripts_in(zf: zipfile.ZipFile) -> set[str]:
    found = {_data_script(n) for n in zf.namelist()} - {""}
    entry_points = [i for i in zf.infolist() if _top_dist_info(i.filename, "entry_points.txt")]
    # an oversized one is not read here: the install refuses the wheel in its own words
    if entry_points and entry_points[0].file_size <= METADATA_MEMBER:
        text = zf.read(entry_points[0]).decode("utf-8", errors="replace")
        found |= _entry_point_scripts(text)
    return found


def shared_scripts(declared: Sequence[tuple[str, set[str]]]) -> list[SharedScript]:
    """Scripts declared by more than one wheel; `declared` is in the lock's order."""
    owners: dict[str, list[str]] = {}
    for label, names in declared:
        for name in names:
            owners.setdefault(name, []).append(label)
    return [
        SharedScript(name, labels[-1], tuple(labels[:-1]))
        for name, labels in sorted(owners.items())
        if len(labels) > 1
    ]


def _data_script(member: str) -> str:
    parts = member.split("/")
    if len(parts) == 3 and parts[0].endswith(".data") and parts[1] == "scripts" and parts[2]:
        return parts[2]
    return ""


def _top_dist_info(member: str, name: str) -> bool:
    parts = member.split("/")
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == name


def _entry_point_scripts(text: str) -> set[str]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return set()  # installer refuses the wheel with its own message
    return {n for s in SCRIPT_SECTIONS if parser.has_section(s) for n in parser.options(s)}

"""The values every part reads and writes, and their file formats: the target Profile, the
Lock and its two files (requirements.lock for pip, pylock.toml), requirements files, wheel
and sdist file names, RECORD.

Pure: no network, no subprocess; reading and writing the files named here is all the I/O.
Imports: base (errors, files) only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.model.filenames import DistName as DistName
    from wheelhouse.model.filenames import parse_filename as parse_filename
    from wheelhouse.model.filenames import wheel_fits as wheel_fits
    from wheelhouse.model.lock import Lock as Lock
    from wheelhouse.model.lock import LockedFile as LockedFile
    from wheelhouse.model.lock import LockTarget as LockTarget
    from wheelhouse.model.lock import Pin as Pin
    from wheelhouse.model.lockfiles import load_lock as load_lock
    from wheelhouse.model.lockfiles import pylock_path_for as pylock_path_for
    from wheelhouse.model.lockfiles import write_lock_files as write_lock_files
    from wheelhouse.model.profile import ImageFile as ImageFile
    from wheelhouse.model.profile import InstalledDist as InstalledDist
    from wheelhouse.model.profile import Profile as Profile
    from wheelhouse.model.profile import bare_profile as bare_profile
    from wheelhouse.model.profile import builtin_profiles as builtin_profiles
    from wheelhouse.model.profile import load_profile as load_profile
    from wheelhouse.model.pylock import parse_pylock as parse_pylock
    from wheelhouse.model.pylock import render_pylock as render_pylock
    from wheelhouse.model.record import RecordedBytes as RecordedBytes
    from wheelhouse.model.record import read_record as read_record
    from wheelhouse.model.requirements import Req as Req
    from wheelhouse.model.requirements import RequirementSet as RequirementSet
    from wheelhouse.model.requirements import read_requirements as read_requirements
    from wheelhouse.model.requirements_lock import (
        parse_requirements_lock as parse_requirements_lock,
    )
    from wheelhouse.model.requirements_lock import render_requirements as render_requirements

_EXPORTS = {
    "profile": "Profile InstalledDist ImageFile load_profile bare_profile builtin_profiles",
    "lock": "Lock LockedFile LockTarget Pin",
    "lockfiles": "load_lock write_lock_files pylock_path_for",
    "pylock": "render_pylock parse_pylock",
    "requirements_lock": "render_requirements parse_requirements_lock",
    "requirements": "Req RequirementSet read_requirements",
    "filenames": "DistName parse_filename wheel_fits",
    "record": "RecordedBytes read_record",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

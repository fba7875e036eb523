"""The only modes an installed tree may have: regular files 0644 or 0755, folders 0755.

No setuid, setgid or sticky bit, nothing group- or world-writable: `install` and `unpack`
make exactly these, `pack` writes exactly these, and `pack`, `unpack` and `verify` refuse
or report anything else, in a folder or in a tar.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODES = (0o644, 0o755)
FOLDER_MODE = 0o755
_SPECIAL = ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"), (stat.S_ISVTX, "sticky"))


def mode_problem(is_dir: bool, mode: int) -> str | None:
    """Why a file's or folder's permission bits are not allowed (None: they are)."""
    bits = stat.S_IMODE(mode)
    if bits in ((FOLDER_MODE,) if is_dir else FILE_MODES):
        return None
    named = [name for bit, name in _SPECIAL if bits & bit]
    if bits & stat.S_IWOTH:
        named.append("world-writable")
    elif bits & stat.S_IWGRP:
        named.append("group-writable")
    wanted = "0755" if is_dir else "0644 or 0755"
    return f"mode {bits:04o}" + (f" ({', '.join(named)})" if named else "") + f", not {wanted}"


def tree_mode_problems(root: Path) -> list[tuple[str, str]]:
    """(path relative to root, problem) for every folder and file whose mode is not allowed
    (the root itself as "."); links are not followed (scan_tree refuses them)."""
    out: list[tuple[str, str]] = []
    why = mode_problem(True, os.lstat(root).st_mode)
    if why:
        out.append((".", why))
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*dirnames, *sorted(filenames)]:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                continue
            why = mode_problem(stat.S_ISDIR(st.st_mode), st.st_mode)
            if why:
                out.append((Path(full).relative_to(root).as_posix(), why))
    return out

"""The lock's two files as a pair: where the pylock.toml beside a requirements lock lives,
reading either (checked against the other), and writing both at once.
"""

from __future__ import annotations

from pathlib import Path

from wheelhouse.errors import UsageError
from wheelhouse.files import AtomicFile
from wheelhouse.model.lock import Lock
from wheelhouse.model.pylock import parse_pylock, render_pylock
from wheelhouse.model.requirements_lock import (
    HEADER_DIGEST,
    parse_requirements_lock,
    render_requirements,
)


def pylock_path_for(lock_path: Path) -> Path:
    """Where the pylock.toml beside a requirements lock lives."""
    stem = lock_path.stem if lock_path.suffix in (".lock", ".txt") else lock_path.name
    name = "pylock.toml" if stem == "requirements" else f"pylock.{stem}.toml"
    return lock_path.with_name(name)


def is_pylock(path: Path) -> bool:
    return path.name == "pylock.toml" or (
        path.name.startswith("pylock.") and path.name.endswith(".toml")
    )


def load_lock(path: Path) -> Lock:
    """A lock from either file; a requirements lock picks up its pylock.toml when they agree."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read lock {path}: {exc.strerror}") from exc
    if is_pylock(path):
        return parse_pylock(text, str(path))
    lock = parse_requirements_lock(text, str(path))
    sibling = pylock_path_for(path)
    if sibling.is_file():
        full = parse_pylock(sibling.read_text(encoding="utf-8"), str(sibling))
        if full.input_digest and full.input_digest == lock.input_digest:
            if _pinned(full) != _pinned(lock):
                raise UsageError(
                    f"{path} and {sibling} disagree on what they pin (was one edited by "
                    "hand?); run wheelhouse lock again to rewrite both"
                )
            return full
    return lock


def _pinned(lock: Lock) -> set[tuple[str, str, str, frozenset[str]]]:
    """What a lock makes pip install: name, version, source and the allowed hashes."""
    return {
        (
            p.name,
            p.version,
            p.source if p.source == "image" else "install",
            frozenset(f.sha256 for f in p.files)
            | ({p.built_wheel.sha256} if p.built_wheel is not None else set()),
        )
        for p in lock.pins
        if p.source != "build"  # the requirements lock names them in comments only
    }


def lock_files_current(output: Path, pylock: Path, digest: str) -> bool:
    """True if both files were made from inputs with `digest` and not edited since."""
    return (
        _existing_digest(output) == digest
        and _existing_pylock_digest(pylock) == digest
        and _files_intact(output, pylock)
    )


def _existing_digest(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(HEADER_DIGEST):
                    return line[len(HEADER_DIGEST) :].strip()
                if not line.startswith("#"):
                    return None
    except OSError:
        return None
    return None


def _files_intact(output: Path, pylock: Path) -> bool:
    """True if both files are exactly what wheelhouse wrote (no hand edits since)."""
    try:
        lock_text = output.read_text(encoding="utf-8")
        pylock_text = pylock.read_text(encoding="utf-8")
        parsed = parse_pylock(pylock_text, str(pylock))
    except (OSError, UsageError):
        return False
    return render_pylock(parsed) == pylock_text and render_requirements(parsed) == lock_text


def _existing_pylock_digest(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    marker = 'input-digest = "'
    i = text.find(marker)
    return text[i + len(marker) : text.find('"', i + len(marker))] if i >= 0 else None


def lock_files_match(result: Lock, output: Path, pylock: Path) -> bool:
    """True if both files already hold exactly what writing `result` would write."""
    try:
        return output.read_text(encoding="utf-8") == render_requirements(
            result
        ) and pylock.read_text(encoding="utf-8") == render_pylock(result)
    except (OSError, UnicodeDecodeError):
        return False


def write_lock_files(result: Lock, output: Path, pylock: Path) -> None:
    """Both files appear together: each is written aside, then both are renamed."""
    with AtomicFile(output) as a, AtomicFile(pylock) as b:
        a.write(render_requirements(result).encode())
        b.write(render_pylock(result).encode())
        a.commit()
        b.commit()

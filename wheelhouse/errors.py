"""The one root error of wheelhouse and the few kinds the command line tells apart."""

from __future__ import annotations


class WheelhouseError(Exception):
    """A problem the user can act on; the CLI prints its message without a traceback."""

    exit_code = 1


class UsageError(WheelhouseError):
    """Bad arguments or a malformed input file (requirement, profile, lock)."""

    exit_code = 2


class ResolutionError(WheelhouseError):
    """No set of versions satisfies the requirements for the target."""

    exit_code = 3


class NetworkError(WheelhouseError):
    """An index or file server could not be reached or answered wrongly."""

    exit_code = 4


class IntegrityError(WheelhouseError):
    """Bytes do not match the hash, RECORD or lock that vouches for them."""

    exit_code = 5


class HashMismatch(IntegrityError):
    """Bytes that arrived are not the ones their index vouched for: never skipped past, as a
    release whose metadata is merely unreadable is."""


class InstallError(WheelhouseError):
    """A locked distribution cannot be installed into the target; the target is unchanged."""

    exit_code = 6


class Terminated(KeyboardInterrupt):
    """SIGTERM (how Kubernetes and systemd stop a job), handled as Ctrl-C is: what runs is
    cancelled, its clean-up runs (locks released), and the command exits 143."""

"""What `serve` is told: the wheelhouse and the credentials it requires.

From arguments, with the environment as the fallback for secrets (not visible to `ps`);
handed to worker processes through the environment. Light to import: the command line
reads the variable names from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.errors import UsageError
from wheelhouse.store.layout import Wheelhouse
from wheelhouse.store.location import is_remote, open_wheelhouse

ENV_ROOT = "WHEELHOUSE_SERVE_ROOT"
ENV_TOKEN = "WHEELHOUSE_SERVE_TOKEN"
ENV_BASIC = "WHEELHOUSE_SERVE_BASIC_AUTH"  # USER:PASSWORD
# the rest of the configuration, for worker processes
ENV_LOG_FORMAT = "WHEELHOUSE_SERVE_LOG_FORMAT"
ENV_READY_MAX_AGE = "WHEELHOUSE_SERVE_READY_MAX_AGE"
ENV_REVALIDATE = "WHEELHOUSE_SERVE_REVALIDATE"
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class ServeConfig:
    root: Path | str  # a folder, or an object storage URL (az://CONTAINER/PREFIX)
    token: str | None = None
    basic_auth: tuple[str, str] | None = None  # (user, password)
    log_format: str = "text"  # of the access log and the tool's own lines: text or json
    ready_max_age: float | None = None  # /ready fails when the last sync is older (seconds)
    revalidate: float | None = None  # seconds a cached page is trusted; None: the source's

    @property
    def requires_auth(self) -> bool:
        return bool(self.token or self.basic_auth)

    def to_env(self) -> dict[str, str]:
        """The variables a worker process rebuilds this configuration from."""
        root = self.root if is_remote(self.root) else Path(self.root).resolve()
        env = {ENV_ROOT: str(root)}
        if self.token:
            env[ENV_TOKEN] = self.token
        if self.basic_auth:
            env[ENV_BASIC] = ":".join(self.basic_auth)
        env[ENV_LOG_FORMAT] = self.log_format
        if self.ready_max_age is not None:
            env[ENV_READY_MAX_AGE] = repr(self.ready_max_age)
        if self.revalidate is not None:
            env[ENV_REVALIDATE] = repr(self.revalidate)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServeConfig:
        basic = env.get(ENV_BASIC)
        token = env.get(ENV_TOKEN)
        max_age = env.get(ENV_READY_MAX_AGE)
        revalidate = env.get(ENV_REVALIDATE)
        return cls(
            root=env[ENV_ROOT] if is_remote(env[ENV_ROOT]) else Path(env[ENV_ROOT]),
            token=None if token is None else check_token(token, f"${ENV_TOKEN}"),
            basic_auth=None if basic is None else parse_basic_auth(basic, f"${ENV_BASIC}"),
            log_format=check_log_format(env.get(ENV_LOG_FORMAT, "text"), f"${ENV_LOG_FORMAT}"),
            ready_max_age=None if max_age is None else seconds(max_age, f"${ENV_READY_MAX_AGE}"),
            revalidate=None if revalidate is None else seconds(revalidate, f"${ENV_REVALIDATE}"),
        )


def check_log_format(text: str, where: str = "--log-format") -> str:
    if text not in LOG_FORMATS:
        raise UsageError(f"{where}: {text!r} is not one of {', '.join(LOG_FORMATS)}")
    return text


def seconds(text: str, where: str) -> float:
    """A duration in seconds: a finite number, zero or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise UsageError(f"{where} wants a number of seconds, not {text!r}")
    return value


def check_token(token: str, where: str = "--token") -> str:
    """A token that can protect something: an empty or blank one would let anyone in
    (or, as it did, turn authentication off), so it is an error at start-up."""
    if not token.strip():
        raise UsageError(f"{where} is empty or blank: give a real token, or none")
    return token


def parse_basic_auth(text: str, where: str = "--basic-auth") -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user.strip():
        raise UsageError(f"{where} wants USER:PASSWORD")
    if not password.strip():
        raise UsageError(f"{where}: the password is empty or blank")
    return user, password


def serve_config(
    root: Path | str,
    token: str | None = None,
    basic_auth: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    log_format: str = "text",
    ready_max_age: float | None = None,
) -> ServeConfig:
    """The configuration for a wheelhouse that has an index; credentials given win over
    those in the environment, and one kind of credential given excludes the other."""
    check_log_format(log_format)
    if ready_max_age is not None and not 0 < ready_max_age < float("inf"):
        raise UsageError(
            f"--ready-max-age wants a positive number of seconds, not {ready_max_age!r}"
        )
    if is_remote(root):
        open_wheelhouse(root)  # the URL and the credentials' presence, checked (no network)
    elif not Wheelhouse(Path(root)).simple.is_dir():
        raise UsageError(f"{root} has no simple/ index: run `wheelhouse sync` into it first")
    env = os.environ if env is None else env
    if token is not None:
        check_token(token)
    if basic_auth is not None:
        parse_basic_auth(basic_auth)
    given = token is not None or basic_auth is not None
    # a variable that is set counts, even empty: it is refused rather than ignored
    basic_where = "--basic-auth" if basic_auth is not None else f"${ENV_BASIC}"
    basic_text = basic_auth if given else env.get(ENV_BASIC)
    token_where = "--token" if token is not None else f"${ENV_TOKEN}"
    token = token if given else (None if basic_text is not None else env.get(ENV_TOKEN))
    return ServeConfig(
        root=root if is_remote(root) else Path(root),
        token=None if token is None else check_token(token, token_where),
        basic_auth=None if basic_text is None else parse_basic_auth(basic_text, basic_where),
        log_format=log_format,
        ready_max_age=ready_max_age,
    )

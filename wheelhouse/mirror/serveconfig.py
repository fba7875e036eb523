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

ENV_ROOT = "WHEELHOUSE_SERVE_ROOT"
ENV_TOKEN = "WHEELHOUSE_SERVE_TOKEN"
ENV_BASIC = "WHEELHOUSE_SERVE_BASIC_AUTH"  # USER:PASSWORD


@dataclass(frozen=True)
class ServeConfig:
    root: Path
    token: str | None = None
    basic_auth: tuple[str, str] | None = None  # (user, password)

    @property
    def requires_auth(self) -> bool:
        return bool(self.token or self.basic_auth)

    def to_env(self) -> dict[str, str]:
        """The variables a worker process rebuilds this configuration from."""
        env = {ENV_ROOT: str(Path(self.root).resolve())}
        if self.token:
            env[ENV_TOKEN] = self.token
        if self.basic_auth:
            env[ENV_BASIC] = ":".join(self.basic_auth)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServeConfig:
        basic = env.get(ENV_BASIC)
        return cls(
            root=Path(env[ENV_ROOT]),
            token=env.get(ENV_TOKEN) or None,
            basic_auth=parse_basic_auth(basic) if basic else None,
        )


def parse_basic_auth(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise UsageError("--basic-auth wants USER:PASSWORD")
    return user, password


def serve_config(
    root: Path,
    token: str | None = None,
    basic_auth: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ServeConfig:
    """The configuration for a wheelhouse that has an index; credentials given win over
    those in the environment, and one kind of credential given excludes the other."""
    if not Wheelhouse(Path(root)).simple.is_dir():
        raise UsageError(f"{root} has no simple/ index: run `wheelhouse sync` into it first")
    env = os.environ if env is None else env
    basic_text = basic_auth or (None if token else env.get(ENV_BASIC) or None)
    token = token or (None if basic_text else env.get(ENV_TOKEN) or None)
    return ServeConfig(
        root=Path(root),
        token=token,
        basic_auth=parse_basic_auth(basic_text) if basic_text else None,
    )

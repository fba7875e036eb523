"""deploy/kubernetes/: the manifests pass the Kubernetes schemas (kubernetes-validate
--strict), keep the promises of a hardened deployment, run real wheelhouse commands, and
probe paths serve answers."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.tools import DEPLOY, need, parse_cli
from tests.helpers import Synced, run_mirror
from wheelhouse.mirror.serveconfig import ServeConfig

MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in MANIFESTS:
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in _documents() if d["kind"] == kind]


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        spec: dict[str, Any] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    spec = doc["spec"]["template"]["spec"]
    return spec


def _argv(container: dict[str, Any]) -> list[str]:
    """The wheelhouse command line of a container (through `sh -c "exec ..."` too); the
    image's entrypoint is `wheelhouse`."""
    if container.get("command", [])[:2] == ["/bin/sh", "-c"]:
        words = shlex.split(container["args"][0])
        assert words[:2] == ["exec", "wheelhouse"], words
        return [w.replace("*.lock", "x.lock") for w in words[2:]]
    assert "command" not in container, "the image's entrypoint runs wheelhouse"
    return [str(a) for a in container["args"]]


def _validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = need("kubernetes-validate", "validates the manifests (a dev dependency)")
    return subprocess.run(
        [tool, "--strict", "--no-warn", *map(str, paths)], capture_output=True, text=True
    )


def test_schemas_strict() -> None:
    assert MANIFESTS
    out = _validate(MANIFESTS)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("passed") == len(_documents())


def test_schemas_catch_a_mistake(tmp_path: Path) -> None:
    """The check would fail: an unknown field under --strict is refused."""
    broken = tmp_path / "broken.yaml"
    text = MANIFESTS[0].read_text().replace("readOnlyRootFilesystem: true", "readOnlyRoot: true")
    broken.write_text(text)
    assert _validate([broken]).returncode != 0


def test_workloads() -> None:
    kinds = {d["kind"] for d in _documents()}
    assert {"Deployment", "Service", "CronJob", "NetworkPolicy"} <= kinds
    (cron,) = _by_kind("CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (deployment,) = _by_kind("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    for doc in (cron, deployment):
        pod = _pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(c["resources"]["requests"])
            assert {"cpu", "memory"} <= set(c["resources"]["limits"])
            env = {e["name"]: e for e in c["env"]}
            secret = env["AZURE_STORAGE_CONNECTION_STRING"]["valueFrom"]["secretKeyRef"]
            assert secret["name"] and secret["key"]
            args = parse_cli(_argv(c))
            assert str(args.wheelhouse).replace("az:/", "az://").startswith("az://")
            # the cache lives on the writable emptyDir, not the read-only root
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert env["WHEELHOUSE_CACHE_DIR"]["value"].startswith(tuple(mounts))


def test_serve_container() -> None:
    (deployment,) = _by_kind("Deployment")
    (container,) = _pod_spec(deployment)["containers"]
    args = parse_cli(_argv(container))
    assert args.command == "serve"
    assert args.host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == args.port
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    # /ready asks the storage: more than the ~3 s serve may take on it, several misses
    assert container["readinessProbe"]["timeoutSeconds"] >= 5
    assert container["readinessProbe"]["failureThreshold"] >= 3
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    (service,) = _by_kind("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    policies = {p["metadata"]["name"]: p for p in _by_kind("NetworkPolicy")}
    serve_policy = next(
        p for p in policies.values() if p["spec"]["podSelector"]["matchLabels"] == labels
    )
    assert serve_policy["spec"]["ingress"][0]["ports"][0]["port"] == args.port
    assert {"Ingress", "Egress"} == set(serve_policy["spec"]["policyTypes"])


def test_sync_job() -> None:
    (cron,) = _by_kind("CronJob")
    pod = _pod_spec(cron)
    (container,) = pod["containers"]
    args = parse_cli(_argv(container))
    assert args.command == "sync" and args.json
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    policy = next(
        p for p in _by_kind("NetworkPolicy") if p["spec"]["podSelector"]["matchLabels"] == labels
    )
    assert "ingress" not in policy["spec"] and "Ingress" in policy["spec"]["policyTypes"]
    assert pod["restartPolicy"] == "Never"


@pytest.fixture
def served(synced: Synced) -> Iterator[str]:
    with run_mirror(ServeConfig(root=synced.root)) as url:
        yield url


def test_probe_paths_answer(served: str) -> None:
    """The probes' paths are serve's: 200 from a wheelhouse with an index."""
    (deployment,) = _by_kind("Deployment")
    (container,) = _pod_spec(deployment)["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        path = container[probe]["httpGet"]["path"]
        status = httpx.get(served + path).status_code
        assert status == 200, (probe, path, status)

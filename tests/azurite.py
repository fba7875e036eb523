"""Azurite (Microsoft's Azure Storage emulator, npm package `azurite`) on a loopback port, for
the tests of wheelhouses in Azure Blob Storage. `make check` installs it into .ci/node."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Azurite's well-known development account (public, in Microsoft's documentation)
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LISTENING = re.compile(rb"listens on http://127\.0\.0\.1:([0-9]+)")
START_WAIT = 60.0  # seconds for node to start it on a loaded machine


def find_azurite() -> str | None:
    """The azurite-blob command: on PATH, or where `make` installed it."""
    local = REPO / ".ci" / "node" / "node_modules" / ".bin" / "azurite-blob"
    if local.is_file() and shutil.which("node"):
        return str(local)
    return shutil.which("azurite-blob")


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


@contextmanager
def azurite(binary: str, workdir: Path) -> Iterator[int]:
    """Azurite's blob service on a free loopback port (yielded), data under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "azurite.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--location",
                str(workdir),
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--loose",
                "--silent",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
        )
    try:
        deadline = time.monotonic() + START_WAIT
        while True:
            m = LISTENING.search(log.read_bytes())
            if m:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"azurite did not start: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield int(m.group(1))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"

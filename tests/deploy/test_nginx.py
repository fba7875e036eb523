"""`wheelhouse nginx-config`: real nginx over a synced wheelhouse negotiates as `serve` does,
answers 304 and Range, requires Basic auth when told, and pip and uv install through it."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import find_python37
from tests.deploy.tools import DEPLOY, need
from tests.helpers import (
    build_wheels,
    config_for,
    isolate,
    make_lock,
    upstream,
    write_pylock,
    write_requirements,
)
from tests.localserver import serve_folder
from wheelhouse.cli import main
from wheelhouse.mirror.nginx import (
    KNOWN_ACCEPT,
    PIP_ACCEPT,
    UV_ACCEPT,
    NginxOptions,
    render_nginx_config,
)
from wheelhouse.mirror.protocol import negotiate
from wheelhouse.mirror.sync import sync
from wheelhouse.model.lock import Lock

# content type -> page kind, as `negotiate` names them
KINDS = {
    "application/vnd.pypi.simple.v1+json": "json",
    "application/vnd.pypi.simple.v1+html": "html",
    "text/html": "html",
}
ACCEPTS = [
    PIP_ACCEPT,
    UV_ACCEPT,
    "text/html",  # pip before 22.2
    "",
    "*/*",
    "application/vnd.pypi.simple.v1+json",
    "application/vnd.pypi.simple.latest+json",
    "application/vnd.pypi.simple.latest+html",
    "application/vnd.pypi.simple.v1+html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4",
    "application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.6",
    "application/vnd.pypi.simple.v1+json;q=0.25, application/vnd.pypi.simple.v1+html;q=0.2",
    "application/vnd.pypi.simple.v1+json;q=0.201, application/vnd.pypi.simple.v1+html;q=0.2",
    "application/vnd.pypi.simple.v1+json;q=0.2, application/vnd.pypi.simple.v1+html;q=0.201",
    "text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.5",  # a tie: JSON
    "application/vnd.pypi.simple.v1+json;q=1.0, text/html",
    "TEXT/HTML;Q=0.3, application/vnd.pypi.simple.v1+json ; q=0.1",
    "*/*;q=0.1, application/*;q=0.2",
    "application/*",
    "application/vnd.pypi.simple.v1+json;q=0",
    "image/png",
    "application/json",
    "text/html;level=1;q=0.4, application/vnd.pypi.simple.v1+json;q=0.3",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _synced(root: Path) -> tuple[Path, Lock]:
    """A wheelhouse synced from a loopback upstream: three small wheels, their metadata."""
    wheels = build_wheels(root / "w", 3, size=50_000)
    with serve_folder(upstream(root, wheels).root) as (url, _):
        lock = make_lock(wheels, url)
        report = sync(
            [write_pylock(root / "pylock.toml", lock)], root / "wh", config=config_for(url)
        )
    assert report.ok, report.failed
    return root / "wh", lock


def _start_nginx(work: Path, options: NginxOptions) -> Iterator[str]:
    """nginx in the foreground with the generated standalone configuration; yields its URL."""
    nginx = need("nginx", "the generated configuration is run by real nginx")
    run = work / "run"
    run.mkdir()
    text = render_nginx_config(options)
    # the test's additions: each request's Accept header logged; as root, workers that can
    # read pytest's private temporary folder
    log_format = "log_format wh '$status $request_uri [$http_accept]';"
    text = text.replace(
        "    access_log off;\n", f"    {log_format}\n    access_log {run}/access.log wh;\n", 1
    )
    if os.geteuid() == 0:
        text = "user root;\n" + text
    conf = work / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.Popen(
        [nginx, "-p", str(run), "-c", str(conf)], stderr=subprocess.PIPE, text=True
    )
    base = f"http://{options.listen[0]}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"nginx did not start: {proc.communicate()[1]}")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lock]:
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, tmp_path_factory.mktemp("cache"))
        return _synced(tmp_path_factory.mktemp("synced"))


@pytest.fixture(scope="module")
def nginx(wheelhouse: tuple[Path, Lock], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("nginx")
    options = NginxOptions(
        wheelhouse=wheelhouse[0],
        listen=(f"127.0.0.1:{_free_port()}",),
        standalone=True,
        runtime_dir=work / "run",
        worker_processes="1",
    )
    yield from _start_nginx(work, options)


@pytest.mark.parametrize("accept", ACCEPTS)
def test_negotiation_is_serves(nginx: str, accept: str) -> None:
    """Every Accept header gets the page form `serve`'s own negotiation picks (or 406)."""
    expected = negotiate(accept, None)
    r = httpx.get(f"{nginx}/simple/pkg1/", headers={"accept": accept})
    if expected is None:
        assert r.status_code == 406
        return
    assert r.status_code == 200, r.text
    ctype = r.headers["content-type"].split(";")[0]
    assert ctype == expected[1].split(";")[0]
    assert KINDS[ctype] == expected[0]
    assert r.headers["vary"] == "Accept"
    if expected[0] == "json":
        assert r.json()["name"] == "pkg1"
    else:
        assert "pkg1-1.0-py3-none-any.whl" in r.text


def test_known_headers_are_what_negotiation_says() -> None:
    """The fast path (a hash lookup) agrees with the general one."""
    for accept, kind in KNOWN_ACCEPT.items():
        expected = negotiate(accept, None)
        assert expected is not None
        assert {"json": "json", "html": "html", "text": "html"}[kind] == expected[0]
        assert (
            expected[1].split(";")[0]
            == {
                "json": "application/vnd.pypi.simple.v1+json",
                "html": "application/vnd.pypi.simple.v1+html",
                "text": "text/html",
            }[kind]
        )


def test_format_query_and_root(nginx: str) -> None:
    r = httpx.get(f"{nginx}/simple/?format=application/vnd.pypi.simple.v1%2Bjson")
    assert r.headers["content-type"] == "application/vnd.pypi.simple.v1+json"
    assert [p["name"] for p in r.json()["projects"]] == ["pkg0", "pkg1", "pkg2"]
    assert httpx.get(f"{nginx}/simple/?format=text/plain").status_code == 406
    r = httpx.get(f"{nginx}/simple/pkg0")
    assert (r.status_code, r.headers["location"]) == (301, "/simple/pkg0/")
    assert httpx.get(f"{nginx}/").headers["location"] == "/simple/"
    assert httpx.get(f"{nginx}/simple/nothere/").status_code == 404
    assert httpx.get(f"{nginx}/_pep691/json/").status_code == 404  # internal only


def test_files_etag_range_metadata(nginx: str, wheelhouse: tuple[Path, Lock]) -> None:
    root, lock = wheelhouse
    name = lock.pins[0].files[0].filename
    data = (root / "files" / name).read_bytes()
    r = httpx.get(f"{nginx}/files/{name}")
    assert (r.status_code, r.content) == (200, data)
    assert r.headers["content-type"] == "application/octet-stream"
    assert hashlib.sha256(r.content).hexdigest() == lock.pins[0].files[0].hashes["sha256"]
    again = httpx.get(f"{nginx}/files/{name}", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    part = httpx.get(f"{nginx}/files/{name}", headers={"range": "bytes=100-199"})
    assert (part.status_code, part.content) == (206, data[100:200])
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = httpx.get(f"{nginx}/files/{name}", headers={"range": "bytes=-22"})
    assert tail.content == data[-22:]  # the zip's end record, as resolvers read it
    assert httpx.get(f"{nginx}/files/{name}", headers={"range": "bytes=999999-"}).status_code == 416
    with zipfile.ZipFile(root / "files" / name) as zf:
        metadata = zf.read("pkg0-1.0.dist-info/METADATA")
    meta = httpx.get(f"{nginx}/files/{name}.metadata")
    assert meta.content == metadata
    assert meta.headers["content-type"].startswith("text/plain")
    page = httpx.get(f"{nginx}/simple/pkg0/", headers={"accept": UV_ACCEPT})
    entry = page.json()["files"][0]
    assert entry["core-metadata"]["sha256"] == hashlib.sha256(metadata).hexdigest()
    cached = httpx.get(
        f"{nginx}/simple/pkg0/",
        headers={"accept": UV_ACCEPT, "if-none-match": page.headers["etag"]},
    )
    assert cached.status_code == 304


def test_nothing_else_is_served(nginx: str, wheelhouse: tuple[Path, Lock]) -> None:
    root, _ = wheelhouse
    assert (root / "wheelhouse.json").is_file()
    for path in ("/wheelhouse.json", "/.wheelhouse-lock", "/files/.partial/", "/simple/index.html"):
        assert httpx.get(f"{nginx}{path}").status_code in (301, 404), path
    assert httpx.get(f"{nginx}/files/../wheelhouse.json").status_code in (400, 404)
    (root / "files" / "link.whl").symlink_to(root / "wheelhouse.json")
    try:
        assert httpx.get(f"{nginx}/files/link.whl").status_code in (403, 404)
    finally:
        (root / "files" / "link.whl").unlink()
    assert httpx.get(f"{nginx}/ready").status_code == 200


def _htpasswd(path: Path, user: str, password: str) -> Path:
    """An htpasswd line in nginx's {SSHA} scheme (no htpasswd program needed)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    path.write_text(f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n")
    return path


def _lock_files(tmp_path: Path, lock: Lock) -> Path:
    return write_requirements(tmp_path / "requirements.lock", lock)


def _installed(target: Path) -> set[str]:
    return {p.name.split("-")[0] for p in target.glob("*.dist-info")}


@pytest.fixture
def guarded(wheelhouse: tuple[Path, Lock], tmp_path: Path) -> Iterator[str]:
    """nginx requiring Basic auth (user ci, password s3cret)."""
    options = NginxOptions(
        wheelhouse=wheelhouse[0],
        listen=(f"127.0.0.1:{_free_port()}",),
        basic_auth_file=_htpasswd(tmp_path / "htpasswd", "ci", "s3cret"),
        standalone=True,
        runtime_dir=tmp_path / "run",
        worker_processes="1",
    )
    yield from _start_nginx(tmp_path, options)


def test_basic_auth(guarded: str) -> None:
    assert httpx.get(f"{guarded}/simple/").status_code == 401
    assert httpx.get(f"{guarded}/simple/", auth=("ci", "wrong")).status_code == 401
    assert httpx.get(f"{guarded}/simple/", auth=("ci", "s3cret")).status_code == 200
    assert httpx.get(f"{guarded}/files/x.whl").status_code == 401
    assert httpx.get(f"{guarded}/health").status_code == 200  # probes need no password


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(UV_NO_CONFIG="1", UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    return env


def test_pip_and_uv_install_through_nginx(
    guarded: str, wheelhouse: tuple[Path, Lock], tmp_path: Path
) -> None:
    """Hashes required, credentials in the index URL: pip of this Python (JSON pages), uv
    (JSON) and, where there is one, Python 3.7's own pip."""
    lock = wheelhouse[1]
    requirements = _lock_files(tmp_path, lock)
    index = guarded.replace("http://", "http://ci:s3cret@") + "/simple"
    env = _clean_env(tmp_path)
    common = ["-r", str(requirements), "--index-url", index, "--require-hashes", "--no-deps"]
    runs = {
        "pip": [sys.executable, "-m", "pip", "install", "-q", "--target", str(tmp_path / "pip")],
        "uv": [
            need("uv", "installs through nginx"),
            "pip",
            "install",
            "--python",
            sys.executable,
            "--target",
            str(tmp_path / "uv"),
        ],
    }

    py37 = find_python37()
    if py37 is None and os.environ.get("CI"):
        pytest.fail("CI needs a real Python 3.7 (pyenv 3.7.x or $WH_TEST_PYTHON37)")
    if py37:
        runs["pip-py37"] = [py37, "-m", "pip", "install", "-q", "--target", str(tmp_path / "p37")]
    for label, cmd in runs.items():
        out = subprocess.run([*cmd, *common], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{label}: {out.stdout}{out.stderr}"
    for folder in ("pip", "uv", *(("p37",) if py37 else ())):
        assert _installed(tmp_path / folder) == {"pkg0", "pkg1", "pkg2"}, folder
    log = (tmp_path / "run" / "access.log").read_text()
    accepts = {line.split("[", 1)[1].rstrip("]") for line in log.splitlines() if "/simple/" in line}
    # pip and uv were answered by the hash lookup, not the general negotiation
    assert accepts, log
    assert accepts <= set(KNOWN_ACCEPT), accepts
    assert {PIP_ACCEPT, UV_ACCEPT} <= accepts, accepts  # the JSON pages were asked for
    if py37:
        assert "text/html" in accepts  # pip 22.0 of Python 3.7: HTML


def test_committed_example_is_generated() -> None:
    """deploy/nginx/wheelhouse.conf is what the command in its README line writes."""
    example = DEPLOY / "nginx" / "wheelhouse.conf"
    options = NginxOptions(
        wheelhouse=Path("/srv/wheelhouse/data"),
        listen=("8080",),
        server_name="wheelhouse.internal",
        basic_auth_file=Path("/etc/wheelhouse/htpasswd"),
    )
    assert example.read_text() == render_nginx_config(options)


def test_committed_example_passes_nginx_t(tmp_path: Path) -> None:
    """Included at http level, as Debian's conf.d does."""
    nginx = need("nginx", "checks the committed example")
    (tmp_path / "run").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/run/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n    include {DEPLOY / 'nginx' / 'wheelhouse.conf'};\n}}\n"
    )
    out = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path / "run"), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "warn" not in out.stderr, out.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--listen", "80; evil"],
        ["--listen", "99999"],
        ["--server-name", "a b"],
        ["--standalone"],
        ["--worker-processes", "many"],
    ],
)
def test_bad_options_exit_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["nginx-config", "--wheelhouse", str(tmp_path), *argv])
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_writes_file(tmp_path: Path) -> None:
    out = tmp_path / "conf" / "wheelhouse.conf"
    out.parent.mkdir()
    assert main(["nginx-config", "--wheelhouse", str(tmp_path), "-o", str(out)]) == 0
    assert f"root {tmp_path};" in out.read_text()


@pytest.mark.parametrize("spec", ["az://wheels/team-a", "az:/wheels", "AZ://wheels/x"])
def test_blob_storage_refused(
    spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """nginx can only serve a folder: an az:// wheelhouse is refused, not turned into a
    folder named `az:` below the current one."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "wheelhouse.conf"
    assert main(["nginx-config", "--wheelhouse", spec, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nginx serves a folder" in err and "wheelhouse serve" in err
    assert not out.exists()

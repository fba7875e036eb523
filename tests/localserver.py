"""A real HTTP server on a free loopback port serving a folder, for tests.

Speaks just enough of what indexes speak: directory index.html, PEP 691 negotiation
(index.json when the client asks for JSON), Range requests, ETag. Faults can be injected
per path to play a flaky upstream.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass
class Fault:
    """What to do to requests for one path: a list of actions used one per request.

    An action is "ok", an HTTP status (int), "stall" (sleep `stall_seconds` then answer),
    "cut" (send half the body and close), "corrupt" (flip bytes in the body).
    """

    actions: list[str | int]
    stall_seconds: float = 5.0


@dataclass
class ServerState:
    root: Path
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_request: Callable[[str], None] | None = None


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            with state.lock:
                state.requests.append((self.command, path, dict(self.headers)))
            if state.on_request:
                state.on_request(path)
            action: str | int = "ok"
            fault = state.faults.get(path)
            if fault and fault.actions:
                with state.lock:
                    action = fault.actions.pop(0) if len(fault.actions) > 1 else fault.actions[0]
            if isinstance(action, int):
                self._send_status(action)
                return
            if action == "stall":
                time.sleep(fault.stall_seconds if fault else 5.0)
            target = (state.root / path.lstrip("/")).resolve()
            if state.root.resolve() not in target.parents and target != state.root.resolve():
                self._send_status(404)
                return
            ctype = "application/octet-stream"
            if target.is_dir():
                accept = self.headers.get("Accept", "")
                if JSON_TYPE in accept and (target / "index.json").is_file():
                    target, ctype = target / "index.json", JSON_TYPE
                else:
                    target, ctype = target / "index.html", "text/html; charset=utf-8"
            if not target.is_file():
                self._send_status(404)
                return
            data = target.read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, body, extra = 200, data, {}
            rng = self.headers.get("Range")
            m = re.match(r"bytes=(\d*)-(\d*)$", rng or "")
            if m:
                size = len(data)
                if m.group(1) == "":
                    start, end = max(size - int(m.group(2)), 0), size - 1
                else:
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                if start >= size:
                    self._send_status(416)
                    return
                status, body = 206, data[start : end + 1]
                extra["Content-Range"] = f"bytes {start}-{end}/{size}"
            if action == "corrupt":
                body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes")
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if head:
                return
            if action == "cut":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _send_status(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a test's client closed while a stalled answer waited) is
        no error of the server's; anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serve_folder(root: Path) -> Iterator[tuple[str, ServerState]]:
    """Serve `root` at http://127.0.0.1:PORT; yields (base URL, state)."""
    state = ServerState(root=root)
    server = _Server(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def python_http_server(root: Path) -> Iterator[str]:
    """`python -m http.server` serving `root` on a free loopback port (a plain static web
    server, as anyone would put in front of a wheelhouse); yields its base URL."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
         "--directory", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 40123 (http://…/) ..."
        port = re.search(r" port (\d+)", line)
        if port is None:
            raise RuntimeError(f"python -m http.server did not start: {line!r}")
        yield f"http://127.0.0.1:{port.group(1)}"
    finally:
        proc.terminate()
        proc.wait(10)

"""uvicorn's httptools protocol with bounds on what a client can make `serve` hold before
the app sees a request (httptools itself has none: eight 64 MB headers took 484 MB).

A request line longer than REQUEST_LINE is answered 414, a head (request line and headers)
bigger than HEAD_BYTES or with more than HEADERS headers 431, a head not complete within
HEAD_SECONDS of its first byte is cut off; each closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

REQUEST_LINE = 8 << 10
HEAD_BYTES = 64 << 10
HEADERS = 100
HEAD_SECONDS = 30.0


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that counts a request's head as it arrives."""

    _head_open = True  # between the end of one request and the end of the next one's head
    _head_bytes = 0
    _headers = 0
    _head_timer: asyncio.TimerHandle | None = None
    _refusal: tuple[int, str] | None = None  # set by a parser callback that refuses

    def _refuse(self, status: int, message: str) -> None:
        """Stop the parser from a callback; httptools turns the error into a call of
        `send_400_response`, which answers with this status instead."""
        self._refusal = (status, message)
        raise ValueError(message)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_BYTES:
                self._answer(431, f"request head over {HEAD_BYTES} bytes")
                return
        super().data_received(data)

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > REQUEST_LINE:
            self._refuse(414, f"request target over {REQUEST_LINE} bytes")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        if self._headers > HEADERS:
            self._refuse(431, f"more than {HEADERS} headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open, self._head_bytes, self._headers = False, 0, 0
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_open = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_head_timer()

    def send_400_response(self, msg: str) -> None:
        """httptools' parse errors end here: our own refusals keep their status."""
        if self._refusal is not None:
            self._answer(*self._refusal)
            return
        super().send_400_response(msg)

    def _answer(self, status: int, message: str) -> None:
        body = (message + "\n").encode("ascii", "replace")
        head = [STATUS_LINE[status]]
        head += [b"content-type: text/plain; charset=utf-8\r\n"]
        head += [b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self._stop_head_timer()

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._head_open and not self.transport.is_closing():
            self.transport.close()

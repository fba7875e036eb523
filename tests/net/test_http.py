"""The HTTP seam without a server: httpx's MockTransport stands in for the network, so the
retry policy and its messages are checked in milliseconds."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from wheelhouse.errors import NetworkError
from wheelhouse.net.http import make_client, with_retries
from wheelhouse.net.pipconfig import IndexConfig

URL = "https://user:secret@index.test/simple/pkg/"


def fetch(handler: httpx.MockTransport, retries: int = 3) -> httpx.Response:
    async def go() -> httpx.Response:
        config = IndexConfig(index_url="https://user:secret@index.test/simple")
        async with make_client(config, transport=handler) as client:

            async def call() -> httpx.Response:
                r = await client.get(URL)
                r.raise_for_status()
                return r

            return await with_retries("reading", URL, retries, call)

    return asyncio.run(go())


def test_a_transient_status_is_retried_as_retry_after_says() -> None:
    answers = [503, 429, 200]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0), headers={"Retry-After": "0"}, text="ok")

    assert fetch(httpx.MockTransport(handler)).text == "ok"
    assert len(seen) == 3
    # credentials from the configured index URL travel as Basic auth, on every attempt
    assert all(r.headers["Authorization"].startswith("Basic ") for r in seen)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_client_error_is_not_retried_and_names_the_url_without_secrets(status: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status)

    with pytest.raises(NetworkError) as info:
        fetch(httpx.MockTransport(handler))
    assert len(calls) == 1
    assert (
        str(info.value) == f"reading: HTTP {status} from https://user:****@index.test/simple/pkg/"
    )
    assert "secret" not in str(info.value)


def test_retries_run_out_with_the_count_in_the_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, headers={"Retry-After": "0"})

    with pytest.raises(NetworkError, match=r"HTTP 502 from .* after 3 attempts"):
        fetch(httpx.MockTransport(handler), retries=2)


def test_a_connection_failure_is_retried_then_reported() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(
        NetworkError, match=r"cannot reach .* after 2 attempts \(connection refused\)"
    ):
        fetch(httpx.MockTransport(handler), retries=1)
    assert len(calls) == 2

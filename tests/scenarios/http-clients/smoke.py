"""httpx through a mock transport and aiohttp against a server on the loopback."""

import asyncio

import aiohttp
import httpx
from aiohttp import web

transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"p": r.url.path}))
client = httpx.Client(transport=transport)
assert client.get("http://svc/score").json() == {"p": "/score"}


async def fetch(session, url):
    async with session.get(url) as resp:
        return await resp.json()


async def main():
    app = web.Application()
    app.router.add_get("/", lambda request: web.json_response({"ok": True}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as session:
        data = await fetch(session, f"http://127.0.0.1:{port}/")
    await runner.cleanup()
    return data


assert asyncio.get_event_loop().run_until_complete(main()) == {"ok": True}
print("ok", httpx.__version__, aiohttp.__version__)

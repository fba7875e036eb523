"""A FastAPI app with a pydantic model, called through its ASGI interface (no network)."""

import asyncio
import json

import fastapi
import pydantic
import uvicorn  # noqa: F401  (the server the app would run under)

app = fastapi.FastAPI()


class Item(pydantic.BaseModel):
    name: str
    price: float


@app.post("/items")
def create(item: Item):
    return {"name": item.name, "total": item.price * 2}


async def call(body):
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/items",
        "raw_path": b"/items",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


status, body = asyncio.get_event_loop().run_until_complete(call(b'{"name": "a", "price": 1.5}'))
assert status == 200 and json.loads(body) == {"name": "a", "total": 3.0}, (status, body)
print("ok", fastapi.__version__, pydantic.VERSION)

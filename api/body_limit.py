"""No request body beyond MAX_BODY reaches the app, however it is sent.

A body with a Content-Length is refused from the header (413, before anything is read). A
body sent in chunks without one (Transfer-Encoding: chunked) is read up to the limit and
refused as soon as it passes it; under the limit it is handed to the app as read. Without
this a chunked body of any size was read whole into memory (review of issue 12). The
largest body any route takes is a 5 MiB photo with its form (api/idempotency.py, MAX_BODY).
"""
from __future__ import annotations

import json

from api.idempotency import MAX_BODY


async def _too_large(send, detail: str) -> None:
    body = json.dumps({"error": "payload_too_large", "detail": detail}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: request bodies of at most `limit` bytes (module docstring)."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                await _too_large(send, f"body: {int(length)} bytes; a request takes at most "
                                       f"{self.limit // 2**20} MiB")
                return
            await self.app(scope, receive, send)
            return
        if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _too_large(send, f"body: more than {self.limit // 2**20} MiB sent in chunks; a request takes "
                                       f"at most {self.limit // 2**20} MiB")
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

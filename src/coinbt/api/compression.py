"""Response compression: Brotli when the client accepts ``br``, else gzip, else none.

Only whole bodies of at least ``minimum_size`` bytes are compressed (every JSON answer of
the API is sent in one piece); streamed bodies pass through untouched, and server-sent
events above all, which must reach the client event by event. A body that already has a
``Content-Encoding`` is left alone. Every response says ``Vary: Accept-Encoding`` so that
caches in between keep the variants apart.

Brotli runs at quality 4 and gzip at level 6: for JSON of a few hundred kilobytes that
costs a few milliseconds and shrinks it five to ten times; Brotli's maximum quality would
cost a hundred times more for a few percent.
"""

from __future__ import annotations

import gzip

import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MINIMUM_SIZE = 500
BROTLI_QUALITY = 4
GZIP_LEVEL = 6


def choose_encoding(accept_encoding: str) -> str | None:
    """``"br"``, ``"gzip"`` or ``None`` for an ``Accept-Encoding`` value (``q=0`` refuses
    a coding; ``*`` stands for any coding not named)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name.strip():
            weights[name.strip().lower()] = weight
    for coding in ("br", "gzip"):
        if weights.get(coding, weights.get("*", 0.0)) > 0:
            return coding
    return None


def compress(body: bytes, coding: str) -> bytes:
    """``body`` compressed with ``coding`` (``br`` or ``gzip``)."""
    if coding == "br":
        return bytes(brotli.compress(body, quality=BROTLI_QUALITY))
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


class CompressionMiddleware:
    """ASGI middleware compressing whole response bodies (see the module docs)."""

    def __init__(self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE) -> None:
        self.app = app
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = choose_encoding(Headers(scope=scope).get("accept-encoding", ""))
        await _Responder(send, coding, self.minimum_size).run(self.app, scope, receive)


class _Responder:
    """Holds back the response start until the first body part shows whether to compress."""

    def __init__(self, send: Send, coding: str | None, minimum_size: int) -> None:
        self.send = send
        self.coding = coding
        self.minimum_size = minimum_size
        self.start: Message | None = None

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        await app(scope, receive, self.intercept)

    async def intercept(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        start, self.start = self.start, None
        headers = MutableHeaders(scope=start)
        headers.add_vary_header("Accept-Encoding")
        body = message.get("body", b"")
        if self._worth_it(headers, body, more=message.get("more_body", False)):
            assert self.coding is not None
            body = compress(body, self.coding)
            headers["Content-Encoding"] = self.coding
            headers["Content-Length"] = str(len(body))
            message = {**message, "body": body}
        await self.send(start)
        await self.send(message)

    def _worth_it(self, headers: MutableHeaders, body: bytes, *, more: bool) -> bool:
        return (
            self.coding is not None
            and not more
            and len(body) >= self.minimum_size
            and "content-encoding" not in headers
            and not headers.get("content-type", "").startswith("text/event-stream")
        )

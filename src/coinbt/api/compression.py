"""Response compression: Brotli when the client accepts ``br``, else gzip, else none.

Only whole bodies of at least ``minimum_size`` bytes are compressed (every JSON answer of
the API is sent in one piece); streamed bodies pass through untouched, and server-sent
events above all, which must reach the client event by event. A body that already has a
``Content-Encoding`` is left alone. Every response says ``Vary: Accept-Encoding`` so that
caches in between keep the variants apart.

Brotli runs at quality 4 and gzip at level 6: for JSON of a few hundred kilobytes that
costs a few milliseconds and shrinks it five to ten times; Brotli's maximum quality would
cost a hundred times more for a few percent.

The hottest answers repeat byte for byte (the dashboard until the next ingest, a cached
backtest asked again), so compressed bodies are remembered (:class:`CompressedBodies`): a
body met again is sent as compressed the first time, for the cost of hashing it. Bodies
of :data:`OFF_LOOP_SIZE` bytes or more are compressed on a worker thread, so that one
large answer does not hold up every other request on the event loop.
"""

from __future__ import annotations

import gzip

import brotli
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coinbt.services.rendered import RenderMemo

MINIMUM_SIZE = 500
BROTLI_QUALITY = 4
GZIP_LEVEL = 6
OFF_LOOP_SIZE = 256 * 1024
"""Bodies this large are compressed on a worker thread (a few milliseconds and more)."""


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


class CompressedBodies:
    """Compressed bodies by coding and content (a :class:`RenderMemo` keyed by the body's
    coding, length and hash, valid while the body is equal), least recently used first out.

    Bounded by entries, by bytes (originals and compressed), and by the size of one body
    (larger ones are rare repeats)."""

    def __init__(
        self,
        max_entries: int = 256,
        max_bytes: int = 64 * 1024 * 1024,
        max_body: int = 2 * 1024 * 1024,
    ) -> None:
        self.max_body = max_body
        self._memo = RenderMemo(max_entries, max_bytes)

    def get(self, coding: str, body: bytes) -> bytes | None:
        """``body`` compressed with ``coding``, if it was met before."""
        if len(body) > self.max_body:
            return None
        return self._memo.get((coding, len(body), hash(body)), body)

    def put(self, coding: str, body: bytes, packed: bytes) -> None:
        """Remember ``packed``, ``body`` compressed with ``coding``."""
        if len(body) <= self.max_body:
            self._memo.put((coding, len(body), hash(body)), body, packed)

    def __len__(self) -> int:
        return len(self._memo)


class CompressionMiddleware:
    """ASGI middleware compressing whole response bodies (see the module docs)."""

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = MINIMUM_SIZE,
        remembered: CompressedBodies | None = None,
    ) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.remembered = remembered if remembered is not None else CompressedBodies()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = choose_encoding(Headers(scope=scope).get("accept-encoding", ""))
        responder = _Responder(send, coding, self.minimum_size, self.remembered)
        await responder.run(self.app, scope, receive)


class _Responder:
    """Holds back the response start until the first body part shows whether to compress."""

    def __init__(
        self, send: Send, coding: str | None, minimum_size: int, remembered: CompressedBodies
    ) -> None:
        self.send = send
        self.coding = coding
        self.minimum_size = minimum_size
        self.remembered = remembered
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
            body = await self._compressed(body, self.coding)
            headers["Content-Encoding"] = self.coding
            headers["Content-Length"] = str(len(body))
            message = {**message, "body": body}
        await self.send(start)
        await self.send(message)

    async def _compressed(self, body: bytes, coding: str) -> bytes:
        body = bytes(body)  # a no-op for bytes; hashable for the others
        packed = self.remembered.get(coding, body)
        if packed is None:
            if len(body) >= OFF_LOOP_SIZE:
                packed = await run_in_threadpool(compress, body, coding)
            else:
                packed = compress(body, coding)
            self.remembered.put(coding, body, packed)
        return packed

    def _worth_it(self, headers: MutableHeaders, body: bytes, *, more: bool) -> bool:
        return (
            self.coding is not None
            and not more
            and len(body) >= self.minimum_size
            and "content-encoding" not in headers
            and not headers.get("content-type", "").startswith("text/event-stream")
        )

"""SSE framing and responses, as LangGraph Platform's server sends them.

Each event is ``event: <name>``, ``data: <one-line JSON>``, then ``id: <id>``, every line
ending in CRLF, and a blank line; a ``: heartbeat`` comment goes out every few seconds on a
fixed timer. A client that stops reading until one send has waited ``send_timeout`` seconds
is cut: its connection closes and it resumes from its last event id like any dropped client
(the SDK and browsers reconnect by themselves), rather than being served stale data or
holding anything up. A client that goes away ends its stream at once.

The response is a small ASGI callable rather than sse-starlette's: one stream write is one
``send`` with no per-send timer or lock (the cost of each delivered item matters when many
clients follow many runs), and importing it patches nothing in uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_logger = logging.getLogger(__name__)

CRLF = b"\r\n"
HEARTBEAT = b": heartbeat\r\n\r\n"


def frame(event: str, data: bytes, event_id: str | None) -> bytes:
    """One SSE event: ``event``, ``data`` (one line of JSON), then ``id``."""
    out = b"event: " + event.encode() + CRLF + b"data: " + data + CRLF
    if event_id is not None:
        out += b"id: " + event_id.encode() + CRLF
    return out + CRLF


def comment(text: str) -> bytes:
    return b": " + text.encode() + CRLF + CRLF


class StreamResponse(Response):
    """An SSE response of pre-framed chunks, with heartbeats and a per-send timeout (a
    Starlette ``Response`` by type; it streams by itself)."""

    media_type = "text/event-stream; charset=utf-8"

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        headers: Mapping[str, str],
        heartbeat: float,
        send_timeout: float,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.stream = body
        fields = {
            **headers,
            "Content-Type": self.media_type,
            "Cache-Control": "no-store",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no",
        }
        self.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in fields.items()
        ]
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self._since: float | None = None  # when the pending data send started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        await send(start)
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        pump = asyncio.ensure_future(self._pump(send))
        others = [asyncio.ensure_future(self._beat(send)), asyncio.ensure_future(_gone(receive))]
        try:
            await asyncio.wait([pump, *others], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, *others):
                task.cancel()
            for task in (pump, *others):
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(Exception):
                await self.stream.aclose()  # type: ignore[attr-defined]
        if pump.done() and not pump.cancelled() and pump.exception() is not None:
            raise pump.exception()  # type: ignore[misc]

    async def _pump(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        async for chunk in self.stream:
            self._since = loop.time()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self._since = None
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _beat(self, send: Send) -> None:
        """Heartbeats on a fixed timer; returns (cutting the stream) when a send is stuck,
        the data's or a heartbeat's own (which therefore waits at most ``send_timeout``)."""
        loop = asyncio.get_running_loop()
        tick = min(self.heartbeat, self.send_timeout) / 2
        next_beat = loop.time() + self.heartbeat
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            if self._since is not None and now - self._since > self.send_timeout:
                return self._cut()
            if now >= next_beat:
                next_beat += self.heartbeat
                if self._since is None:  # none while a write waits
                    beat = {"type": "http.response.body", "body": HEARTBEAT, "more_body": True}
                    try:
                        await asyncio.wait_for(send(beat), self.send_timeout)
                    except asyncio.TimeoutError:
                        return self._cut()

    def _cut(self) -> None:
        _logger.info(
            "otelstream: an SSE client read nothing for %ss; its stream is cut, it can "
            "resume with Last-Event-ID",
            self.send_timeout,
        )


async def _gone(receive: Receive) -> None:
    """Returns when the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass

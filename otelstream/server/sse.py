"""SSE framing and responses, as LangGraph Platform's server sends them.

Each event is ``event: <name>``, ``data: <one-line JSON>``, then ``id: <id>``, every line
ending in CRLF, and a blank line; a ``: heartbeat`` comment goes out every few seconds. The
response is sse-starlette's (the library the Platform uses): it pings, notices a client that
went away, and bounds each send. A client that stops reading until a send times out is cut:
its connection closes, and it resumes from its last event id like any dropped client (the
SDK and browsers reconnect by themselves), rather than being served stale data or holding
anything up.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse, SendTimeoutError
from starlette.types import Receive, Scope, Send

_logger = logging.getLogger(__name__)

CRLF = b"\r\n"


def frame(event: str, data: bytes, event_id: str | None) -> bytes:
    """One SSE event: ``event``, ``data`` (one line of JSON), then ``id``."""
    out = b"event: " + event.encode() + CRLF + b"data: " + data + CRLF
    if event_id is not None:
        out += b"id: " + event_id.encode() + CRLF
    return out + CRLF


def comment(text: str) -> bytes:
    return b": " + text.encode() + CRLF + CRLF


def _heartbeat() -> ServerSentEvent:
    return ServerSentEvent(comment="heartbeat")


class StreamResponse(EventSourceResponse):
    """An SSE response of pre-framed events, with heartbeats and a per-send timeout."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        headers: Mapping[str, str],
        heartbeat: float,
        send_timeout: float,
    ) -> None:
        super().__init__(
            body,
            headers=dict(headers),
            media_type="text/event-stream; charset=utf-8",
            ping=heartbeat,
            ping_message_factory=_heartbeat,
            send_timeout=send_timeout,
            sep="\r\n",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            _logger.info(
                "otelstream: an SSE client stopped reading for %ss; its stream is cut, it can "
                "resume with Last-Event-ID",
                self.send_timeout,
            )

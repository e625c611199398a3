"""A real OTLP/HTTP trace receiver for tests: ``POST /v1/traces`` with protobuf bodies.

A threaded ``http.server`` on a free loopback port. It parses each body (``gzip`` or
``deflate`` encoded, or plain) as an ``ExportTraceServiceRequest``, records the request and
its spans, and answers with an empty ``ExportTraceServiceResponse``. Its mode can be switched
at any time: ``normal()``, ``slow(seconds)`` (waits before answering) or ``failing(status)``
(answers 503, 500, ... without accepting the spans). ``stop()`` closes the port, and the
connections being served, so clients see "connection refused"; ``restart()`` listens again
on the same port.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived: ids in lowercase hex (``parent_id`` ``None`` for a root)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service_name: str | None


@dataclass(frozen=True)
class ReceivedRequest:
    """One export request: its headers (names lowercased), spans, and the status answered
    (0: the answer could not be delivered)."""

    headers: dict[str, str]
    spans: tuple[ReceivedSpan, ...]
    status: int


def _spans(request: ExportTraceServiceRequest) -> tuple[ReceivedSpan, ...]:
    found = []
    for resource_spans in request.resource_spans:
        service = None
        for attribute in resource_spans.resource.attributes:
            if attribute.key == "service.name":
                service = attribute.value.string_value
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        service_name=service,
                    )
                )
    return tuple(found)


def _decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding in ("", "identity"):
        return body
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    receiver: OtlpReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.receiver._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.receiver._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the base class writes every request to stderr."""

    def _answer(self, status: int, body: bytes = b"", content_type: str = PROTOBUF) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path != TRACES_PATH:  # a traces-only backend: metrics and logs are not found
            receiver._note_rejected(self.path)
            self._answer(404, b"not found", "text/plain")
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != PROTOBUF:
            self._answer(415, b"unsupported media type", "text/plain")
            return
        try:
            request = ExportTraceServiceRequest()
            request.ParseFromString(_decode(body, self.headers.get("Content-Encoding", "")))
        except Exception as error:  # a malformed body is the client's fault: 400
            self._answer(400, str(error).encode(), "text/plain")
            return
        receiver._serve(self, request)


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint on ``127.0.0.1``; see the module docstring."""

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._rejected: list[str] = []
        self._connections: set[socket.socket] = set()
        self._mode = "normal"
        self._delay = 0.0
        self._status = 200
        self._stopped = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = port

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> OtlpReceiver:
        """Listen (on the port given, or on a free one the first time) and serve."""
        if self._server is not None:
            raise RuntimeError("the receiver is already running")
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.receiver = self
        self._port = int(server.server_address[1])
        self._stopped.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"otlp-receiver-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop the connections being served (unanswered)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopped.set()  # wakes slow answers: they give up without answering
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # closed meanwhile
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    def restart(self) -> None:
        """Listen again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> OtlpReceiver:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        """The base URL, for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporter adds ``/v1/traces``)."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # --- modes ------------------------------------------------------------------------------
    def normal(self) -> None:
        """Answer each request at once, accepting its spans."""
        with self._lock:
            self._mode, self._delay, self._status = "normal", 0.0, 200

    def slow(self, seconds: float) -> None:
        """Wait ``seconds`` before answering (and accepting) each request."""
        with self._lock:
            self._mode, self._delay, self._status = "slow", seconds, 200

    def failing(self, status: int = 503) -> None:
        """Answer each request with ``status``, accepting nothing."""
        if status < 400:
            raise ValueError("a failing status is 4xx or 5xx")
        with self._lock:
            self._mode, self._delay, self._status = "failing", 0.0, status

    # --- what arrived -----------------------------------------------------------------------
    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every parsed export request, in arrival order, accepted or not."""
        with self._lock:
            return list(self._requests)

    @property
    def spans(self) -> list[ReceivedSpan]:
        """The spans of accepted requests (answered 200), in arrival order."""
        return [s for r in self.requests if r.status == 200 for s in r.spans]

    @property
    def rejected(self) -> list[str]:
        """The paths of requests answered 404 (anything but ``/v1/traces``), in order."""
        with self._lock:
            return list(self._rejected)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._rejected.clear()

    # --- internals --------------------------------------------------------------------------
    def _note_rejected(self, path: str) -> None:
        with self._lock:
            self._rejected.append(path)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _serve(self, handler: _Handler, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            delay, status = self._delay, self._status
        if delay and self._stopped.wait(delay):
            handler.close_connection = True  # stopped while waiting: never answer
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        received = ReceivedRequest(headers, _spans(request), status)
        with self._lock:  # recorded before answering: the client may look right after
            self._requests.append(received)
        try:
            if status == 200:
                handler._answer(200, ExportTraceServiceResponse().SerializeToString())
            else:
                handler._answer(status, f"unavailable ({status})".encode(), "text/plain")
        except OSError:  # the client never got the answer: nothing was accepted
            with self._lock:
                index = self._requests.index(received)
                self._requests[index] = ReceivedRequest(headers, received.spans, 0)
            handler.close_connection = True

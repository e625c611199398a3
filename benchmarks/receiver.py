"""A minimal local OTLP/gRPC receiver for the ``otelstream_otlp`` condition: it acknowledges
each export without decoding it, and counts requests and bytes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def receiver_main() -> None:
    """A minimal OTLP/gRPC TraceService that acknowledges each export without decoding it.

    Prints ``PORT n``; serves until stdin closes, then prints ``RECEIVED requests bytes``.
    """
    from concurrent import futures

    import grpc

    stats = {"requests": 0, "bytes": 0}

    def export(request: bytes, context: Any) -> bytes:
        stats["requests"] += 1
        stats["bytes"] += len(request)
        return b""  # an empty ExportTraceServiceResponse: everything accepted

    handler = grpc.method_handlers_generic_handler(
        TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    server.stop(0)
    print(f"RECEIVED {stats['requests']} {stats['bytes']}", flush=True)


@contextlib.contextmanager
def otlp_receiver(command: Sequence[str]) -> Iterator[tuple[str, dict[str, int]]]:
    """Start the receiver (``command`` runs ``receiver_main``) in a subprocess; yields its
    endpoint and, after exit, its stats."""
    proc = subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stats: dict[str, int] = {}
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"OTLP receiver did not start: {line!r}")
        yield f"127.0.0.1:{int(line.split()[1])}", stats
        proc.stdin.close()
        out = proc.stdout.read()
        for line in out.splitlines():
            if line.startswith("RECEIVED "):
                _, requests, size = line.split()
                stats.update(requests=int(requests), bytes=int(size))
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

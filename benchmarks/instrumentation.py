"""How a benchmark process is instrumented for a condition's ``setup``.

Spans go to a ``BatchSpanProcessor`` whose exporter counts spans and span events, then
discards them or passes them on to the OTLP gRPC exporter (the local receiver).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peers import PEER_SETUPS


class CountingExporter:
    """A span exporter that counts spans and span events, then discards them or passes them on."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.spans = 0
        self.events = 0
        self.failures = 0

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.spans += len(spans)
        self.events += sum(len(s.events) for s in spans)
        if self.inner is None:
            return SpanExportResult.SUCCESS
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += len(spans)
        return result

    def shutdown(self) -> None:
        if self.inner is not None:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def counting_provider(otlp_endpoint: str | None = None) -> tuple[Any, CountingExporter]:
    """The global tracer provider, batching into a ``CountingExporter`` (which passes spans
    on to OTLP gRPC at ``otlp_endpoint`` when given)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    inner = None
    if otlp_endpoint is not None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        inner = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)
    exporter = CountingExporter(inner)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    return provider, exporter


def instrument(setup: str, endpoint: str | None) -> tuple[Any, CountingExporter | None]:
    """Instrument the process as ``setup`` says; the tracer provider and its exporter, or
    ``(None, None)`` when nothing is set up."""
    if setup == "none":
        return None, None
    if setup == "sdk":
        return counting_provider()
    if setup.startswith("otel"):
        import otelstream

        options = {
            "otel_tokens": {"capture_tokens": True},
            "otel_nocontent": {"capture_content": False},
        }.get(setup, {})
        if setup == "otel_otlp" and not endpoint:
            raise RuntimeError("no OTLP receiver endpoint")
        provider, exporter = counting_provider(endpoint if setup == "otel_otlp" else None)
        otelstream.instrument(tracer_provider=provider, **options)
        return provider, exporter
    if setup in PEER_SETUPS:
        provider, exporter = counting_provider()
        PEER_SETUPS[setup](provider)
        return provider, exporter
    raise ValueError(f"unknown setup {setup!r}")

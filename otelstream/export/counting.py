"""Span export that counts what it loses: a full batch queue, a failed or raising export.

The SDK's ``BatchSpanProcessor`` only logs dropped spans; otelstream counts them in the
``otelstream.export.dropped`` metric (``error.type``: ``queue_full``, ``export_failed``) and
says so once per reason, so nothing is lost silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

_logger = logging.getLogger(__name__)


class Drops:
    """Counts spans that were not exported, and says so once per reason."""

    def __init__(self, counter: Callable[[int, str], None]) -> None:
        self._counter = counter
        self._told: set[str] = set()

    def __call__(self, count: int, reason: str, detail: str) -> None:
        self._counter(count, reason)
        if reason not in self._told:
            self._told.add(reason)
            _logger.warning(
                "otelstream: spans are being dropped (%s: %s); counted in the "
                "otelstream.export.dropped metric (error.type=%s)",
                reason,
                detail,
                reason,
            )


class _CountingExporter(SpanExporter):
    """Passes spans on to an exporter; counts the spans of failed exports."""

    def __init__(self, exporter: SpanExporter, drops: Drops) -> None:
        self._exporter = exporter
        self._drops = drops

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        name = type(self._exporter).__name__
        try:
            result = self._exporter.export(spans)
        except Exception as exc:
            self._drops(len(spans), "export_failed", f"{name} raised {type(exc).__name__}")
            raise
        if result is not SpanExportResult.SUCCESS:
            self._drops(len(spans), "export_failed", f"{name} failed")
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` that counts the spans it drops because its queue is full (the
    SDK only logs them). The test is the SDK's own (queue full when the span arrives), so the
    count may exceed the loss by a span when the exporter empties the queue at that moment."""

    def __init__(self, exporter: SpanExporter, drops: Drops, **kwargs: Any) -> None:
        super().__init__(_CountingExporter(exporter, drops), **kwargs)
        self._drops = drops

    def on_end(self, span: ReadableSpan) -> None:
        queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        sampled = span.context is not None and span.context.trace_flags.sampled
        if sampled and queue is not None and queue.maxlen and len(queue) >= queue.maxlen:
            self._drops(1, "queue_full", f"the export queue of {queue.maxlen} spans is full")
        super().on_end(span)


def drop_counter(meter_provider: metrics.MeterProvider | None) -> Callable[[int, str], None]:
    meter = metrics.get_meter("otelstream", meter_provider=meter_provider)
    counter = meter.create_counter(
        "otelstream.export.dropped",
        unit="{span}",
        description="Spans not exported: the batch queue was full, or the export failed.",
    )
    return lambda count, reason: counter.add(count, {"error.type": reason})

"""Metrics sent to an endpoint that does not take them: said once, with the fix, then stopped.

Traces-only backends (Phoenix, Jaeger, Tempo) answer OTLP metrics with HTTP 404, 405 or 415,
or gRPC ``UNIMPLEMENTED``; OpenTelemetry's exporters would log that failure at every export
interval, for as long as the process runs. The exporters report the status only in that log
record (the export result is just ``FAILURE``), so the guard reads it there: while the guard's
own export call runs on a thread, a filter on the exporter's loggers notes a rejection status
and holds back the SDK's line. The guard then warns once, naming the fix, shuts the exporter
down and exports nothing more. Other failures (a down or failing endpoint) pass through as
before: the endpoint may come back.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

_logger = logging.getLogger(__name__)

REJECTING_HTTP_STATUS = frozenset({404, 405, 415})
"""Not found, method not allowed, unsupported media type: no metrics at this URL."""


def _rejection(record: logging.LogRecord) -> str | None:
    """The rejection an exporter's failure record reports (``HTTP 405``, ``gRPC
    UNIMPLEMENTED``), if it is one."""
    if "code" not in str(record.msg) or not isinstance(record.args, tuple):
        return None
    for arg in record.args:
        if isinstance(arg, int) and arg in REJECTING_HTTP_STATUS:
            return f"HTTP {arg}"
        if type(arg).__name__ == "StatusCode" and getattr(arg, "name", "") == "UNIMPLEMENTED":
            return "gRPC UNIMPLEMENTED"
    return None


class _RejectionFilter(logging.Filter):
    """Notes (and holds back) rejection records logged by a thread inside a guarded export."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def watch(self, seen: list[str] | None) -> None:
        self._local.seen = seen

    def filter(self, record: logging.LogRecord) -> bool:
        seen: list[str] | None = getattr(self._local, "seen", None)
        if seen is None:
            return True
        rejection = _rejection(record)
        if rejection is None:
            return True
        seen.append(rejection)
        return False


_FILTER = _RejectionFilter()


class MetricsGuard(MetricExporter):
    """Wraps an OTLP metric exporter; stops it at the first rejection (see the module)."""

    def __init__(self, exporter: MetricExporter, endpoint: str) -> None:
        super().__init__(
            preferred_temporality=exporter._preferred_temporality,
            preferred_aggregation=exporter._preferred_aggregation,
        )
        self._exporter = exporter
        self._endpoint = endpoint
        self._stopped = False
        self._closed = False
        for cls in type(exporter).__mro__:  # the modules whose loggers report its failures
            if cls.__module__.startswith("opentelemetry.exporter."):
                logging.getLogger(cls.__module__).addFilter(_FILTER)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self._stopped:
            return MetricExportResult.FAILURE
        seen: list[str] = []
        _FILTER.watch(seen)
        try:
            result = self._exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        finally:
            _FILTER.watch(None)
        if seen and result is not MetricExportResult.SUCCESS:
            self._stop(seen[0])
        return result

    def _stop(self, rejection: str) -> None:
        self._stopped = True
        _logger.warning(
            "otelstream: %s does not accept OTLP metrics (%s); metrics export is stopped. Set "
            "OTEL_METRICS_EXPORTER=none, or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT to a backend "
            "that takes metrics.",
            self._endpoint,
            rejection,
        )
        self.shutdown()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._stopped or self._exporter.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if not self._closed:  # once: the exporters warn when shut down twice
            self._closed = True
            self._exporter.shutdown(timeout_millis=timeout_millis, **kwargs)

"""OTLP/JSON file exporters: the format the Collector's ``file`` exporter writes and its
``otlpjsonfile`` receiver reads, so a file can be shipped to any backend unchanged.

Each export appends one line: an ``ExportTraceServiceRequest`` or
``ExportMetricsServiceRequest`` in OTLP/JSON (protobuf JSON with lowerCamelCase keys, enums as
integers, and trace and span ids as hex, as the OTLP specification requires). The encoding is
OpenTelemetry's own protobuf encoder; only the id fields are rewritten.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelstream.errors import report_failure

_logger = logging.getLogger(__name__)

FILE_ENV = "OTELSTREAM_FILE"
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def default_path() -> Path:
    """``$OTELSTREAM_FILE``, else ``otlp.jsonl`` in the user's state directory."""
    configured = os.environ.get(FILE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("XDG_STATE_HOME", "").strip() or Path.home() / ".local" / "state"
    return Path(state) / "otelstream" / "otlp.jsonl"


def to_otlp_json(message: Message) -> dict[str, Any]:
    """A protobuf OTLP request as its OTLP/JSON object."""
    return _hex_ids(MessageToDict(message, use_integers_for_enums=True))  # type: ignore[no-any-return]


def _hex_ids(value: Any) -> Any:
    """Protobuf JSON writes ``bytes`` ids as base64; OTLP/JSON wants them as hex."""
    if isinstance(value, dict):
        return {
            k: base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _hex_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


class OtlpJsonFile:
    """An append-only OTLP/JSON lines file, shared by the span and metric exporters."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, message: Message) -> bool:
        line = json.dumps(to_otlp_json(message), separators=(",", ":"), ensure_ascii=False)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line + "\n")
        except OSError as exc:
            report_failure(f"OTLP file {self.path}", exc)
            return False
        return True


class OtlpJsonFileSpanExporter(SpanExporter):
    """Spans to an OTLP/JSON lines file (``OTELSTREAM_FILE`` or the default path).

    Registered as the ``otelstream_file`` traces exporter, so
    ``OTEL_TRACES_EXPORTER=otelstream_file opentelemetry-instrument ...`` uses it too.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.file = OtlpJsonFile(path if path is not None else default_path())

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self.file.append(encode_spans(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class OtlpJsonFileMetricExporter(MetricExporter):
    """Metrics to an OTLP/JSON lines file; the ``otelstream_file`` metrics exporter."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()  # cumulative temporality, as the Collector's file exporter keeps
        self.file = OtlpJsonFile(path if path is not None else default_path())

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        ok = self.file.append(encode_metrics(metrics_data))
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass

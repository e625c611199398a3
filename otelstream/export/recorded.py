"""Exported OTLP/JSON read back: the spans of a file as they were recorded.

Reads OTLP/JSON lines (the embedded default's file, or a Collector ``file`` exporter's):
each line is an ``ExportTraceServiceRequest`` (metrics and other lines are skipped).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otelstream import semconv as sc


class RecordingError(Exception):
    """The file is not OTLP/JSON."""


@dataclass
class RecordedEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class RecordedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[RecordedEvent] = field(default_factory=list)

    @property
    def is_run(self) -> bool:
        return sc.LC_RUN_ID in self.attributes


def read_spans(path: str | Path) -> list[RecordedSpan]:
    """Every span in an OTLP/JSON lines file (metrics and other lines are skipped)."""
    spans: list[RecordedSpan] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordingError(f"{path}:{number}: not OTLP/JSON ({exc})") from exc
            for resource_spans in request.get("resourceSpans", ()):
                for scope_spans in resource_spans.get("scopeSpans", ()):
                    spans.extend(_span(s) for s in scope_spans.get("spans", ()))
    return spans


def _span(obj: dict[str, Any]) -> RecordedSpan:
    return RecordedSpan(
        trace_id=obj.get("traceId", ""),
        span_id=obj.get("spanId", ""),
        parent_span_id=obj.get("parentSpanId", ""),
        name=obj.get("name", ""),
        start_ns=int(obj.get("startTimeUnixNano", 0)),
        end_ns=int(obj.get("endTimeUnixNano", 0)),
        attributes=_attributes(obj.get("attributes", ())),
        events=[
            RecordedEvent(
                e.get("name", ""),
                int(e.get("timeUnixNano", 0)),
                _attributes(e.get("attributes", ())),
            )
            for e in obj.get("events", ())
        ],
    )


def _attributes(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def _value(value: dict[str, Any]) -> Any:
    """An OTLP ``AnyValue`` in its JSON form, as a Python value."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", ())]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values", ()))
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    return None

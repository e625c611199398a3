"""Exported OTLP/JSON read back: the spans of a file as they were recorded.

Reads OTLP/JSON lines (the embedded default's file and its rotated files, or a Collector
``file`` exporter's): each line is an ``ExportTraceServiceRequest`` (metrics and other lines
are skipped). Files are streamed line by line, and only the spans of the trace asked for are
kept: finding the newest run takes one pass that keeps a few ids per run span, reading its
trace a second pass. Memory follows the trace replayed, not the files.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otelstream import semconv as sc
from otelstream.export.otlp_file import default_path, rotated_files


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


def default_recordings() -> list[Path]:
    """The embedded default's file and its rotated files, oldest first."""
    return rotated_files(default_path())


def _span_objects(paths: Sequence[str | Path]) -> Iterator[dict[str, Any]]:
    """Each span of each file, as its OTLP/JSON object, one line in memory at a time."""
    for path in paths:
        with Path(path).open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    request = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RecordingError(f"{path}:{number}: not OTLP/JSON ({exc})") from exc
                if not isinstance(request, dict):
                    raise RecordingError(f"{path}:{number}: not OTLP/JSON (not an object)")
                for resource_spans in request.get("resourceSpans", ()):
                    for scope_spans in resource_spans.get("scopeSpans", ()):
                        yield from scope_spans.get("spans", ())


def read_spans(path: str | Path) -> list[RecordedSpan]:
    """Every span in an OTLP/JSON lines file (metrics and other lines are skipped)."""
    return [_span(obj) for obj in _span_objects([path])]


def _attribute(obj: dict[str, Any], key: str) -> Any:
    for item in obj.get("attributes", ()):
        if item.get("key") == key:
            return _value(item.get("value", {}))
    return None


def newest_run_trace(paths: Sequence[str | Path]) -> str | None:
    """The trace of the root run that ended last (``None``: no otelstream run in the files).

    A root run is a run span whose parent is not a run span of its trace; ties on the end
    time go to the later start sequence number."""
    run_ids: dict[str, set[str]] = {}
    candidates: list[tuple[int, int, str, str]] = []
    for obj in _span_objects(paths):
        if _attribute(obj, sc.LC_RUN_ID) is None:
            continue
        trace_id = obj.get("traceId", "")
        run_ids.setdefault(trace_id, set()).add(obj.get("spanId", ""))
        end = int(obj.get("endTimeUnixNano", 0))
        seq = _attribute(obj, sc.LC_START_SEQ) or 0
        candidates.append((end, seq, trace_id, obj.get("parentSpanId", "")))
    roots = [c for c in candidates if c[3] not in run_ids[c[2]]]
    return max(roots)[2] if roots else None


def run_spans(paths: Sequence[str | Path], trace_id: str) -> list[RecordedSpan]:
    """The run spans (those with a ``langchain.run.id``) of one trace."""
    return [
        _span(obj)
        for obj in _span_objects(paths)
        if obj.get("traceId") == trace_id and _attribute(obj, sc.LC_RUN_ID) is not None
    ]


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

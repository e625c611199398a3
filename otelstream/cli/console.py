"""Traces as text trees: a span exporter that keeps spans in memory, and the tree renderer.

Made for the demo and for looking at otelstream's output locally, where a tracing backend
would be overkill: one line per span, nested as the run was, with durations and the few
attributes worth a glance. Real deployments export over OTLP instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from otelstream import semconv as sc

__all__ = ["KEY_ATTRIBUTES", "ConsoleTreeExporter", "render_tree"]

KEY_ATTRIBUTES: tuple[str, ...] = (
    sc.GEN_AI_CONVERSATION_ID,
    sc.LG_STEP,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS,
    sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    sc.LG_INTERRUPTED,
    sc.LG_RESUMED,
    sc.LG_CANCELLED,
    sc.OS_DROPPED_STREAM_EVENTS,
)
"""Attributes shown after a span's duration, each only where it differs from the parent's
(so ``langgraph.step`` appears on node spans, not repeated on everything inside them)."""

_MAX_NAME_COLUMN = 60
_MAX_ERROR_TEXT = 80

_SpanKey = tuple[int, int]  # (trace id, span id): span ids alone are only unique per trace


class ConsoleTreeExporter(SpanExporter):
    """Keeps every finished span in memory, so a run can be printed as a tree afterwards.

    With a ``stream``, each trace is also written there as soon as its root span ends.
    Spans are kept until :meth:`clear`: meant for demos and local debugging, not services.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._spans: list[ReadableSpan] = []
        self._lock = threading.Lock()
        self._shut_down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut_down:
            return SpanExportResult.FAILURE
        with self._lock:
            self._spans.extend(spans)
            finished = [s for s in spans if _is_root(s)]
            traces = [
                [s for s in self._spans if s.context.trace_id == root.context.trace_id]
                for root in finished
            ]
        if self._stream is not None:
            for trace_spans in traces:
                self._stream.write(render_tree(trace_spans) + "\n")
        return SpanExportResult.SUCCESS

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        """Every span exported so far, in the order they ended."""
        with self._lock:
            return tuple(self._spans)

    def render(self) -> str:
        """All traces exported so far, as :func:`render_tree` prints them."""
        return render_tree(self.spans)

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()

    def shutdown(self) -> None:
        self._shut_down = True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # export() is synchronous: nothing is ever pending


def _is_root(span: ReadableSpan) -> bool:
    return span.parent is None or span.parent.is_remote


def _key(span: ReadableSpan) -> _SpanKey:
    return (span.context.trace_id, span.context.span_id)


def _duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "open"
    return f"{(span.end_time - span.start_time) / 1e6:.1f} ms"


def _format_value(key: str, value: Any) -> str:
    if key == sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK and isinstance(value, float):
        return f"{value:.6f}s"  # the attribute is in seconds, as the GenAI conventions say
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _events(span: ReadableSpan) -> str:
    """``[on_chat_model_stream x12, on_custom_event]``: names in first-seen order.

    Counted as lifecycle events (what ``astream_events`` would yield), so a span event that
    coalesces a batch of stream chunks counts as the chunks it holds.
    """
    counts: dict[str, int] = {}
    for event in span.events:
        batch = (event.attributes or {}).get(sc.LC_EVENT_COUNT)
        counts[event.name] = counts.get(event.name, 0) + (batch if isinstance(batch, int) else 1)
    parts = [name if n == 1 else f"{name} x{n}" for name, n in counts.items()]
    return f"[{', '.join(parts)}]" if parts else ""


def _details(span: ReadableSpan, parent: ReadableSpan | None) -> str:
    parts: list[str] = []
    if span.status.status_code == StatusCode.ERROR:
        reason = span.status.description or str((span.attributes or {}).get(sc.ERROR_TYPE, ""))
        if len(reason) > _MAX_ERROR_TEXT:
            reason = reason[: _MAX_ERROR_TEXT - 3] + "..."
        parts.append(f"✗ ERROR {reason}".rstrip())
    attrs = span.attributes or {}
    parent_attrs = (parent.attributes or {}) if parent is not None else {}
    for key in KEY_ATTRIBUTES:
        value = attrs.get(key)
        if value is not None and value != parent_attrs.get(key):
            parts.append(f"{key}={_format_value(key, value)}")
    events = _events(span)
    if events:
        parts.append(events)
    return "  ".join(parts)


def render_tree(spans: Iterable[ReadableSpan]) -> str:
    """Each trace as an indented tree, traces and siblings in start order.

    A span whose parent is not among ``spans`` is shown as a root, marked when that
    parent is a local one (it was lost or not exported yet).
    """
    spans = list(spans)
    known = {_key(s) for s in spans}
    children: dict[_SpanKey, list[ReadableSpan]] = {}
    roots: list[ReadableSpan] = []
    for span in spans:
        parent = span.parent
        if parent is not None and (parent.trace_id, parent.span_id) in known:
            children.setdefault((parent.trace_id, parent.span_id), []).append(span)
        else:
            roots.append(span)

    def start(span: ReadableSpan) -> int:
        return span.start_time or 0

    first_start: dict[int, int] = {}
    for root in roots:
        trace_id = root.context.trace_id
        first_start[trace_id] = min(first_start.get(trace_id, start(root)), start(root))
    roots.sort(key=lambda s: (first_start[s.context.trace_id], s.context.trace_id, start(s)))

    rows: list[tuple[str, str, str] | None] = []  # (tree and name, duration, details); None: gap

    def walk(span: ReadableSpan, parent: ReadableSpan | None, lead: str, branch: str) -> None:
        name = span.name
        if parent is None and not _is_root(span):
            name += " (parent span missing)"
        rows.append((lead + branch + name, _duration(span), _details(span, parent)))
        kids = sorted(children.get(_key(span), []), key=start)
        if branch:
            lead += "   " if branch == "└─ " else "│  "
        for i, kid in enumerate(kids):
            walk(kid, span, lead, "└─ " if i == len(kids) - 1 else "├─ ")

    previous_trace: int | None = None
    for root in roots:
        trace_id = root.context.trace_id
        if previous_trace is not None and trace_id != previous_trace:
            rows.append(None)
        previous_trace = trace_id
        walk(root, None, "", "")

    real = [r for r in rows if r is not None]
    if not real:
        return ""
    name_width = min(max(len(r[0]) for r in real), _MAX_NAME_COLUMN)
    time_width = max(len(r[1]) for r in real)
    lines = [
        "" if r is None else f"{r[0]:<{name_width}}  {r[1]:>{time_width}}  {r[2]}".rstrip()
        for r in rows
    ]
    return "\n".join(lines)

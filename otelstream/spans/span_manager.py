"""Lifecycle events -> OpenTelemetry spans and span events.

One span per run, parented explicitly by the run's parent (never by attaching context in
callbacks, which leaks across LangGraph's threads and tasks). Start and end come from the
run's ``on_*_start`` and ``on_*_end``/error; everything in between becomes span events
named after the lifecycle event. Stream chunks are coalesced into bounded batches so a long
answer costs a list append per token, not a span event per token. The span manager keeps
its per-run state itself; it knows nothing of the live streams fed beside it.
"""

from __future__ import annotations

import itertools
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from otelstream import lifecycle
from otelstream import semconv as sc
from otelstream.config import Settings
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, RunInfo
from otelstream.serialization import dumps
from otelstream.spans import outcome as outcomes
from otelstream.spans.attributes import chat_response, span_start
from otelstream.spans.content import Content, Marks
from otelstream.spans.metrics import Metrics, metric_plan
from otelstream.spans.payloads import Payloads
from otelstream.spans.resume import ResumeLinks
from otelstream.spans.tokens import encode


class _SpanState(Marks):
    """What the span manager keeps per open run."""

    __slots__ = (
        "_context",
        "chunk_event",
        "chunks",
        "dropped",
        "first_chunk_ns",
        "interrupted",
        "metric_attrs",
        "metric_kind",
        "recording",
        "span",
        "start_ns",
        "stream_events",
        "usage",
    )

    def __init__(self, span: Span, start_ns: int) -> None:
        super().__init__()
        self.span = span
        self.recording = span.is_recording()  # asked per chunk: the SDK's answer, once
        self._context: Context | None = None
        self.start_ns = start_ns
        self.chunks: list[tuple[int, int, Any]] = []  # (time, seq, chunk)
        self.chunk_event = ""
        self.stream_events = 0
        self.dropped = 0
        self.first_chunk_ns = 0
        self.interrupted = False
        self.metric_kind: str | None = None  # "model", "graph" or "node": which metric to record
        self.metric_attrs: dict[str, Any] = {}
        self.usage: tuple[int | None, int | None] | None = None

    def first_chunk_s(self) -> float | None:
        """Seconds from the start to the first streamed chunk, if any was streamed."""
        if not self.first_chunk_ns:
            return None
        return (self.first_chunk_ns - self.start_ns) / 1e9

    @property
    def context(self) -> Context:
        """The span as a parent context, made when a first child starts (most spans have
        none)."""
        if self._context is None:
            self._context = trace.set_span_in_context(self.span)
        return self._context


class SpanManager:
    """Turns each lifecycle event into span data."""

    def __init__(self, tracer: trace.Tracer, settings: Settings, metrics: Metrics) -> None:
        self._tracer = tracer
        self._settings = settings
        self._content = Content(settings)
        self._payloads = Payloads(self._content, settings.openinference)
        self._oi = self._payloads.openinference
        self._metrics = metrics
        self._resume = ResumeLinks()
        self._open: dict[RunInfo, _SpanState] = {}
        self._seq = itertools.count()  # next() is atomic under the GIL

    def handle(self, ev: LifecycleEvent) -> None:
        """Record one lifecycle event; internal failures are counted, never raised."""
        try:
            phase = ev.phase
            if phase == lifecycle.START:
                self._start(ev)
            elif phase == lifecycle.STREAM or phase == lifecycle.DEBUG:
                self._stream(ev)
            elif phase == lifecycle.END:
                self._end(ev)
            elif phase == lifecycle.ERROR:
                self._error(ev)
            elif phase == lifecycle.CUSTOM:
                self._custom(ev)
            elif phase == lifecycle.CUSTOM_WRITE:
                self._custom_write(ev)
        except Exception as exc:
            report_failure("span manager", exc)

    # -- start ---------------------------------------------------------------------------------
    def _start(self, ev: LifecycleEvent) -> None:
        run = ev.run
        cuts = Marks()  # what is cut before the span state exists
        parent = self._open.get(run.parent) if run.parent is not None else None
        seq = next(self._seq)
        start = span_start(run, seq, self._content, cuts, self._resume.take, parent is not None)
        attrs = start.attributes
        if self._oi is not None:
            self._oi.start_attributes(run, attrs)
        # A child of a recorded span is recorded too (the SDK samples by parent): its input
        # goes in with the rest, the SDK taking all of a span's attributes in one call.
        inputs_now = run.has_inputs and parent is not None and parent.recording
        if inputs_now:
            attrs.update(self._payloads.start(run, cuts))
        span = self._tracer.start_span(
            start.name,
            context=parent.context if parent is not None else None,
            kind=start.kind,
            attributes=attrs,
            links=start.links,
            start_time=ev.time_ns,
        )
        state = _SpanState(span, ev.time_ns)
        state.truncated.extend(cuts.truncated)
        state.metric_kind, state.metric_attrs = metric_plan(run, attrs)
        self._open[run] = state
        if run.has_inputs and not inputs_now and state.recording:
            span.set_attributes(self._payloads.start(run, state))

    # -- in between ----------------------------------------------------------------------------
    def _stream(self, ev: LifecycleEvent) -> None:
        state = self._open.get(ev.run)
        if state is None:
            return
        if not state.first_chunk_ns and ev.run.run_type in ("chat_model", "llm"):
            state.first_chunk_ns = ev.time_ns
            state.span.set_attribute(sc.GEN_AI_REQUEST_STREAM, True)
            state.span.set_attribute(
                sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, (ev.time_ns - state.start_ns) / 1e9
            )
        if not state.recording:
            return  # sampled out: nothing to buffer or serialize
        if state.chunk_event != ev.event:
            self._flush(state)  # one kind of chunk per span event
            state.chunk_event = ev.event
        item = ev.data["chunk"]
        if ev.phase == lifecycle.DEBUG:
            item = [list(ev.data["namespace"]), item]
        state.chunks.append((ev.time_ns, next(self._seq), item))
        if len(state.chunks) >= self._settings.token_batch_size:
            self._flush(state)

    def _flush(self, state: _SpanState) -> None:
        """One span event for the buffered chunks: their count, timing and content (message
        chunks in the compact, readable form of ``spans/tokens.py``)."""
        chunks = state.chunks
        if not chunks:
            return
        state.chunks = []
        if state.stream_events >= self._settings.max_stream_events:
            state.dropped += len(chunks)
            return
        state.stream_events += 1
        first = chunks[0][0]
        attrs: dict[str, Any] = {
            sc.LC_EVENT_COUNT: len(chunks),
            sc.LC_EVENT_OFFSETS: [t - first for t, _, _ in chunks],
        }
        first_seq, last_seq = chunks[0][1], chunks[-1][1]
        if last_seq - first_seq == len(chunks) - 1:  # one run streaming alone: a range
            attrs[sc.LC_EVENT_SEQ] = first_seq
        else:
            attrs[sc.LC_EVENT_SEQS] = [seq for _, seq, _ in chunks]
        items = [c for _, _, c in chunks]
        content = self._content
        compact = encode(items) if content.capture and state.chunk_event != sc.EVENT_DEBUG else None
        if compact is None:
            attrs[sc.LC_EVENT_DATA_LIST] = content.payload(state, "chunk", items)
        else:
            text, lengths, shared, deltas = compact
            attrs[sc.LC_EVENT_TEXT] = content.scrub(state, "chunk", text)
            attrs[sc.LC_EVENT_TEXT_LENGTHS] = lengths
            attrs[sc.LC_EVENT_CHUNK] = content.scrub(state, "chunk", shared)
            if deltas is not None:
                attrs[sc.LC_EVENT_DELTAS] = content.scrub(state, "chunk", deltas)
        state.span.add_event(state.chunk_event, attrs, timestamp=first)

    def _custom(self, ev: LifecycleEvent) -> None:
        state = self._open.get(ev.run)
        if state is None:
            return
        self._flush(state)  # keep the span's events in the order they happened
        attrs: dict[str, Any] = {
            sc.LC_EVENT_SEQ: next(self._seq),
            sc.LC_EVENT_NAME: ev.name,
            sc.LC_EVENT_DATA: self._content.payload(state, "custom", ev.data),
        }
        if ev.tags:
            attrs[sc.LC_RUN_TAGS] = [str(t) for t in ev.tags]
        if ev.metadata != ev.run.metadata:
            attrs[sc.LC_RUN_METADATA] = self._content.scrub(state, "metadata", dumps(ev.metadata))
        state.span.add_event(ev.event, attrs, timestamp=ev.time_ns)

    def _custom_write(self, ev: LifecycleEvent) -> None:
        state = self._open.get(ev.run)
        if state is None:
            return
        self._flush(state)  # after the chunks streamed before it
        attrs: dict[str, Any] = {
            sc.LC_EVENT_SEQ: next(self._seq),
            sc.LG_CUSTOM_DATA: self._content.payload(state, "custom", ev.data),
        }
        state.span.add_event(sc.EVENT_CUSTOM_WRITE, attrs, timestamp=ev.time_ns)

    # -- end -----------------------------------------------------------------------------------
    def _end(self, ev: LifecycleEvent) -> None:
        run = ev.run
        state = self._open.get(run)
        if state is None:
            return
        attrs: dict[str, Any] = {}
        try:
            output = ev.data.get("output")
            if run.run_type == "chat_model":  # metrics need the usage even when not sampled
                attrs.update(self._chat_response(state, run, output))
            if state.recording:
                if run.run_type == "tool":
                    self._tool_result(state, run, output)
                attrs.update(self._payloads.end(run, output, state))
                end_input = ev.data.get("input")
                if run.run_type not in lifecycle.OWN_INPUT_RUNS and (
                    end_input is not run.inputs or not run.has_inputs
                ):
                    attrs[sc.LC_RUN_END_INPUT] = self._content.payload(state, "input", end_input)
        except Exception as exc:
            report_failure("span manager", exc)
        finally:  # a span whose recording failed still ends
            outcome = sc.OUTCOME_INTERRUPTED if state.interrupted else sc.OUTCOME_SUCCESS
            self._close(ev, state, outcome, attrs=attrs)

    def _chat_response(self, state: _SpanState, run: RunInfo, message: Any) -> dict[str, Any]:
        """What the answer tells (usage, model, finish reason): the span's attributes, and
        the metrics' usage and response model."""
        response = chat_response(run, message)
        attrs = response.attributes
        if response.usage is not None:
            state.usage = response.usage
            if self._oi is not None:
                attrs.update(self._oi.token_counts(*response.usage))
        if response.model is not None:
            state.metric_attrs[sc.GEN_AI_RESPONSE_MODEL] = response.model
        return attrs

    @staticmethod
    def _tool_result(state: _SpanState, run: RunInfo, output: Any) -> None:
        span = state.span
        call_id = getattr(output, "tool_call_id", None)  # older cores: only on the result
        if call_id and not run.tool_call_id:
            span.set_attribute(sc.GEN_AI_TOOL_CALL_ID, str(call_id))
        if getattr(output, "status", None) == "error":  # a ToolMessage built from an error
            span.set_status(Status(StatusCode.ERROR, "tool returned an error"))
            span.set_attribute(sc.ERROR_TYPE, "ToolMessage.error")

    def _error(self, ev: LifecycleEvent) -> None:
        run = ev.run
        state = self._open.get(run)
        if state is None:
            return
        error = ev.error
        outcome, error_type = outcomes.classify(error, state.interrupted)
        try:
            span = state.span
            if ev.event == "on_tool_error" and error is not None:
                self._flush(state)
                data = {"error": error, "tool_call_id": ev.data["tool_call_id"]}
                attrs: dict[str, Any] = {
                    sc.LC_EVENT_SEQ: next(self._seq),
                    sc.ERROR_TYPE: type(error).__qualname__,
                    sc.LC_EVENT_DATA: self._content.payload(state, "error", data),
                }
                span.add_event("on_tool_error", attrs, timestamp=ev.time_ns)
            if error is not None and outcomes.is_interrupt(error):
                self._interrupt(run, state, error, ev.time_ns)
            elif outcome == sc.OUTCOME_CANCELLED:
                span.set_attribute(sc.LG_CANCELLED, True)
            elif error_type is not None and error is not None:
                outcomes.record_error(span, self._content, state, error, ev.time_ns)
        except Exception as exc:
            report_failure("span manager", exc)
        finally:  # a span whose recording failed still ends
            self._close(ev, state, outcome, error_type)

    def _interrupt(
        self, run: RunInfo, state: _SpanState, error: BaseException, time_ns: int
    ) -> None:
        count = outcomes.record_interrupts(state.span, self._content, state, error, time_ns)
        if not state.interrupted:  # counted once, where raised (not again as it propagates)
            self._metrics.interrupted(state.metric_attrs, count)
        state.interrupted = True
        # The graph run around the interrupted node ends normally: mark it too.
        ancestor = run.parent
        while ancestor is not None:
            parent_state = self._open.get(ancestor)
            if parent_state is not None and not parent_state.interrupted:
                parent_state.interrupted = True
                parent_state.span.set_attribute(sc.LG_INTERRUPTED, True)
            ancestor = ancestor.parent

    def _close(
        self,
        ev: LifecycleEvent,
        state: _SpanState,
        outcome: str,
        error_type: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        """End the span: its last stream chunks, metrics, and ``attrs`` with the bookkeeping
        attributes in one call."""
        span = state.span
        run = ev.run
        attrs = {} if attrs is None else attrs
        try:
            self._flush(state)
            if state.metric_kind is not None:
                self._metrics.run_ended(
                    state.metric_kind,
                    state.metric_attrs,
                    (ev.time_ns - state.start_ns) / 1e9,
                    outcome,
                    error_type,
                    state.first_chunk_s(),
                    state.usage,
                )
            thread_id = run.metadata.get("thread_id")
            if state.interrupted and run.is_root and thread_id is not None:
                self._resume.remember(str(thread_id), span.get_span_context())
            if state.dropped:
                attrs[sc.OS_DROPPED_STREAM_EVENTS] = state.dropped
            if state.truncated:
                attrs[sc.OS_TRUNCATED] = state.truncated
            attrs[sc.LC_END_SEQ] = next(self._seq)
        except Exception as exc:
            report_failure("span manager", exc)
        finally:
            self._open.pop(run, None)
            try:
                span.set_attributes(attrs)
            finally:
                span.end(end_time=ev.time_ns)

"""Lifecycle events -> OpenTelemetry spans and span events.

One span per run, parented explicitly by ``parent_run_id`` (never by attaching context in
callbacks, which leaks across LangGraph's threads and tasks). Start and end come from the
run's ``on_*_start`` and ``on_*_end``/error; everything in between becomes span events
named after the lifecycle event. Stream chunks are coalesced into bounded batches so a long
answer costs a list append per token, not a span event per token.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode

from otelstream import lifecycle
from otelstream import semconv as sc
from otelstream.config import Settings
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, RunInfo
from otelstream.metrics import Metrics
from otelstream.serialization import bound, dumps, safe_text

Listener = Callable[[LifecycleEvent], None]

_INTERRUPT_MEMORY = 10_000  # threads whose last run was interrupted, kept for resume links
_CANCELLATIONS = ("GeneratorExit", "CancelledError")
_INTERRUPT_KEYS = (sc.LG_GRAPH_NAME, sc.LG_NODE)


class _Marks:
    """Keys of the attributes cut by the length limit (``otelstream.truncated``)."""

    __slots__ = ("truncated",)

    def __init__(self) -> None:
        self.truncated: list[str] = []


class _SpanState(_Marks):
    """What the span manager keeps per open run (stored on ``RunInfo.state``)."""

    __slots__ = (
        "chunk_event",
        "chunks",
        "context",
        "dropped",
        "first_chunk_ns",
        "interrupted",
        "metric_attrs",
        "metric_kind",
        "span",
        "start_ns",
        "stream_events",
        "usage",
    )

    def __init__(self, span: Span, start_ns: int) -> None:
        super().__init__()
        self.span = span
        self.context = trace.set_span_in_context(span)
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


def _class_names(error: BaseException) -> set[str]:
    return {c.__name__ for c in type(error).__mro__}


def _count(value: Any) -> int | None:
    """An int attribute value, if it is one OTLP can carry (int64)."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def _model_name(run: RunInfo) -> str | None:
    name = run.metadata.get("ls_model_name")
    if isinstance(name, str) and name:
        return name
    params = run.extra.get("invocation_params") or {}
    for key in ("model", "model_name", "model_id", "deployment_name"):
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    return None


class SpanManager:
    """Turns each lifecycle event into span data, then hands the event to live listeners."""

    def __init__(self, tracer: trace.Tracer, settings: Settings, metrics: Metrics) -> None:
        self._tracer = tracer
        self._settings = settings
        self._metrics = metrics
        self._listeners: list[Listener] = []
        self._interrupted: OrderedDict[str, SpanContext] = OrderedDict()
        self._interrupted_lock = threading.Lock()
        self._seq = itertools.count()  # next() is atomic under the GIL

    # -- listeners (the in-process subscriber) ---------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- entry point ---------------------------------------------------------------------------
    def handle(self, ev: LifecycleEvent) -> None:
        """Record one lifecycle event; internal failures are counted, never raised."""
        try:
            phase = ev.phase
            if phase == lifecycle.START:
                self._start(ev)
            elif phase == lifecycle.STREAM:
                self._stream(ev)
            elif phase == lifecycle.END:
                self._end(ev)
            elif phase == lifecycle.ERROR:
                self._error(ev)
            elif phase == lifecycle.CUSTOM:
                self._custom(ev)
            elif phase == lifecycle.CUSTOM_WRITE:
                self._custom_write(ev)
            elif phase == lifecycle.DEBUG:
                self._stream(ev)
        except Exception as exc:
            report_failure("span manager", exc)
        for listener in self._listeners:
            try:
                listener(ev)
            except Exception as exc:
                report_failure("subscriber", exc)

    # -- content -------------------------------------------------------------------------------
    def _content(self, state: _SpanState | None, key: str, value: Any) -> str:
        """The exported form of a payload: JSON, redacted, bounded; or a redaction marker."""
        if not self._settings.capture_content:
            return sc.REDACTED
        return self._scrub(state, key, dumps(value))

    def _scrub(self, state: _Marks | None, key: str, text: str) -> str:
        """Apply the user's redaction hook, then the length limit."""
        redact = self._settings.redact
        if redact is not None:
            try:
                text = str(redact(key, text))
            except Exception as exc:  # never export what the hook failed to scrub
                report_failure("redaction hook", exc)
                return sc.REDACTED
        return self._text(state, key, text)

    def _text(self, state: _Marks | None, key: str, value: str) -> str:
        text, cut = bound(safe_text(value), self._settings.max_attribute_length)
        if cut and state is not None and key not in state.truncated:
            state.truncated.append(key)
        return text

    # -- start ---------------------------------------------------------------------------------
    def _start(self, ev: LifecycleEvent) -> None:
        run = ev.run
        md = run.metadata
        cuts = _Marks()  # what is cut before the span state exists
        attrs: dict[str, Any] = {
            sc.LC_START_SEQ: next(self._seq),
            sc.LC_RUN_ID: str(run.run_id),
            sc.LC_RUN_TYPE: run.run_type,
            sc.LC_RUN_NAME: safe_text(run.name),
        }
        if run.parent_ids:
            attrs[sc.LC_RUN_PARENT_IDS] = run.parent_ids
        if run.tags:
            attrs[sc.LC_RUN_TAGS] = [safe_text(t) for t in run.tags]
        if md:
            attrs[sc.LC_RUN_METADATA] = self._scrub(cuts, "metadata", dumps(md))
        thread_id = md.get("thread_id")
        if thread_id is not None:
            attrs[sc.GEN_AI_CONVERSATION_ID] = safe_text(thread_id)
        node = md.get("langgraph_node")
        if node is not None:
            attrs[sc.LG_NODE] = safe_text(node)
            step = md.get("langgraph_step")
            if isinstance(step, int):
                attrs[sc.LG_STEP] = step

        kind = SpanKind.INTERNAL
        links: list[Link] = []
        rt = run.run_type
        if rt == "chat_model" or rt == "llm":
            op = sc.OP_CHAT if rt == "chat_model" else sc.OP_TEXT_COMPLETION
            model = _model_name(run)
            span_name = f"{op} {model}" if model else op
            kind = SpanKind.CLIENT
            attrs[sc.GEN_AI_OPERATION_NAME] = op
            provider = md.get("ls_provider")
            if isinstance(provider, str):
                attrs[sc.GEN_AI_PROVIDER_NAME] = sc.PROVIDER_NAMES.get(provider, provider)
            if model:
                attrs[sc.GEN_AI_REQUEST_MODEL] = model
            params = run.extra.get("invocation_params") or {}
            for key, attr in (
                ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
                ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
                ("top_p", sc.GEN_AI_REQUEST_TOP_P),
            ):
                value = params.get(key)
                if isinstance(value, float) or _count(value) is not None:
                    attrs[attr] = value
        elif rt == "tool":
            span_name = f"{sc.OP_EXECUTE_TOOL} {run.name}"
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_EXECUTE_TOOL
            attrs[sc.GEN_AI_TOOL_NAME] = run.name
            attrs[sc.GEN_AI_TOOL_TYPE] = "function"
            if run.tool_call_id:
                attrs[sc.GEN_AI_TOOL_CALL_ID] = str(run.tool_call_id)
            description = (run.serialized or {}).get("description")
            if isinstance(description, str) and description:
                attrs[sc.GEN_AI_TOOL_DESCRIPTION] = self._text(cuts, "description", description)
        elif rt == "retriever":
            span_name = f"{sc.OP_RETRIEVAL} {run.name}"
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_RETRIEVAL
        elif run.is_node:
            span_name = f"node {run.name}"
            triggers = md.get("langgraph_triggers")
            if triggers:
                attrs[sc.LG_TRIGGERS] = [str(t) for t in triggers]
            path = md.get("langgraph_path")
            if path:
                attrs[sc.LG_PATH] = [str(p) for p in path]
            ns = md.get("langgraph_checkpoint_ns")
            if isinstance(ns, str) and ns:
                attrs[sc.LG_CHECKPOINT_NS] = ns
                attrs[sc.LG_TASK_ID] = ns.rsplit("|", 1)[-1].partition(":")[2]
            if run.parent is not None:
                attrs[sc.LG_GRAPH_NAME] = run.parent.name
        elif run.graph_operation is not None:
            op = run.graph_operation
            span_name = f"{op} {run.name}"
            attrs[sc.GEN_AI_OPERATION_NAME] = op
            name_key = sc.GEN_AI_AGENT_NAME if op == sc.OP_INVOKE_AGENT else sc.GEN_AI_WORKFLOW_NAME
            attrs[name_key] = run.name
            attrs[sc.LG_GRAPH_NAME] = run.name
            ns = md.get("checkpoint_ns")
            if isinstance(ns, str) and ns:
                attrs[sc.LG_CHECKPOINT_NS] = ns
            if run.is_root and thread_id is not None:
                with self._interrupted_lock:
                    previous = self._interrupted.pop(str(thread_id), None)
                if previous is not None:
                    links.append(Link(previous, {sc.LG_RESUMED: True}))
                    attrs[sc.LG_RESUMED] = True
        else:
            span_name = run.name

        parent = run.parent
        parent_ctx: otel_context.Context | None = None
        if parent is not None and parent.state is not None:
            parent_ctx = parent.state.context
        span = self._tracer.start_span(
            span_name,
            context=parent_ctx,
            kind=kind,
            attributes=attrs,
            links=links,
            start_time=ev.time_ns,
        )
        state = _SpanState(span, ev.time_ns)
        state.truncated.extend(cuts.truncated)
        run.state = state
        self._metric_setup(run, state, attrs)
        if run.has_inputs and span.is_recording():
            key = sc.GEN_AI_RETRIEVAL_QUERY_TEXT if rt == "retriever" else sc.LC_RUN_INPUT
            value = run.inputs["query"] if rt == "retriever" else run.inputs
            span.set_attribute(key, self._content(state, "input", value))

    @staticmethod
    def _metric_setup(run: RunInfo, state: _SpanState, attrs: dict[str, Any]) -> None:
        """Which metric the run feeds when it ends, and its attributes (low-cardinality)."""
        keys: tuple[str, ...]
        if run.run_type in ("chat_model", "llm"):
            state.metric_kind = "model"
            keys = (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL)
        elif run.graph_operation is not None and not run.is_node:
            state.metric_kind = "graph"
            keys = (sc.LG_GRAPH_NAME, sc.GEN_AI_OPERATION_NAME)
        elif run.is_node:
            state.metric_kind = "node"
            keys = (sc.LG_GRAPH_NAME, sc.LG_NODE)
        else:
            return
        state.metric_attrs = {k: attrs[k] for k in keys if k in attrs}
        if state.metric_kind == "model":  # where in the graph the call was made, if anywhere
            node = run.parent
            while node is not None and not node.is_node:
                node = node.parent
            if node is not None and node.parent is not None:
                state.metric_attrs[sc.LG_GRAPH_NAME] = safe_text(node.parent.name)
                state.metric_attrs[sc.LG_NODE] = safe_text(node.name)

    # -- in between ----------------------------------------------------------------------------
    def _stream(self, ev: LifecycleEvent) -> None:
        state: _SpanState | None = ev.run.state
        if state is None:
            return
        if not state.first_chunk_ns and ev.run.run_type in ("chat_model", "llm"):
            state.first_chunk_ns = ev.time_ns
            state.span.set_attribute(sc.GEN_AI_REQUEST_STREAM, True)
            state.span.set_attribute(
                sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, (ev.time_ns - state.start_ns) / 1e9
            )
        if not state.span.is_recording():
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
        """One span event for the buffered chunks: their count, timing and content."""
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
            sc.LC_EVENT_SEQS: [seq for _, seq, _ in chunks],
            sc.LC_EVENT_DATA_LIST: self._content(state, "chunk", [c for _, _, c in chunks]),
        }
        state.span.add_event(state.chunk_event, attrs, timestamp=first)

    def _custom(self, ev: LifecycleEvent) -> None:
        state: _SpanState | None = ev.run.state
        if state is None:
            return
        self._flush(state)  # keep the span's events in the order they happened
        attrs: dict[str, Any] = {
            sc.LC_EVENT_SEQ: next(self._seq),
            sc.LC_EVENT_NAME: ev.name,
            sc.LC_EVENT_DATA: self._content(state, "custom", ev.data),
        }
        if ev.tags:
            attrs[sc.LC_RUN_TAGS] = [str(t) for t in ev.tags]
        if ev.metadata != ev.run.metadata:
            attrs[sc.LC_RUN_METADATA] = self._scrub(state, "metadata", dumps(ev.metadata))
        state.span.add_event(ev.event, attrs, timestamp=ev.time_ns)

    def _custom_write(self, ev: LifecycleEvent) -> None:
        state: _SpanState | None = ev.run.state
        if state is None:
            return
        attrs: dict[str, Any] = {
            sc.LC_EVENT_SEQ: next(self._seq),
            sc.LG_CUSTOM_DATA: self._content(state, "custom", ev.data),
        }
        state.span.add_event(sc.EVENT_CUSTOM_WRITE, attrs, timestamp=ev.time_ns)

    # -- end -----------------------------------------------------------------------------------
    def _close(
        self, ev: LifecycleEvent, state: _SpanState, outcome: str, error_type: str | None = None
    ) -> None:
        span = state.span
        try:
            self._flush(state)
            self._record_metrics(ev, state, outcome, error_type)
            if state.interrupted and ev.run.is_root:
                self._remember_interrupt(ev.run, span)
            if state.dropped:
                span.set_attribute(sc.OS_DROPPED_STREAM_EVENTS, state.dropped)
            if state.truncated:
                span.set_attribute(sc.OS_TRUNCATED, state.truncated)
            span.set_attribute(sc.LC_END_SEQ, next(self._seq))
        except Exception as exc:
            report_failure("span manager", exc)
        finally:
            ev.run.state = None
            span.end(end_time=ev.time_ns)

    def _record_metrics(
        self, ev: LifecycleEvent, state: _SpanState, outcome: str, error_type: str | None
    ) -> None:
        kind = state.metric_kind
        if kind is None:
            return
        duration = (ev.time_ns - state.start_ns) / 1e9
        attrs = state.metric_attrs
        if error_type is not None:
            attrs[sc.ERROR_TYPE] = error_type
        if kind == "model":
            first_chunk = (
                (state.first_chunk_ns - state.start_ns) / 1e9 if state.first_chunk_ns else None
            )
            tokens = state.usage or (None, None)
            self._metrics.model_call(attrs, duration, first_chunk, *tokens)
            return
        attrs[sc.LG_OUTCOME] = outcome
        if kind == "graph":
            self._metrics.graph_run(attrs, duration)
        else:
            self._metrics.node(attrs, duration)

    def _end(self, ev: LifecycleEvent) -> None:
        run = ev.run
        state: _SpanState | None = run.state
        if state is None:
            return
        try:
            span = state.span
            output = ev.data.get("output")
            if run.run_type == "chat_model":  # metrics need the usage even when not sampled
                self._chat_response(state, run, output)
            if span.is_recording():
                if run.run_type == "tool":
                    call_id = getattr(
                        output, "tool_call_id", None
                    )  # older cores: only on the result
                    if call_id and not run.tool_call_id:
                        span.set_attribute(sc.GEN_AI_TOOL_CALL_ID, str(call_id))
                    status = getattr(output, "status", None)
                    if status == "error":  # a ToolMessage the tool node built from an error
                        span.set_status(Status(StatusCode.ERROR, "tool returned an error"))
                        span.set_attribute(sc.ERROR_TYPE, "ToolMessage.error")
                span.set_attribute(sc.LC_RUN_OUTPUT, self._content(state, "output", output))
                end_input = ev.data.get("input")
                if run.run_type not in lifecycle.OWN_INPUT_RUNS and (
                    end_input is not run.inputs or not run.has_inputs
                ):
                    span.set_attribute(
                        sc.LC_RUN_END_INPUT, self._content(state, "input", end_input)
                    )
        except Exception as exc:
            report_failure("span manager", exc)
        finally:  # a span whose recording failed still ends
            outcome = sc.OUTCOME_INTERRUPTED if state.interrupted else sc.OUTCOME_SUCCESS
            self._close(ev, state, outcome)

    def _chat_response(self, state: _SpanState, run: RunInfo, message: Any) -> None:
        span = state.span
        usage = getattr(message, "usage_metadata", None)
        llm_output = run.extra.get("llm_output") or {}
        if not usage and isinstance(llm_output, dict):
            token_usage = llm_output.get("token_usage") or llm_output.get("usage") or {}
            if isinstance(token_usage, dict):
                usage = {
                    "input_tokens": token_usage.get("prompt_tokens")
                    or token_usage.get("input_tokens"),
                    "output_tokens": token_usage.get("completion_tokens")
                    or token_usage.get("output_tokens"),
                }
        if usage:
            n_in, n_out = (_count(usage.get(k)) for k in ("input_tokens", "output_tokens"))
            state.usage = (n_in, n_out)
            if n_in is not None:
                span.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, n_in)
            if n_out is not None:
                span.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, n_out)
        response_md = getattr(message, "response_metadata", None) or {}
        model = response_md.get("model_name") or response_md.get("model")
        if isinstance(model, str) and model:
            span.set_attribute(sc.GEN_AI_RESPONSE_MODEL, model)
            state.metric_attrs[sc.GEN_AI_RESPONSE_MODEL] = model
        reason = response_md.get("finish_reason") or response_md.get("stop_reason")
        if isinstance(reason, str) and reason:
            span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, [reason])
        response_id = response_md.get("id") or getattr(message, "id", None)
        if isinstance(response_id, str) and not response_id.startswith(("lc_run-", "run-")):
            span.set_attribute(sc.GEN_AI_RESPONSE_ID, response_id)

    def _error(self, ev: LifecycleEvent) -> None:
        run = ev.run
        state: _SpanState | None = run.state
        if state is None:
            return
        error = ev.error
        names = _class_names(error) if error is not None else set()
        if "GraphInterrupt" in names:
            outcome = sc.OUTCOME_INTERRUPTED
        elif "GraphBubbleUp" in names:  # control flow (Command to a parent graph)
            outcome = sc.OUTCOME_INTERRUPTED if state.interrupted else sc.OUTCOME_SUCCESS
        elif names.intersection(_CANCELLATIONS):
            outcome = sc.OUTCOME_CANCELLED
        else:
            outcome = sc.OUTCOME_ERROR
        error_type = type(error).__qualname__ if outcome == sc.OUTCOME_ERROR and error else None
        try:
            span = state.span
            if ev.event == "on_tool_error" and error is not None:
                self._flush(state)
                span.add_event(
                    "on_tool_error",
                    {
                        sc.LC_EVENT_SEQ: next(self._seq),
                        sc.ERROR_TYPE: type(error).__qualname__,
                        sc.LC_EVENT_DATA: self._content(
                            state,
                            "error",
                            {"error": error, "tool_call_id": ev.data["tool_call_id"]},
                        ),
                    },
                    timestamp=ev.time_ns,
                )
            if (
                outcome == sc.OUTCOME_INTERRUPTED
                and error is not None
                and "GraphInterrupt" in names
            ):
                self._record_interrupt(run, state, error, ev.time_ns)
            elif outcome == sc.OUTCOME_CANCELLED:
                span.set_attribute(sc.LG_CANCELLED, True)
            elif error_type is not None and error is not None:
                self._record_error(state, error, ev.time_ns)
        except Exception as exc:
            report_failure("span manager", exc)
        finally:  # a span whose recording failed still ends
            self._close(ev, state, outcome, error_type)

    def _record_error(self, state: _SpanState, error: BaseException, time_ns: int) -> None:
        """ERROR status and an ``exception`` event (as the SDK's ``record_exception``). The
        message and stacktrace go through the redaction hook and the length limit; with
        content capture off, messages (which often quote payloads) are left out."""
        kind = type(error).__qualname__
        module = type(error).__module__
        qualified = kind if module in ("builtins", "__main__") else f"{module}.{kind}"
        if self._settings.capture_content:
            message = self._scrub(state, "error", safe_text(error))
            stacktrace = "".join(
                traceback.format_exception(type(error), error, error.__traceback__)
            )
            description = f"{kind}: {message}"
        else:
            message = sc.REDACTED
            stacktrace = "".join(traceback.format_tb(error.__traceback__)) + qualified
            description = kind
        span = state.span
        span.set_status(Status(StatusCode.ERROR, self._text(state, "error", description)))
        span.set_attribute(sc.ERROR_TYPE, kind)
        span.add_event(
            "exception",
            {
                sc.EXCEPTION_TYPE: qualified,
                sc.EXCEPTION_MESSAGE: message,
                sc.EXCEPTION_STACKTRACE: self._scrub(state, "error", stacktrace),
                sc.EXCEPTION_ESCAPED: "False",
            },
            timestamp=time_ns,
        )

    # -- interrupts ----------------------------------------------------------------------------
    def _record_interrupt(
        self, run: RunInfo, state: _SpanState, error: BaseException, time_ns: int
    ) -> None:
        interrupts = error.args[0] if error.args else ()
        if not isinstance(interrupts, (list, tuple)):
            interrupts = (interrupts,)
        if not state.interrupted:  # counted once, where raised (not again as it propagates)
            self._metrics.interrupts(
                {k: v for k, v in state.metric_attrs.items() if k in _INTERRUPT_KEYS},
                len(interrupts),
            )
        for item in interrupts:
            attrs: dict[str, Any] = {
                sc.LG_INTERRUPT_VALUE: self._content(
                    state, "interrupt", getattr(item, "value", item)
                )
            }
            interrupt_id = getattr(item, "id", None) or getattr(item, "interrupt_id", None)
            if interrupt_id:
                attrs[sc.LG_INTERRUPT_ID] = str(interrupt_id)
            state.span.add_event(sc.EVENT_INTERRUPT, attrs, timestamp=time_ns)
        state.span.set_attribute(sc.LG_INTERRUPTED, True)
        state.interrupted = True
        # The graph run around the interrupted node ends normally: mark it too.
        ancestor = run.parent
        while ancestor is not None:
            parent_state: _SpanState | None = ancestor.state
            if parent_state is not None and not parent_state.interrupted:
                parent_state.interrupted = True
                parent_state.span.set_attribute(sc.LG_INTERRUPTED, True)
            ancestor = ancestor.parent

    def _remember_interrupt(self, run: RunInfo, span: Span) -> None:
        thread_id = run.metadata.get("thread_id")
        if thread_id is None:
            return
        key = str(thread_id)
        with self._interrupted_lock:
            self._interrupted[key] = span.get_span_context()
            self._interrupted.move_to_end(key)
            while len(self._interrupted) > _INTERRUPT_MEMORY:
                self._interrupted.popitem(last=False)

"""The runs the callback handler follows, and the lifecycle events made from them.

The open runs by id, the graph runs and root inputs other hooks announce before a run
starts, the output streams taps have claimed, and the one sink every lifecycle event goes
to. The callback handler adds LangChain's callbacks on top; the other capture hooks (taps,
loop and writer hooks) report their chunks here.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otelstream import lifecycle
from otelstream import semconv as sc
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, RunInfo, Sink

_MAX_PENDING_RUNS = 10_000


def _discard(event: LifecycleEvent) -> None:
    return None


def _assign_name(name: str | None, serialized: dict[str, Any] | None) -> str:
    """The run name exactly as ``astream_events`` assigns it."""
    if name:
        return name
    if serialized is not None:
        if "name" in serialized:
            return str(serialized["name"])
        if "id" in serialized:
            return str(serialized["id"][-1])
    return "Unnamed"


class OpenRuns:
    """Followed runs and their lifecycle events; never raises into user code."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._runs: dict[UUID, RunInfo] = {}
        # Graph runs announced by the Pregel hook, claimed by their on_chain_start.
        self._graph_runs: dict[UUID, tuple[str, str | None, bool]] = {}
        # Inputs of followed streamed chain roots (the runnable hook), claimed likewise.
        self._root_inputs: dict[UUID, tuple[Any, bool]] = {}
        # Runs whose output a tap claimed before they started.
        self._claimed: set[UUID] = set()

    def disable(self) -> None:
        """Stop recording (after ``uninstrument()``); managers may still hold this handler."""
        self._sink = _discard
        self._runs.clear()
        self._graph_runs.clear()
        self._root_inputs.clear()
        self._claimed.clear()

    # -- for the other hooks of the capture stage ------------------------------------------
    def run(self, run_id: UUID) -> RunInfo | None:
        """The open run with this id, if otelstream follows it."""
        return self._runs.get(run_id)

    def register_graph_run(
        self, run_id: UUID, operation: str, stream_mode: str | None, runs_async: bool
    ) -> None:
        """Mark the run about to start as a graph run (``invoke_workflow``/``invoke_agent``),
        started through ``astream`` or not."""
        graph_runs = self._graph_runs
        if len(graph_runs) >= _MAX_PENDING_RUNS:  # streams created but never iterated
            graph_runs.pop(next(iter(graph_runs)), None)
        graph_runs[run_id] = (operation, stream_mode, runs_async)

    def announce_root_input(self, run_id: UUID, value: Any, runs_async: bool) -> None:
        """The input of the streamed chain root about to start, which LangChain reports only
        as a placeholder (``astream_events`` reports the caller's input instead)."""
        root_inputs = self._root_inputs
        if len(root_inputs) >= _MAX_PENDING_RUNS:  # announced, never started
            root_inputs.pop(next(iter(root_inputs)), None)
        root_inputs[run_id] = (value, runs_async)

    def claim_tap(self, run_id: UUID) -> bool:
        """Claim a run's output stream for a tap, before its first chunk; False if another
        tap has it. The run may start only when its stream is first read."""
        run = self._runs.get(run_id)
        if run is not None:
            if run.tapped:
                return False
            run.tapped = True
            return True
        if run_id in self._claimed:
            return False
        self._claimed.add(run_id)
        return True

    def release_tap(self, run_id: UUID) -> None:
        """A tap is done (a claim whose run never started is dropped)."""
        self._claimed.discard(run_id)

    def emit_chunk(self, run: RunInfo, chunk: Any) -> None:
        """One chunk of a run's output stream, as its ``on_*_stream`` event."""
        event = run.stream_event
        self._emit(LifecycleEvent(lifecycle.STREAM, event, run, {"chunk": chunk}, time.time_ns()))

    def emit_debug(self, run: RunInfo, namespace: tuple[str, ...], chunk: Any) -> None:
        """A LangGraph ``debug`` chunk of a subscribed run's loop."""
        data = {"namespace": namespace, "chunk": chunk}
        self._emit(LifecycleEvent(lifecycle.DEBUG, sc.EVENT_DEBUG, run, data, time.time_ns()))

    def emit_graph_chunk(
        self, run: RunInfo, namespace: tuple[str, ...], mode: str, chunk: Any
    ) -> None:
        """A chunk of another LangGraph stream mode of a followed run's loop (its name)."""
        data = {"namespace": namespace, "chunk": chunk}
        self._emit(LifecycleEvent(lifecycle.GRAPH_CHUNK, mode, run, data, time.time_ns()))

    def record_custom_write(self, run_id: UUID, chunk: Any) -> None:
        """A LangGraph ``StreamWriter`` write made inside the run ``run_id``."""
        run = self._runs.get(run_id)
        if run is not None:
            self._emit(LifecycleEvent(lifecycle.CUSTOM_WRITE, "custom", run, chunk, time.time_ns()))

    # -- bookkeeping ------------------------------------------------------------------------
    # Start callbacks pass run_id, parent_run_id, tags, metadata, name (and per kind: run_type,
    # inputs, tool_call_id, invocation_params) by keyword; _start reads them from ``kw``.
    def _start(
        self, run_type: str, serialized: dict[str, Any] | None, kw: dict[str, Any]
    ) -> RunInfo | None:
        """A new run from a start callback's keyword arguments; None inside
        ``suppress_instrumentation()``."""
        if not is_instrumentation_enabled():
            return None
        run_id: UUID = kw["run_id"]
        parent_run_id: UUID | None = kw.get("parent_run_id")
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        params = kw.get("invocation_params")
        run = RunInfo(
            run_id,
            run_type,
            _assign_name(kw.get("name"), serialized),
            kw.get("tags") or [],
            kw.get("metadata") or {},
            parent,
            parent_run_id,
            serialized,
            params if isinstance(params, dict) else None,
        )
        if self._claimed and run_id in self._claimed:
            self._claimed.discard(run_id)
            run.tapped = True
        self._runs[run_id] = run
        return run

    def _emit(self, event: LifecycleEvent) -> None:
        try:
            self._sink(event)
        except Exception as exc:  # fail open: never into user code
            report_failure("lifecycle sink", exc)

    def _emit_start(self, run: RunInfo, inputs: Any, data: dict[str, Any]) -> None:
        run.inputs, run.has_inputs = inputs, True
        event = f"on_{run.run_type}_start"
        self._emit(LifecycleEvent(lifecycle.START, event, run, data, time.time_ns()))

    def _finish(self, run_id: UUID, event: str, data: dict[str, Any]) -> None:
        run = self._runs.pop(run_id, None)
        if run is not None:
            self._emit(LifecycleEvent(lifecycle.END, event, run, data, time.time_ns()))

    def _fail(self, run_id: UUID, error: BaseException, **extra: Any) -> None:
        run = self._runs.pop(run_id, None)
        if run is not None:
            data = {"error": error, "input": run.inputs, **extra}
            event = f"on_{run.run_type}_error"
            self._emit(
                LifecycleEvent(lifecycle.ERROR, event, run, data, time.time_ns(), error=error)
            )

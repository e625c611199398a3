"""Runtime hook -> lifecycle events: LangChain callbacks translated into ``astream_events`` v2.

This mirrors ``langchain_core.tracers.event_stream._AstreamEventsCallbackHandler`` callback
for callback, so the events it produces are the ones ``astream_events`` would yield; they go
to a single sink (the span manager). It never raises into user code: LangChain would log
and carry on, but a broken hook must not even cost a log line per event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, GenerationChunk, LLMResult
from langchain_core.tracers._streaming import _StreamingCallbackHandler

from otelstream import lifecycle
from otelstream import semconv as sc
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, RunInfo

T = TypeVar("T")
_logger = logging.getLogger(__name__)

Sink = Callable[[LifecycleEvent], None]


_MAX_PENDING_GRAPH_RUNS = 10_000


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


class OtelStreamCallbackHandler(BaseCallbackHandler):
    """Inherited by every callback manager in the process; turns callbacks into lifecycle events.

    ``run_inline`` keeps callbacks on the caller's thread or event loop, in the order they
    happen, instead of hopping to an executor thread.
    """

    run_inline = True
    raise_error = False

    def __init__(self, sink: Sink) -> None:
        super().__init__()
        self._sink = sink
        self.run_map: dict[UUID, RunInfo] = {}
        # Graph runs announced by the Pregel hook, claimed by their on_chain_start.
        self._graph_runs: dict[UUID, tuple[str, str | None]] = {}

    def register_graph_run(self, run_id: UUID, operation: str, stream_mode: str | None) -> None:
        """Mark the run about to start as a graph run (``invoke_workflow``/``invoke_agent``)."""
        graph_runs = self._graph_runs
        if len(graph_runs) >= _MAX_PENDING_GRAPH_RUNS:  # streams created but never iterated
            graph_runs.pop(next(iter(graph_runs)), None)
        graph_runs[run_id] = (operation, stream_mode)

    # Handlers are copied along with configs; one instance must survive the copies.
    def __copy__(self) -> OtelStreamCallbackHandler:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> OtelStreamCallbackHandler:
        return self

    def disable(self) -> None:
        """Stop recording (after ``uninstrument()``); managers may still hold this handler."""
        self._sink = _discard
        self.run_map.clear()
        self._graph_runs.clear()

    # -- bookkeeping ------------------------------------------------------------------------
    def _start(
        self,
        run_id: UUID,
        run_type: str,
        name: str,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        parent_run_id: UUID | None,
        serialized: dict[str, Any] | None,
        extra: dict[str, Any],
    ) -> RunInfo:
        parent = self.run_map.get(parent_run_id) if parent_run_id is not None else None
        run = RunInfo(
            run_id,
            run_type,
            name,
            tags or [],
            metadata or {},
            parent,
            parent_run_id,
            serialized,
            extra,
        )
        self.run_map[run_id] = run
        return run

    def _emit(self, event: LifecycleEvent) -> None:
        try:
            self._sink(event)
        except Exception as exc:  # fail open: never into user code
            report_failure("span manager", exc)

    def _emit_start(self, run: RunInfo, data: dict[str, Any]) -> None:
        self._emit(
            LifecycleEvent(lifecycle.START, f"on_{run.run_type}_start", run, data, time.time_ns())
        )

    def _finish(self, run_id: UUID, event: str, data: dict[str, Any]) -> None:
        run = self.run_map.pop(run_id, None)
        if run is not None:
            self._emit(LifecycleEvent(lifecycle.END, event, run, data, time.time_ns()))

    def _fail(self, run_id: UUID, error: BaseException, event: str) -> None:
        run = self.run_map.pop(run_id, None)
        if run is not None:
            data = {"error": error, "input": run.inputs}
            self._emit(
                LifecycleEvent(lifecycle.ERROR, event, run, data, time.time_ns(), error=error)
            )

    # -- chat models and LLMs ---------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self._start(
                run_id,
                "chat_model",
                _assign_name(name, serialized),
                tags,
                metadata,
                parent_run_id,
                serialized,
                kwargs,
            )
            run.inputs, run.has_inputs = {"messages": messages}, True
            self._emit_start(run, {"input": {"messages": messages}})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self._start(
                run_id,
                "llm",
                _assign_name(name, serialized),
                tags,
                metadata,
                parent_run_id,
                serialized,
                kwargs,
            )
            run.inputs, run.has_inputs = {"prompts": prompts}, True
            self._emit_start(run, {"input": {"prompts": prompts}})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        chunk: GenerationChunk | ChatGenerationChunk | None = None,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is None or run.tapped:
                return
            chunk_: Any
            if run.run_type == "chat_model":
                event = "on_chat_model_stream"
                chunk_ = (
                    AIMessageChunk(content=token)  # type: ignore[arg-type]
                    if chunk is None
                    else chunk.message  # type: ignore[union-attr]
                )
            else:
                event = "on_llm_stream"
                if chunk is None:
                    chunk_ = GenerationChunk(text=token if isinstance(token, str) else "")
                else:
                    chunk_ = chunk
            self._emit(
                LifecycleEvent(lifecycle.STREAM, event, run, {"chunk": chunk_}, time.time_ns())
            )
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is None:
                return
            output: Any
            if run.run_type == "chat_model":
                output = {}
                for gen in response.generations:
                    if gen:
                        output = getattr(gen[0], "message", gen[0])
                        break
                event = "on_chat_model_end"
            else:
                output = {
                    "generations": [
                        [
                            {
                                "text": g.text,
                                "generation_info": g.generation_info,
                                "type": g.type,
                            }
                            for g in gen
                        ]
                        for gen in response.generations
                    ],
                    "llm_output": response.llm_output,
                }
                event = "on_llm_end"
            run.extra["llm_output"] = response.llm_output
            self._finish(run_id, event, {"output": output, "input": run.inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is not None:
                self._fail(run_id, error, f"on_{run.run_type}_error")
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- chains (graphs, nodes, prompts, parsers, lambdas) ------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        run_type: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self._start(
                run_id,
                run_type or "chain",
                _assign_name(name, serialized),
                tags,
                metadata,
                parent_run_id,
                serialized,
                kwargs,
            )
            graph = self._graph_runs.pop(run_id, None)
            if graph is not None:
                run.graph_operation, run.graph_stream_mode = graph
            data: dict[str, Any] = {}
            # As astream_events: a placeholder input means "not known yet".
            if not _is_placeholder(inputs):
                data["input"] = inputs
                run.inputs, run.has_inputs = inputs, True
            self._emit_start(run, data)
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_chain_end(
        self,
        outputs: Any,
        *,
        run_id: UUID,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is None:
                return
            inputs_ = inputs or run.inputs or {}
            self._finish(run_id, f"on_{run.run_type}_end", {"output": outputs, "input": inputs_})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is not None:
                self._fail(run_id, error, f"on_{run.run_type}_error")
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- tools ------------------------------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self._start(
                run_id,
                "tool",
                _assign_name(name, serialized),
                tags,
                metadata,
                parent_run_id,
                serialized,
                kwargs,
            )
            run.inputs, run.has_inputs = inputs, True
            run.tool_call_id = kwargs.get("tool_call_id")
            self._emit_start(run, {"input": inputs or {}})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is not None:
                self._finish(run_id, "on_tool_end", {"output": output, "input": run.inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self.run_map.pop(run_id, None)
            if run is None:
                return
            tool_call_id = kwargs.get("tool_call_id") or run.tool_call_id
            data = {"error": error, "input": run.inputs, "tool_call_id": tool_call_id}
            self._emit(
                LifecycleEvent(
                    lifecycle.ERROR, "on_tool_error", run, data, time.time_ns(), error=error
                )
            )
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- retrievers -------------------------------------------------------------------------
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self._start(
                run_id,
                "retriever",
                _assign_name(name, serialized),
                tags,
                metadata,
                parent_run_id,
                serialized,
                kwargs,
            )
            run.inputs, run.has_inputs = {"query": query}, True
            self._emit_start(run, {"input": {"query": query}})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is not None:
                self._finish(run_id, "on_retriever_end", {"output": documents, "input": run.inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error, "on_retriever_error")
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- custom events ----------------------------------------------------------------------
    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self.run_map.get(run_id)
            if run is None:
                return
            self._emit(
                LifecycleEvent(
                    lifecycle.CUSTOM,
                    "on_custom_event",
                    run,
                    data,
                    time.time_ns(),
                    name=name,
                    tags=tags or [],
                    metadata=metadata or {},
                )
            )
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- LangGraph StreamWriter writes (called through hooks.RuntimeHook) ----------------------
    def record_custom_write(self, run_id: UUID, chunk: Any) -> None:
        run = self.run_map.get(run_id)
        if run is not None:
            self._emit(LifecycleEvent(lifecycle.CUSTOM_WRITE, "custom", run, chunk, time.time_ns()))

    # LangGraph dispatches graph lifecycle callbacks to every handler; interrupts are
    # recorded from the node's GraphInterrupt instead, which every LangGraph version raises.
    def on_interrupt(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_resume(self, *args: Any, **kwargs: Any) -> None:
        return None

    # -- stream taps (called through StreamTap) -----------------------------------------------
    def _tap_start(self, run_id: UUID) -> RunInfo | None:
        run = self.run_map.get(run_id)
        if run is None or run.tapped:
            return None
        run.tapped = True
        return run

    def emit_debug(self, run: RunInfo, namespace: tuple[str, ...], chunk: Any) -> None:
        """A LangGraph ``debug`` chunk of a subscribed run's loop (see ``hooks.LoopHook``)."""
        data = {"namespace": namespace, "chunk": chunk}
        self._emit(LifecycleEvent(lifecycle.DEBUG, sc.EVENT_DEBUG, run, data, time.time_ns()))

    def _emit_chunk(self, run: RunInfo, chunk: Any) -> None:
        self._emit(
            LifecycleEvent(
                lifecycle.STREAM,
                f"on_{run.run_type}_stream",
                run,
                {"chunk": chunk},
                time.time_ns(),
            )
        )


class StreamTap(BaseCallbackHandler, _StreamingCallbackHandler):  # type: ignore[type-arg]
    """Taps runs' output streams into ``on_*_stream`` events, as ``astream_events`` does.

    Being a streaming handler is what makes LangChain stream a chat model called with
    ``.invoke()``; so it is attached only to runs that asked for tokens (a live ``events``
    subscriber, or the ``capture_tokens`` opt-in). It ignores every other callback.
    """

    run_inline = True
    raise_error = False
    ignore_llm = ignore_chain = ignore_agent = ignore_retriever = True
    ignore_chat_model = ignore_custom_event = ignore_retry = True

    def __init__(self, handler: OtelStreamCallbackHandler) -> None:
        super().__init__()
        self._handler = handler

    def __copy__(self) -> StreamTap:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> StreamTap:
        return self

    def tap_output_iter(self, run_id: UUID, output: Iterator[T]) -> Iterator[T]:
        sentinel: Any = object()
        first = next(output, sentinel)
        if first is sentinel:
            return
        run = self._start_tap(run_id)  # looked up once the run has started
        if run is None:
            yield first
            yield from output
            return
        self._chunk(run, first)
        yield first
        for chunk in output:
            self._chunk(run, chunk)
            yield chunk

    async def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[T]) -> AsyncIterator[T]:
        sentinel: Any = object()
        first = await anext(output, sentinel)
        if first is sentinel:
            return
        run = self._start_tap(run_id)  # looked up once the run has started
        if run is None:
            yield first
            async for chunk in output:
                yield chunk
            return
        self._chunk(run, first)
        yield first
        async for chunk in output:
            self._chunk(run, chunk)
            yield chunk

    # The user's stream passes through untouched whatever happens here (fail-open).
    def _start_tap(self, run_id: UUID) -> RunInfo | None:
        try:
            return self._handler._tap_start(run_id)
        except Exception as exc:
            report_failure("stream tap", exc)
            return None

    def _chunk(self, run: RunInfo, chunk: Any) -> None:
        try:
            self._handler._emit_chunk(run, chunk)
        except Exception as exc:
            report_failure("stream tap", exc)


def _is_placeholder(inputs: Any) -> bool:
    """LangChain's ``{"input": ""}`` for "not known yet", tested without calling the user's
    ``__eq__`` (array-likes raise on it)."""
    if type(inputs) is not dict or len(inputs) != 1:
        return False
    value = inputs.get("input")
    return type(value) is str and value == ""

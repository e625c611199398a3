"""LangChain callbacks -> lifecycle events, translated exactly as ``astream_events`` v2 would.

This mirrors ``langchain_core.tracers.event_stream._AstreamEventsCallbackHandler`` callback
for callback, so the events it produces are the ones ``astream_events`` would yield; they go
to one sink (the instrumentor's fan-out). It never raises into user code: LangChain would
log and carry on, but a broken hook must not even cost a log line per event.

Runs started inside OpenTelemetry's ``suppress_instrumentation()`` are not followed: no
lifecycle event, so no span, metric or stream item, comes from them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, GenerationChunk, LLMResult

from otelstream import lifecycle
from otelstream.capture.open_runs import OpenRuns
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, Sink


def _is_placeholder(inputs: Any) -> bool:
    """LangChain's ``{"input": ""}`` for "not known yet", tested without calling the user's
    ``__eq__`` (array-likes raise on it)."""
    if type(inputs) is not dict or len(inputs) != 1:
        return False
    value = inputs.get("input")
    return type(value) is str and value == ""


class OtelStreamCallbackHandler(BaseCallbackHandler, OpenRuns):
    """Inherited by every callback manager in the process; turns callbacks into lifecycle events.

    ``run_inline`` keeps callbacks on the caller's thread or event loop, in the order they
    happen, instead of hopping to an executor thread.
    """

    run_inline = True
    raise_error = False

    def __init__(self, sink: Sink) -> None:
        OpenRuns.__init__(self, sink)

    # Handlers are copied along with configs; one instance must survive the copies.
    def __copy__(self) -> OtelStreamCallbackHandler:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> OtelStreamCallbackHandler:
        return self

    # -- chat models and LLMs ---------------------------------------------------------------
    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        try:
            metadata = kw.get("metadata")
            if metadata:  # LangGraph's ``messages`` handler adds "tags" to this very dict
                kw["metadata"] = {**metadata}
            run = self._start("chat_model", serialized, kw)
            if run is not None:
                inputs = {"messages": messages}
                self._emit_start(run, inputs, {"input": inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kw: Any) -> None:
        try:
            run = self._start("llm", serialized, kw)
            if run is not None:
                inputs = {"prompts": prompts}
                self._emit_start(run, inputs, {"input": inputs})
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
            run = self._runs.get(run_id)
            if run is None or run.tapped:
                return
            chunk_: Any
            if run.run_type == "chat_model":
                chunk_ = (
                    AIMessageChunk(content=token)  # type: ignore[arg-type]
                    if chunk is None
                    else chunk.message  # type: ignore[union-attr]
                )
            elif chunk is None:
                chunk_ = GenerationChunk(text=token if isinstance(token, str) else "")
            else:
                chunk_ = chunk
            self.emit_chunk(run, chunk_)
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self._runs.get(run_id)
            if run is None:
                return
            output: Any
            if run.run_type == "chat_model":
                output = {}
                for gen in response.generations:
                    if gen:
                        output = getattr(gen[0], "message", gen[0])
                        break
            else:
                output = {
                    "generations": [
                        [
                            {"text": g.text, "generation_info": g.generation_info, "type": g.type}
                            for g in gen
                        ]
                        for gen in response.generations
                    ],
                    "llm_output": response.llm_output,
                }
            run.llm_output = response.llm_output
            event = f"on_{run.run_type}_end"
            self._finish(run_id, event, {"output": output, "input": run.inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error)
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- chains (graphs, nodes, prompts, parsers, lambdas) ------------------------------------
    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: dict[str, Any], **kw: Any
    ) -> None:
        try:
            run = self._start(kw.get("run_type") or "chain", serialized, kw)
            if run is None:
                return
            graph = self._graph_runs.pop(run.run_id, None)
            if graph is not None:
                run.graph_operation, run.graph_stream_mode, run.runs_async = graph
            if self._root_inputs and run.parent is None:
                announced = self._root_inputs.pop(run.run_id, None)
                if announced is not None:
                    inputs, run.runs_async = announced
            # As astream_events: a placeholder input means "not known yet".
            if _is_placeholder(inputs):
                event = f"on_{run.run_type}_start"
                self._emit(LifecycleEvent(lifecycle.START, event, run, {}, time.time_ns()))
            else:
                self._emit_start(run, inputs, {"input": inputs})
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
            run = self._runs.get(run_id)
            if run is not None:
                data = {"output": outputs, "input": inputs or run.inputs or {}}
                self._finish(run_id, f"on_{run.run_type}_end", data)
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error)
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- tools ------------------------------------------------------------------------------
    def on_tool_start(self, serialized: dict[str, Any], input_str: str, **kw: Any) -> None:
        try:
            run = self._start("tool", serialized, kw)
            if run is not None:
                inputs = kw.get("inputs")
                run.tool_call_id = kw.get("tool_call_id")
                self._emit_start(run, inputs, {"input": inputs or {}})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self._runs.get(run_id)
            if run is not None:
                self._finish(run_id, "on_tool_end", {"output": output, "input": run.inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self._runs.get(run_id)
            if run is not None:
                tool_call_id = kwargs.get("tool_call_id") or run.tool_call_id
                self._fail(run_id, error, tool_call_id=tool_call_id)
        except Exception as exc:
            report_failure("callback handler", exc)

    # -- retrievers -------------------------------------------------------------------------
    def on_retriever_start(self, serialized: dict[str, Any], query: str, **kw: Any) -> None:
        try:
            run = self._start("retriever", serialized, kw)
            if run is not None:
                inputs = {"query": query}
                self._emit_start(run, inputs, {"input": inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self._runs.get(run_id)
            if run is not None:
                self._finish(run_id, "on_retriever_end", {"output": documents, "input": run.inputs})
        except Exception as exc:
            report_failure("callback handler", exc)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error)
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
            run = self._runs.get(run_id)
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

    # LangGraph dispatches graph lifecycle callbacks to every handler; interrupts are
    # recorded from the node's GraphInterrupt instead, which every LangGraph version raises.
    def on_interrupt(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_resume(self, *args: Any, **kwargs: Any) -> None:
        return None

"""Runtime hooks (wrapt): where otelstream attaches to LangChain and LangGraph.

* ``BaseCallbackManager.__init__``: every callback manager in the process inherits the
  otelstream handler (the hook OpenTelemetry, OpenInference and OpenLLMetry all use), plus
  the stream tap for runs that asked for tokens.
* ``langgraph.pregel.Pregel.stream``/``astream`` (which ``invoke``, ``ainvoke`` and
  ``astream_events`` all go through): the graph run gets a known run id, so its span is
  told apart from the many other chain runs, and agents (graphs with a ``ToolNode``) from
  workflows.
* ``langgraph.runtime.Runtime.__init__``: a graph's ``StreamWriter`` is wrapped so custom
  writes are recorded even when the caller did not ask for ``stream_mode="custom"``.

Each hook calls the wrapped function first and untouched, and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from otelstream.callback_handler import OtelStreamCallbackHandler, StreamTap
from otelstream.errors import report_failure
from otelstream.semconv import OP_INVOKE_AGENT, OP_INVOKE_WORKFLOW

WantsStream = Callable[[UUID | None], bool]


class CallbackManagerHook:
    """Wrapper of ``BaseCallbackManager.__init__`` that injects the handler once."""

    def __init__(
        self, handler: OtelStreamCallbackHandler, tap: StreamTap, wants_stream: WantsStream
    ) -> None:
        self._handler = handler
        self._tap = tap
        self._wants_stream = wants_stream

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        try:
            if self._handler not in instance.inheritable_handlers:
                instance.add_handler(self._handler, True)
            if self._wants_stream(instance.parent_run_id):
                self._attach_tap(instance)
        except Exception as exc:
            report_failure("callback manager hook", exc)

    def _attach_tap(self, manager: Any) -> None:
        """Attach the tap last, so a caller's own stream handler keeps tapping first."""
        tap = self._tap
        for handlers in (manager.handlers, manager.inheritable_handlers):
            if handlers and handlers[-1] is tap:
                continue
            if tap in handlers:
                handlers.remove(tap)
            handlers.append(tap)


def _new_run_id() -> UUID:
    """A run id of the kind LangChain itself would assign (uuid7 where it has one)."""
    try:
        from langchain_core.utils.uuid import uuid7

        return uuid7()  # type: ignore[no-any-return]
    except ImportError:
        return uuid4()


def graph_operation(graph: Any) -> str:
    """``invoke_agent`` for graphs that execute tools through a ``ToolNode``, else a workflow."""
    for node in getattr(graph, "nodes", {}).values():
        if type(getattr(node, "bound", None)).__name__ == "ToolNode":
            return OP_INVOKE_AGENT
    return OP_INVOKE_WORKFLOW


class PregelStreamHook:
    """Wrapper of ``Pregel.stream``/``astream``: registers the graph run before it starts."""

    def __init__(self, handler: OtelStreamCallbackHandler) -> None:
        self._handler = handler

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            args, kwargs = self._register(instance, args, kwargs)
        except Exception as exc:
            report_failure("graph hook", exc)
        return wrapped(*args, **kwargs)

    def _register(self, graph: Any, args: Any, kwargs: Any) -> tuple[Any, Any]:
        if len(args) > 1:
            config, positional = args[1], True
        else:
            config, positional = kwargs.get("config"), False
        config = dict(config or {})  # never mutate the caller's config
        run_id = config.get("run_id")
        if run_id is None:
            run_id = config["run_id"] = _new_run_id()
        self._handler.register_graph_run(run_id, graph_operation(graph))
        if positional:
            return (args[0], config, *args[2:]), kwargs
        return args, {**kwargs, "config": config}


class _RecordingWriter:
    """A ``StreamWriter`` that writes as before, then records the write on the current run."""

    __slots__ = ("_writer", "_record")

    def __init__(self, writer: Callable[[Any], None], record: Callable[[Any], None]) -> None:
        self._writer = writer
        self._record = record

    def __call__(self, chunk: Any) -> None:
        self._writer(chunk)
        try:
            self._record(chunk)
        except Exception as exc:
            report_failure("stream writer hook", exc)


class RuntimeHook:
    """Wrapper of ``langgraph.runtime.Runtime.__init__`` that wraps its ``stream_writer``."""

    def __init__(self, handler: OtelStreamCallbackHandler) -> None:
        self._handler = handler

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        try:
            writer = kwargs.get("stream_writer")
            if callable(writer) and not isinstance(writer, _RecordingWriter):
                kwargs["stream_writer"] = _RecordingWriter(writer, self._record)
        except Exception as exc:
            report_failure("runtime hook", exc)
        wrapped(*args, **kwargs)

    def _record(self, chunk: Any) -> None:
        from langgraph.config import get_config

        try:
            config = get_config()
        except RuntimeError:  # written outside a runnable context: nothing to attach it to
            return
        run_id = getattr(config.get("callbacks"), "parent_run_id", None)
        if run_id is not None:
            self._handler.record_custom_write(run_id, chunk)

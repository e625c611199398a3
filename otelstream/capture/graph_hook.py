"""Hook on ``Pregel.stream``/``astream``: graph runs are known before they start.

``invoke``, ``ainvoke`` and ``astream_events`` all go through these two methods. The hook
gives the graph run a run id (LangChain's own kind) and announces it to the handler, so its
span is told apart from the many other chain runs, and agents (graphs with a ``ToolNode``)
from workflows. A root run that a live ``events`` consumer waits for also gets the stream
tap in its callbacks, exactly where ``astream_events`` puts its own handler.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otelstream.capture.callback_handler import OtelStreamCallbackHandler
from otelstream.capture.demand import StreamDemand
from otelstream.capture.stream_tap import StreamTap
from otelstream.errors import report_failure
from otelstream.semconv import OP_INVOKE_AGENT, OP_INVOKE_WORKFLOW


def new_run_id() -> UUID:
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


def with_handler(callbacks: Any, handler: Any) -> Any:
    """``callbacks`` plus ``handler`` (inheritable), as ``astream_events`` adds its own."""
    from langchain_core.callbacks.base import BaseCallbackManager

    if callbacks is None:
        return [handler]
    if isinstance(callbacks, list):
        return callbacks if handler in callbacks else [*callbacks, handler]
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        return manager
    return callbacks


class PregelStreamHook:
    """Wrapper of ``Pregel.stream``/``astream``: registers the graph run before it starts."""

    def __init__(
        self, handler: OtelStreamCallbackHandler, tap: StreamTap, demand: StreamDemand
    ) -> None:
        self._handler = handler
        self._tap = tap
        self._demand = demand

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            if is_instrumentation_enabled():
                runs_async = getattr(wrapped, "__name__", "") == "astream"
                args, kwargs = self._register(instance, args, kwargs, runs_async)
        except Exception as exc:
            report_failure("graph hook", exc)
        return wrapped(*args, **kwargs)

    def _register(self, graph: Any, args: Any, kwargs: Any, runs_async: bool) -> tuple[Any, Any]:
        if len(args) > 1:
            config, positional = args[1], True
        else:
            config, positional = kwargs.get("config"), False
        config = dict(config or {})  # never mutate the caller's config
        run_id = config.get("run_id")
        if run_id is None:
            run_id = config["run_id"] = new_run_id()
        self._handler.register_graph_run(
            run_id, graph_operation(graph), getattr(graph, "stream_mode", None), runs_async
        )
        configurable = config.get("configurable") or {}
        root = "__pregel_task_id" not in configurable  # not a subgraph
        name = config.get("run_name") or graph.get_name()
        if root and self._demand.wants_tokens(configurable.get("thread_id"), run_id, name):
            config["callbacks"] = with_handler(config.get("callbacks"), self._tap)
        if positional:
            return (args[0], config, *args[2:]), kwargs
        return args, {**kwargs, "config": config}

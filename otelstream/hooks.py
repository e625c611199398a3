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

import asyncio
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from langchain_core.tracers._streaming import _StreamingCallbackHandler

from otelstream.callback_handler import OtelStreamCallbackHandler, StreamTap
from otelstream.errors import report_failure
from otelstream.semconv import OP_INVOKE_AGENT, OP_INVOKE_WORKFLOW
from otelstream.subscriber import CUSTOM, DEBUG, EVENTS, WAKE, SubscriberHub

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
            if self._tap in instance.handlers:
                self._before_passthrough_taps(instance.handlers)
        except Exception as exc:
            report_failure("callback manager hook", exc)

    def _before_passthrough_taps(self, handlers: list[Any]) -> None:
        """LangChain lets only the first streaming handler tap a run's output. LangGraph's
        own streaming handlers (``messages`` mode, tool calls) only pass it through, and a
        manager merge may put them first: put the tap ahead of them."""
        tap = self._tap
        for i, handler in enumerate(handlers):
            if handler is tap:
                return
            if isinstance(handler, _StreamingCallbackHandler) and type(
                handler
            ).__module__.startswith("langgraph."):
                handlers.remove(tap)
                handlers.insert(i, tap)
                return

    def _attach_tap(self, manager: Any) -> None:
        """Attach the tap last, so a caller's own stream handler keeps tapping first."""
        tap = self._tap
        for handlers in (manager.handlers, manager.inheritable_handlers):
            if handlers and handlers[-1] is tap:
                continue
            if tap in handlers:
                handlers.remove(tap)
            handlers.append(tap)


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


class PregelStreamHook:
    """Wrapper of ``Pregel.stream``/``astream``: registers the graph run before it starts.

    A root run that a live ``events`` subscription waits for also gets the stream tap in its
    callbacks, exactly where ``astream_events`` puts its own handler, so its models stream.
    """

    def __init__(
        self, handler: OtelStreamCallbackHandler, tap: StreamTap, hub: SubscriberHub
    ) -> None:
        self._handler = handler
        self._tap = tap
        self._hub = hub

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
            run_id = config["run_id"] = new_run_id()
        self._handler.register_graph_run(
            run_id, graph_operation(graph), getattr(graph, "stream_mode", None)
        )
        configurable = config.get("configurable") or {}
        if "__pregel_task_id" not in configurable:  # a root run, not a subgraph
            waiting = self._hub.matching(configurable.get("thread_id"), run_id)
            if any(EVENTS in s.modes for s in waiting):
                config["callbacks"] = with_handler(config.get("callbacks"), self._tap)
        if positional:
            return (args[0], config, *args[2:]), kwargs
        return args, {**kwargs, "config": config}


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


class LoopHook:
    """Wrapper of ``PregelLoop.__init__``: taps the loop's stream for subscribed runs.

    The loop emits LangGraph's exact ``debug`` payloads (and the graph's default-mode chunks
    that ``astream_events`` reports as the root's ``on_chain_stream``) only for the modes
    its caller asked for. For a run somebody subscribed to, the loop is given the extra
    modes it needs; chunks of those extra modes become lifecycle events (recorded in the
    trace, delivered to the subscriber), so the caller's stream is unchanged.
    """

    def __init__(self, handler: OtelStreamCallbackHandler) -> None:
        self._handler = handler

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        tap: _LoopTap | None = None
        try:
            tap = self._tap_for(instance, kwargs)
            if tap is not None:
                kwargs = {**kwargs, "stream": tap.protocol()}
        except Exception as exc:
            report_failure("loop hook", exc)
        wrapped(*args, **kwargs)
        if tap is not None:
            tap.namespace = tuple(getattr(instance, "checkpoint_ns", ()) or ())

    def _tap_for(self, loop: Any, kwargs: Any) -> _LoopTap | None:
        manager = kwargs.get("manager")
        run_id = getattr(manager, "run_id", None)
        run = self._handler.run_map.get(run_id) if run_id is not None else None
        if run is None or not run.root.subscribers:
            return None
        subscribers = run.root.subscribers
        extra: set[str] = set()
        if any(DEBUG in s.modes for s in subscribers):
            extra.add("debug")
        root_mode = run.graph_stream_mode if run.is_root else None
        if root_mode and any(EVENTS in s.modes and s.root_chunks_from_loop for s in subscribers):
            extra.add(root_mode)
        wakers = [s for s in subscribers if s.wake_root_loop] if run.is_root else []
        if not extra and not wakers:
            return None
        tap = _LoopTap(kwargs.get("stream"), extra, run, root_mode, self._handler)
        if wakers and type(loop).__name__ == "AsyncPregelLoop":
            # Older LangGraph gives an async loop a bare ``asyncio.Queue.put_nowait``.
            tap.aioloop = asyncio.get_running_loop()
        for s in wakers:
            s.set_waker(tap.wake)
        return tap


class _LoopTap:
    """The tapped ``StreamProtocol`` callable of one loop."""

    __slots__ = (
        "_extra",
        "_handler",
        "_original",
        "_root_mode",
        "_run",
        "aioloop",
        "namespace",
    )

    def __init__(
        self,
        original: Any,
        extra: set[str],
        run: Any,
        root_mode: str | None,
        handler: OtelStreamCallbackHandler,
    ) -> None:
        self._original = original
        self._extra = extra
        self._run = run
        self._root_mode = root_mode
        self._handler = handler
        self.namespace: tuple[str, ...] | None = None
        self.aioloop: asyncio.AbstractEventLoop | None = None

    def protocol(self) -> Any:
        from langgraph.pregel.protocol import StreamProtocol

        modes: set[Any] = set(self._original.modes) if self._original is not None else set()
        modes.update(self._extra)
        return StreamProtocol(self, modes)

    def wake(self) -> None:
        """Wake the caller's stream (LangGraph reads its queue as items arrive when ``custom``
        is asked for) so it drains the subscription: see ``streams._Merge``. Any thread."""
        if self._original is None:
            return
        chunk = ((), CUSTOM, WAKE)
        if self.aioloop is None:
            self._original(chunk)
        else:
            self.aioloop.call_soon_threadsafe(self._original, chunk)

    def __call__(self, chunk: Any) -> None:
        original = self._original
        if original is not None and chunk[1] in original.modes:
            original(chunk)
        try:
            namespace, mode, payload = chunk
            if mode not in self._extra or tuple(namespace) != self.namespace:
                return  # a subgraph's chunk, forwarded here: its own loop reports it
            if mode == "debug":
                self._handler.emit_debug(self._run, self.namespace, payload)
            if mode == self._root_mode:
                self._handler._emit_chunk(self._run, payload)
        except Exception as exc:
            report_failure("loop hook", exc)


class _RecordingWriter:
    """A ``StreamWriter`` that writes as before, then records the write on the current run."""

    __slots__ = ("_record", "_writer")

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

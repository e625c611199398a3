"""Hook on ``PregelLoop.__init__``: a followed run's loop emits what its consumers need.

The loop emits LangGraph's exact ``debug`` payloads (the graph's default-mode chunks that
``astream_events`` reports as the root's ``on_chain_stream``; for a recorded run, its
``values``/``updates`` chunks and its ``messages``) only for the modes its caller asked for.
For a run somebody follows (``StreamDemand``), the loop is given the extra modes; chunks of
those extra modes become lifecycle events, so the caller's stream is unchanged. Runs nobody
follows are left alone.
"""

from __future__ import annotations

import asyncio
import threading
from functools import cache
from typing import Any

from otelstream.capture.callback_handler import OtelStreamCallbackHandler
from otelstream.capture.demand import WAKE, StreamDemand
from otelstream.errors import report_failure
from otelstream.lifecycle import RunInfo

MESSAGES = "messages"


class LoopHook:
    """Wrapper of ``PregelLoop.__init__``: taps the loop's stream for followed runs."""

    def __init__(self, handler: OtelStreamCallbackHandler, demand: StreamDemand) -> None:
        self._handler = handler
        self._demand = demand

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
        run_id = getattr(kwargs.get("manager"), "run_id", None)
        run = self._handler.run(run_id) if run_id is not None else None
        if run is None:
            return None
        demand = self._demand.loop_demand(run)
        if demand is None:
            return None
        loop_modes = demand.modes - {MESSAGES}  # messages come from a handler, not the loop
        extra: set[str] = set(loop_modes)
        if MESSAGES in demand.modes and run.is_root:
            self._follow_messages(run, kwargs.get("manager"))
        if demand.debug:
            extra.add("debug")
        root_mode = run.graph_stream_mode if demand.root_chunks else None
        if root_mode:
            extra.add(root_mode)
        if not extra and demand.set_waker is None:
            return None
        tap = _LoopTap(kwargs.get("stream"), extra, run, root_mode, self._handler, loop_modes)
        if demand.set_waker is not None:
            if type(loop).__name__ == "AsyncPregelLoop":
                # Older LangGraph gives an async loop a bare ``asyncio.Queue.put_nowait``.
                tap.aioloop = asyncio.get_running_loop()
            demand.set_waker(tap.wake)
        return tap

    def _follow_messages(self, run: RunInfo, manager: Any) -> None:
        """LangGraph's ``messages`` mode for a root run and its subgraphs: its own handler,
        added to the run's callbacks as ``stream(stream_mode="messages", subgraphs=True)``
        adds it, streaming into lifecycle events instead of the caller's stream."""
        handler = self._handler

        def emit(chunk: Any) -> None:
            try:
                namespace, _, payload = chunk
                handler.emit_graph_chunk(run, tuple(namespace), MESSAGES, payload)
            except Exception as exc:
                report_failure("loop hook", exc)

        if manager is not None:
            manager.inheritable_handlers.append(_messages_handler()(emit, True))


@cache
def _messages_handler() -> type:
    """LangGraph's ``StreamMessagesHandler``, writing its tags into a copy of a model run's
    metadata rather than the run's own (which every other consumer of its events reads)."""
    from langgraph.pregel._messages import StreamMessagesHandler

    class Messages(StreamMessagesHandler):  # type: ignore[misc]
        def on_chat_model_start(self, *args: Any, **kwargs: Any) -> Any:
            if isinstance(kwargs.get("metadata"), dict):
                kwargs["metadata"] = dict(kwargs["metadata"])
            return super().on_chat_model_start(*args, **kwargs)

    return Messages


class _LoopTap:
    """The tapped ``StreamProtocol`` callable of one loop."""

    __slots__ = (
        "_extra",
        "_graph_modes",
        "_handler",
        "_lock",
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
        run: RunInfo,
        root_mode: str | None,
        handler: OtelStreamCallbackHandler,
        graph_modes: frozenset[str] = frozenset(),
    ) -> None:
        self._original = original
        self._extra = extra
        self._graph_modes = graph_modes
        self._run = run
        self._root_mode = root_mode
        self._handler = handler
        self._lock = threading.RLock()
        self.namespace: tuple[str, ...] | None = None
        self.aioloop: asyncio.AbstractEventLoop | None = None

    def protocol(self) -> Any:
        from langgraph.pregel.protocol import StreamProtocol

        modes: set[Any] = set(self._original.modes) if self._original is not None else set()
        modes.update(self._extra)
        return StreamProtocol(self, modes)

    def wake(self) -> None:
        """Wake the caller's stream (LangGraph reads its queue as items arrive when ``custom``
        is asked for), so its consumer drains what waits for it. Any thread."""
        if self._original is None:
            return
        chunk = ((), "custom", WAKE)
        if self.aioloop is None:
            self._original(chunk)
        else:
            self.aioloop.call_soon_threadsafe(self._original, chunk)

    def __call__(self, chunk: Any) -> None:
        # one chunk at a time: parallel tasks' chunks reach the caller's stream and the
        # handler in the same order (the handler's consumers run under the lock; the
        # interpreter lock serializes those tasks' Python anyway)
        with self._lock:
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
                    self._handler.emit_chunk(self._run, payload)
                if mode in self._graph_modes:
                    self._handler.emit_graph_chunk(self._run, self.namespace, mode, payload)
            except Exception as exc:
                report_failure("loop hook", exc)

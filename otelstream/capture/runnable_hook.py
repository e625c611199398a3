"""Hook on ``Runnable._transform_stream_with_config``/``_atransform_stream_with_config``: a
streamed LCEL root that an ``events`` consumer follows is reported as ``astream_events`` would.

LangChain streams a chain (``chain.stream``/``astream`` of a sequence, a ``RunnableParallel``,
a lambda or generator, a parser, and each of their steps) through these two methods. They
start the run with the placeholder input ``{"input": ""}`` and hand its output to the first
streaming handler of its callbacks. ``astream_events`` puts its own handler in the root's
callbacks (so every step's output is tapped) and reports the caller's input as the root's.
For a root run an ``events`` consumer waits for (``StreamDemand``), this hook does the same:
the stream tap joins the root's callbacks, and the root's input is announced to the handler,
which reports it on the root's start. Steps of a run and runs nobody follows pass through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from uuid import UUID

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otelstream.capture.callback_handler import OtelStreamCallbackHandler
from otelstream.capture.demand import StreamDemand
from otelstream.capture.graph_hook import new_run_id, with_handler
from otelstream.capture.stream_tap import StreamTap
from otelstream.errors import report_failure


def _thread_id(config: Any) -> Any:
    configurable = config.get("configurable") or {}
    thread_id = configurable.get("thread_id")
    return thread_id if thread_id is not None else (config.get("metadata") or {}).get("thread_id")


def _announcing(inputs: Iterator[Any], announce: Callable[[Any], None]) -> Iterator[Any]:
    """``inputs`` unchanged; the first one is announced before it is handed on (LangChain
    reads it before it starts the run)."""
    first = True
    for item in inputs:
        if first:
            first = False
            announce(item)
        yield item


async def _aannouncing(
    inputs: AsyncIterator[Any], announce: Callable[[Any], None]
) -> AsyncIterator[Any]:
    first = True
    async for item in inputs:
        if first:
            first = False
            announce(item)
        yield item


class TransformStreamHook:
    """Wrapper of ``Runnable._(a)transform_stream_with_config`` for followed root runs."""

    def __init__(
        self,
        handler: OtelStreamCallbackHandler,
        tap: StreamTap,
        demand: StreamDemand,
        is_async: bool,
    ) -> None:
        self._handler = handler
        self._tap = tap
        self._demand = demand
        self._is_async = is_async

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            if is_instrumentation_enabled():
                args, kwargs = self._follow(args, kwargs)
        except Exception as exc:
            report_failure("runnable hook", exc)
        return wrapped(*args, **kwargs)

    def _follow(self, args: Any, kwargs: Any) -> tuple[Any, Any]:
        """The call's arguments with the tap and the input announcement, for a followed root
        run; unchanged for any other."""
        if not args:
            return args, kwargs
        positional = len(args) >= 3
        config: Any = (args[2] if positional else kwargs.get("config")) or {}
        if getattr(config.get("callbacks"), "parent_run_id", None) is not None:
            return args, kwargs  # a step of a run: its root decides
        run_id = config.get("run_id")
        if not self._demand.wants_tokens(_thread_id(config), run_id):
            return args, kwargs
        from langchain_core.runnables import ensure_config

        config = ensure_config(config)  # a copy, with the callbacks of the context
        if getattr(config.get("callbacks"), "parent_run_id", None) is not None:
            return args, kwargs  # called inside a run without its config: one of its steps
        if run_id is None:
            run_id = config["run_id"] = new_run_id()
        config["callbacks"] = with_handler(config.get("callbacks"), self._tap)
        announce = self._announcer(run_id)
        inputs = args[0]
        inputs = _aannouncing(inputs, announce) if self._is_async else _announcing(inputs, announce)
        if positional:
            return (inputs, args[1], config, *args[3:]), kwargs
        return (inputs, *args[1:]), {**kwargs, "config": config}

    def _announcer(self, run_id: UUID) -> Callable[[Any], None]:
        def announce(value: Any) -> None:
            try:
                self._handler.announce_root_input(run_id, value)
            except Exception as exc:
                report_failure("runnable hook", exc)

        return announce

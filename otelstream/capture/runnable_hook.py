"""Hooks on how LangChain streams a chain: a streamed root run that an ``events`` consumer
follows is reported as ``astream_events`` reports it.

``astream_events`` puts its own handler in the root's callbacks (so every step's output is
tapped), taps the root's output itself, and reports the caller's input as the root's. For a
root run an ``events`` consumer waits for (``StreamDemand``), these hooks do the same with
the stream tap; steps of a run, and runs nobody follows, pass straight through.

* ``Runnable._transform_stream_with_config``/``_atransform_stream_with_config``: how
  LangChain streams a sequence, a ``RunnableParallel``, a lambda or generator, ``assign``, a
  parser. It starts the run with the placeholder input ``{"input": ""}`` and hands its output
  to the first streaming handler: the tap joins the callbacks, and the root's first input is
  announced to the handler, which reports it on the root's start.
* ``RunnableWithFallbacks``/``RunnableBranch`` ``stream``/``astream``: these start their run
  with its input but tap nothing themselves: the tap joins the callbacks and taps their
  output.
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

TRANSFORM_STREAMS = (
    ("langchain_core.runnables.base", "Runnable", "_transform_stream_with_config", False),
    ("langchain_core.runnables.base", "Runnable", "_atransform_stream_with_config", True),
)
ROOT_STREAMS = tuple(
    (module, cls, method, method == "astream")
    for module, cls in (
        ("langchain_core.runnables.fallbacks", "RunnableWithFallbacks"),
        ("langchain_core.runnables.branch", "RunnableBranch"),
    )
    for method in ("stream", "astream")
)
"""``(module, class, method, is_async)`` of the methods each hook wraps."""


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


class _RootHook:
    """What both hooks share: which call starts a followed root run, and its new config."""

    config_position = 1  # of the wrapped method's ``config`` argument

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

    def _follow(self, args: Any, kwargs: Any) -> tuple[Any, Any, UUID | None]:
        """The call's arguments with the tap in the config, and the root's run id, for a
        followed root run; else the arguments unchanged and None."""
        at = self.config_position
        positional = len(args) > at
        config: Any = (args[at] if positional else kwargs.get("config")) or {}
        if getattr(config.get("callbacks"), "parent_run_id", None) is not None:
            return args, kwargs, None  # a step of a run: its root decides
        run_id = config.get("run_id")
        if not self._demand.wants_tokens(_thread_id(config), run_id):
            return args, kwargs, None
        from langchain_core.runnables import ensure_config

        config = ensure_config(config)  # a copy, with the callbacks of the context
        if getattr(config.get("callbacks"), "parent_run_id", None) is not None:
            return args, kwargs, None  # called inside a run without its config: a step
        if run_id is None:
            run_id = config["run_id"] = new_run_id()
        config["callbacks"] = with_handler(config.get("callbacks"), self._tap)
        if positional:
            return (*args[:at], config, *args[at + 1 :]), kwargs, run_id
        return args, {**kwargs, "config": config}, run_id


class TransformStreamHook(_RootHook):
    """Wrapper of ``Runnable._(a)transform_stream_with_config``: the tap, and the input."""

    config_position = 2

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            if args and is_instrumentation_enabled():
                args, kwargs, run_id = self._follow(args, kwargs)
                if run_id is not None:
                    args = (self._announced(args[0], run_id), *args[1:])
        except Exception as exc:
            report_failure("runnable hook", exc)
        return wrapped(*args, **kwargs)

    def _announced(self, inputs: Any, run_id: UUID) -> Any:
        def announce(value: Any) -> None:
            try:
                self._handler.announce_root_input(run_id, value, self._is_async)
            except Exception as exc:
                report_failure("runnable hook", exc)

        return _aannouncing(inputs, announce) if self._is_async else _announcing(inputs, announce)


class RootStreamHook(_RootHook):
    """Wrapper of ``stream``/``astream`` of runnables that do not tap their own output."""

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        run_id = None
        try:
            if is_instrumentation_enabled():
                args, kwargs, run_id = self._follow(args, kwargs)
        except Exception as exc:
            report_failure("runnable hook", exc)
        output = wrapped(*args, **kwargs)
        if run_id is None:
            return output
        if self._is_async:
            return self._tap.tap_output_aiter(run_id, output)
        return self._tap.tap_output_iter(run_id, output)

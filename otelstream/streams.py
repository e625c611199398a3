"""Stream formats for callers: ``astream_events``, ``stream``/``astream`` and ``subscribe``.

Each entry point runs (or follows) a run and reads its ``events``/``debug`` items from a
``Subscription``, i.e. from the telemetry, never from LangChain's own event-stream tracer.
Other LangGraph modes pass through from the graph untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from uuid import UUID

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from packaging.version import Version

from otelstream.hooks import new_run_id, with_handler
from otelstream.instrumentor import OtelStreamInstrumentor
from otelstream.subscriber import (
    CUSTOM,
    DEBUG,
    DEFAULT_MAX_BUFFER,
    EVENTS,
    SUBSCRIBER_MODES,
    WAKE,
    Subscription,
)

_FAILED_TASK_RESULTS = Version(importlib.metadata.version("langgraph")) >= Version("1.2.18")
"""Whether ``graph.stream`` yields a failed task's ``task_result`` before raising. Before
LangGraph 1.2.18 it does so only when it streams concurrently (``_CONCURRENT`` modes asked,
``subgraphs``, ``stream_eager``); otelstream.stream does as the installed version does."""
_CONCURRENT = {"messages", "custom"}


def _instrumentor() -> OtelStreamInstrumentor:
    """The live instrumentor; instrumented with defaults if the app has not done it."""
    import otelstream

    instrumentor = otelstream.instrument()
    if instrumentor.hub is None or instrumentor.tap is None:
        raise RuntimeError("otelstream could not instrument LangChain (see the log)")
    return instrumentor


def subscribe(
    *,
    thread_id: str | None = None,
    run_id: UUID | str | None = None,
    modes: Sequence[str] = (EVENTS,),
    max_buffer: int = DEFAULT_MAX_BUFFER,
    subgraphs: bool = False,
) -> Subscription:
    """Follow the next root run on ``thread_id`` (or the run ``run_id``) that starts.

    Returns a context manager that is also a sync and an async iterator of ``(mode, chunk)``
    and ends when that run ends. Subscribe before the run starts.
    """
    instrumentor = _instrumentor()
    assert instrumentor.hub is not None
    return Subscription(
        instrumentor.hub,
        thread_id=thread_id,
        run_id=UUID(str(run_id)) if run_id is not None else None,
        modes=(modes,) if isinstance(modes, str) else modes,
        max_buffer=max_buffer,
        subgraphs=subgraphs,
    )


def _prepare(config: RunnableConfig | None, tap: Any, events: bool) -> tuple[Any, UUID]:
    config = ensure_config(config)
    run_id = config.get("run_id")
    if run_id is None:
        run_id = config["run_id"] = new_run_id()
    if events:
        config["callbacks"] = with_handler(config.get("callbacks"), tap)
    return config, run_id


async def astream_events(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None = None,
    *,
    include_names: Sequence[str] | None = None,
    include_types: Sequence[str] | None = None,
    include_tags: Sequence[str] | None = None,
    exclude_names: Sequence[str] | None = None,
    exclude_types: Sequence[str] | None = None,
    exclude_tags: Sequence[str] | None = None,
    max_buffer: int = 100_000,
    **kwargs: Any,
) -> AsyncIterator[dict[str, Any]]:
    """Drop-in for ``runnable.astream_events(input, config, version="v2")``, from the telemetry."""
    from langchain_core.runnables.utils import _RootEventFilter

    instrumentor = _instrumentor()
    tap, hub = instrumentor.tap, instrumentor.hub
    assert tap is not None and hub is not None
    config, run_id = _prepare(config, tap, events=True)
    root_filter = _RootEventFilter(
        include_names=include_names,
        include_types=include_types,
        include_tags=include_tags,
        exclude_names=exclude_names,
        exclude_types=exclude_types,
        exclude_tags=exclude_tags,
    )
    subscription = Subscription(
        hub,
        thread_id=None,
        run_id=run_id,
        modes=(EVENTS,),
        max_buffer=max_buffer,
        root_chunks_from_loop=False,
    )

    async def consume() -> None:
        try:
            output = runnable.astream(input, config, **kwargs)
            try:
                async for _ in tap.tap_output_aiter(run_id, output):
                    pass
            finally:
                await output.aclose()  # type: ignore[attr-defined]
        finally:  # ends the subscription even if the run never started
            subscription.finish()

    task = asyncio.create_task(consume())
    try:
        async for _, event in subscription:
            if root_filter.include_event(event, _root_type(event)):
                yield event
        await task  # the run's own exception, as astream_events raises it
    finally:
        subscription.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _root_type(event: dict[str, Any]) -> str:
    """The type astream_events filters on: the run type, or a custom event's name."""
    name = str(event["event"])
    if name == "on_custom_event":
        return str(event["name"])
    return name[3:].rsplit("_", 1)[0]


def _split_modes(graph: Any, stream_mode: str | Sequence[str] | None) -> tuple[list[str], bool]:
    if stream_mode is None:
        return [graph.stream_mode], True
    if isinstance(stream_mode, str):
        return [stream_mode], True
    return list(stream_mode), False


def _shape(mode: str, chunk: Any, single: bool, subgraphs: bool) -> Any:
    """An item as LangGraph shapes it: bare, ``(mode, chunk)``, with the namespace in front."""
    if mode == DEBUG and subgraphs:
        namespace, chunk = chunk
    else:
        namespace = ()
    if single:
        return (namespace, chunk) if subgraphs else chunk
    return (namespace, mode, chunk) if subgraphs else (mode, chunk)


def stream(
    graph: Any,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    stream_mode: str | Sequence[str] | None = None,
    subgraphs: bool = False,
    **kwargs: Any,
) -> Iterator[Any]:
    """Like ``graph.stream``, also accepting ``"events"``.

    ``events`` and ``debug`` come from the telemetry; other modes pass through.
    """
    modes, single = _split_modes(graph, stream_mode)
    if not SUBSCRIBER_MODES.intersection(modes):
        yield from graph.stream(
            input, config, stream_mode=stream_mode, subgraphs=subgraphs, **kwargs
        )
        return
    merge = _Merge(graph, config, modes, single, subgraphs)
    with merge.subscription:
        try:
            for item in graph.stream(
                input, merge.config, stream_mode=merge.ask, subgraphs=subgraphs, **kwargs
            ):
                yield from merge.items(item)
        except Exception:
            yield from merge.rest()
            raise
        yield from merge.rest()


async def astream(
    graph: Any,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    stream_mode: str | Sequence[str] | None = None,
    subgraphs: bool = False,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """Like ``graph.astream``, also accepting ``"events"``; see :func:`stream`."""
    modes, single = _split_modes(graph, stream_mode)
    if not SUBSCRIBER_MODES.intersection(modes):
        async for item in graph.astream(
            input, config, stream_mode=stream_mode, subgraphs=subgraphs, **kwargs
        ):
            yield item
        return
    merge = _Merge(graph, config, modes, single, subgraphs)
    with merge.subscription:
        try:
            async for item in graph.astream(
                input, merge.config, stream_mode=merge.ask, subgraphs=subgraphs, **kwargs
            ):
                for out in merge.items(item):
                    yield out
        except Exception:
            for out in merge.rest():
                yield out
            raise
        for out in merge.rest():
            yield out


class _Merge:
    """One ``stream``/``astream`` call: the subscription that feeds its ``events``/``debug``
    items, the modes LangGraph is asked for, and how both are merged in the caller's shape.

    With ``events``, LangGraph is asked for ``custom`` too: with it, the graph's stream wakes
    whenever something is queued (LangGraph's concurrent streaming), and the subscription
    wakes it the same way (a ``WAKE`` chunk) when it has items, so tokens reach the caller as
    they stream rather than at the end of the step. ``debug`` alone needs no wake-up: its
    items come at step boundaries, when LangGraph yields anyway (and concurrent streaming
    would cost a thread pool per step).
    """

    def __init__(
        self,
        graph: Any,
        config: RunnableConfig | None,
        modes: list[str],
        single: bool,
        subgraphs: bool,
    ) -> None:
        own = [m for m in modes if m in SUBSCRIBER_MODES]
        self.native = [m for m in modes if m not in SUBSCRIBER_MODES]
        self.ask = self.native or [graph.stream_mode]
        if EVENTS in own and CUSTOM not in self.ask:
            self.ask = [*self.ask, CUSTOM]
        self.single = single
        self.subgraphs = subgraphs
        concurrent = (
            subgraphs or getattr(graph, "stream_eager", False) or bool(_CONCURRENT & {*self.native})
        )
        self._hide_failed = not concurrent and not _FAILED_TASK_RESULTS
        self.config, self.subscription = _subscribe_own(config, own, subgraphs)

    def items(self, item: Any) -> Iterator[Any]:
        """The subscription's items so far, then ``item`` if the caller asked for its mode."""
        yield from self.rest()
        *namespace, mode, chunk = item
        if mode in self.native and chunk is not WAKE:
            if self.single:
                yield (namespace[0], chunk) if self.subgraphs else chunk
            else:
                yield item

    def rest(self) -> Iterator[Any]:
        """The subscription's buffered items, shaped as the caller asked."""
        items, _ = self.subscription.drain()
        for mode, chunk in items:
            if self._hide_failed and mode == DEBUG and _is_failed_task(chunk, self.subgraphs):
                continue
            yield _shape(mode, chunk, self.single, self.subgraphs)


def _is_failed_task(chunk: Any, subgraphs: bool) -> bool:
    item = chunk[1] if subgraphs else chunk
    return bool(item.get("type") == "task_result" and item["payload"].get("error"))


def _subscribe_own(
    config: RunnableConfig | None, own: list[str], subgraphs: bool
) -> tuple[Any, Subscription]:
    """The run's config and the subscription that feeds its ``events``/``debug`` items."""
    instrumentor = _instrumentor()
    assert instrumentor.hub is not None
    config, run_id = _prepare(config, instrumentor.tap, events=EVENTS in own)
    subscription = Subscription(
        instrumentor.hub,
        thread_id=None,
        run_id=run_id,
        modes=own,
        max_buffer=100_000,
        subgraphs=subgraphs,
        wake_root_loop=EVENTS in own,
    )
    return config, subscription

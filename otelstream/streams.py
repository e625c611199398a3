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
    DEBUG,
    DEFAULT_MAX_BUFFER,
    EVENTS,
    SUBSCRIBER_MODES,
    Subscription,
)

_DEBUG_AFTER_ERROR = Version(importlib.metadata.version("langgraph")) >= Version("1.2.18")
"""Whether ``graph.stream`` yields the failed step's ``debug`` items before raising (LangGraph
1.2.18 and later); earlier versions raise first, and otelstream does as they do."""


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
    own = [m for m in modes if m in SUBSCRIBER_MODES]
    if not own:
        yield from graph.stream(
            input, config, stream_mode=stream_mode, subgraphs=subgraphs, **kwargs
        )
        return
    native = [m for m in modes if m not in SUBSCRIBER_MODES]
    config, subscription = _subscribe_own(config, own, subgraphs)
    with subscription:
        try:
            for item in graph.stream(
                input,
                config,
                stream_mode=native or [graph.stream_mode],
                subgraphs=subgraphs,
                **kwargs,
            ):
                yield from _own_items(subscription, single, subgraphs)
                if native:
                    yield _native(item, single, subgraphs)
        except Exception:
            yield from _own_items(subscription, single, subgraphs, after_error=True)
            raise
        yield from _own_items(subscription, single, subgraphs)


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
    )
    return config, subscription


def _own_items(
    subscription: Subscription, single: bool, subgraphs: bool, *, after_error: bool = False
) -> Iterator[Any]:
    """The subscription's buffered items, shaped; after an error, what LangGraph would yield."""
    items, _ = subscription.drain()
    for mode, chunk in items:
        if after_error and mode == DEBUG and not _DEBUG_AFTER_ERROR:
            continue
        yield _shape(mode, chunk, single, subgraphs)


def _native(item: Any, single: bool, subgraphs: bool) -> Any:
    """A pass-through item (asked for as a list of modes) reshaped to the caller's request."""
    if subgraphs:
        namespace, mode, chunk = item
        return (namespace, chunk) if single else (namespace, mode, chunk)
    mode, chunk = item
    return chunk if single else (mode, chunk)


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
    own = [m for m in modes if m in SUBSCRIBER_MODES]
    if not own:
        async for item in graph.astream(
            input, config, stream_mode=stream_mode, subgraphs=subgraphs, **kwargs
        ):
            yield item
        return
    native = [m for m in modes if m not in SUBSCRIBER_MODES]
    config, subscription = _subscribe_own(config, own, subgraphs)
    with subscription:
        try:
            async for item in graph.astream(
                input,
                config,
                stream_mode=native or [graph.stream_mode],
                subgraphs=subgraphs,
                **kwargs,
            ):
                for own_item in _own_items(subscription, single, subgraphs):
                    yield own_item
                if native:
                    yield _native(item, single, subgraphs)
        except Exception:
            for own_item in _own_items(subscription, single, subgraphs, after_error=True):
                yield own_item
            raise
        for own_item in _own_items(subscription, single, subgraphs):
            yield own_item

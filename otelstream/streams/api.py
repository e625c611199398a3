"""The live streams callers use: ``astream_events``, ``stream``/``astream`` and ``subscribe``.

Each entry point runs (or follows) a run and reads its ``events``/``debug`` items from a
``Subscription``, i.e. from the telemetry, never from LangChain's own event-stream tracer.
Other LangGraph modes pass through from the graph untouched. LangChain is imported when a
stream is asked for, not before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from otelstream.streams import formats
from otelstream.streams.formats import EVENTS, STREAM_MODES
from otelstream.streams.merge import Merge, split_modes
from otelstream.streams.subscription import DEFAULT_MAX_BUFFER, Subscription

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig

    from otelstream.capture.stream_tap import StreamTap
    from otelstream.streams.hub import SubscriberHub

_OWN_RUN_BUFFER = 100_000
"""Buffer of the subscriptions behind ``stream``/``astream``/``astream_events``."""


def _live() -> tuple[SubscriberHub, StreamTap]:
    """The live hub and stream tap; instrumented with defaults if the app has not done it."""
    import otelstream

    instrumentor = otelstream.instrument()
    if instrumentor.hub is None or instrumentor.tap is None:
        raise RuntimeError("otelstream could not instrument LangChain (see the log)")
    return instrumentor.hub, instrumentor.tap


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
    hub, _ = _live()
    return Subscription(
        hub,
        thread_id=thread_id,
        run_id=UUID(str(run_id)) if run_id is not None else None,
        modes=(modes,) if isinstance(modes, str) else modes,
        max_buffer=max_buffer,
        subgraphs=subgraphs,
    )


def _prepare(config: RunnableConfig | None, tap: StreamTap, events: bool) -> tuple[Any, UUID]:
    """The run's config with a run id (and the tap, for ``events``), and that run id. Only
    those are added, as ``graph.stream`` is called: defaults (``ensure_config``'s) would
    override a graph's own ``with_config`` values, such as its ``recursion_limit``."""
    from otelstream.capture.graph_hook import new_run_id, with_handler

    run_config: dict[str, Any] = dict(config or {})
    run_id = run_config.get("run_id")
    if run_id is None:
        run_id = run_config["run_id"] = new_run_id()
    if events:
        run_config["callbacks"] = with_handler(run_config.get("callbacks"), tap)
    return run_config, run_id


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
    max_buffer: int = _OWN_RUN_BUFFER,
    **kwargs: Any,
) -> AsyncIterator[dict[str, Any]]:
    """Drop-in for ``runnable.astream_events(input, config, version="v2")``, from the telemetry."""
    from langchain_core.runnables import ensure_config
    from langchain_core.runnables.utils import _RootEventFilter

    hub, tap = _live()
    # astream_events fills in the config's defaults itself (a graph's recursion_limit too)
    config, run_id = _prepare(ensure_config(config), tap, events=True)
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
        first_run = None
        async for _, event in subscription:
            if not root_filter.include_event(event, _root_type(event)):
                continue
            # As astream_events: the first event it yields (the root's start, unless the
            # filters leave that out) carries the caller's input, its run's end event none.
            if first_run is None:
                first_run = event["run_id"]
                event = {**event, "data": formats.first_event_data(event["data"], input)}
            elif event["run_id"] == first_run and event["event"].endswith("_end"):
                event = {**event, "data": formats.root_end_data(event["data"])}
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


def _merge(
    graph: Any, config: RunnableConfig | None, modes: list[str], single: bool, subgraphs: bool
) -> Merge:
    hub, tap = _live()

    def subscribe_own(own: list[str], concurrent: bool) -> tuple[Any, Subscription]:
        run_config, run_id = _prepare(config, tap, events=EVENTS in own)
        subscription = Subscription(
            hub,
            thread_id=None,
            run_id=run_id,
            modes=own,
            max_buffer=_OWN_RUN_BUFFER,
            subgraphs=subgraphs,
            wake_root_loop=EVENTS in own,
            concurrent=concurrent,
        )
        return run_config, subscription

    return Merge(graph, modes, single, subgraphs, subscribe_own)


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

    ``events`` and ``debug`` come from the telemetry; other modes pass through. An unknown
    mode raises ``ValueError`` here, at the call (LangGraph would yield nothing).
    """
    modes, single = split_modes(graph, stream_mode)
    return _stream(graph, input, config, stream_mode, modes, single, subgraphs, kwargs)


def _stream(
    graph: Any,
    input: Any,
    config: RunnableConfig | None,
    stream_mode: str | Sequence[str] | None,
    modes: list[str],
    single: bool,
    subgraphs: bool,
    kwargs: dict[str, Any],
) -> Iterator[Any]:
    if not STREAM_MODES.intersection(modes):
        yield from graph.stream(
            input, config, stream_mode=stream_mode, subgraphs=subgraphs, **kwargs
        )
        return
    merge = _merge(graph, config, modes, single, subgraphs)
    with merge.subscription:
        try:
            for item in graph.stream(
                input, merge.config, stream_mode=merge.ask, subgraphs=subgraphs, **kwargs
            ):
                yield from merge.items(item)
        except Exception:  # what the run delivered before it failed, then its error
            yield from merge.rest()
            raise
        yield from merge.rest()


def astream(
    graph: Any,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    stream_mode: str | Sequence[str] | None = None,
    subgraphs: bool = False,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """Like ``graph.astream``, also accepting ``"events"``; see :func:`stream`."""
    modes, single = split_modes(graph, stream_mode)
    return _astream(graph, input, config, stream_mode, modes, single, subgraphs, kwargs)


async def _astream(
    graph: Any,
    input: Any,
    config: RunnableConfig | None,
    stream_mode: str | Sequence[str] | None,
    modes: list[str],
    single: bool,
    subgraphs: bool,
    kwargs: dict[str, Any],
) -> AsyncIterator[Any]:
    if not STREAM_MODES.intersection(modes):
        async for item in graph.astream(
            input, config, stream_mode=stream_mode, subgraphs=subgraphs, **kwargs
        ):
            yield item
        return
    merge = _merge(graph, config, modes, single, subgraphs)
    with merge.subscription:
        try:
            async for item in graph.astream(
                input, merge.config, stream_mode=merge.ask, subgraphs=subgraphs, **kwargs
            ):
                for out in merge.items(item):
                    yield out
        except Exception:  # what the run delivered before it failed, then its error
            for out in merge.rest():
                yield out
            raise
        for out in merge.rest():
            yield out

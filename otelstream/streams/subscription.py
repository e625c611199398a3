"""A ``Subscription``: one root run's live ``events``/``debug`` items, in a bounded buffer.

A subscription follows one root run, chosen by ``thread_id`` or ``run_id``; the hub binds it
when that run starts and ends it when the run ends. Back-pressure: the buffer is bounded, and
delivery never blocks the graph: when the buffer is full the item is dropped, counted in
``Subscription.dropped`` and warned about once. A consumer that goes away (break, cancel,
garbage collection) is only weakly referenced by the hub, and is released with its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from otelstream import lifecycle
from otelstream.capture.demand import Waker
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, RunInfo
from otelstream.streams import formats
from otelstream.streams.formats import DEBUG, EVENTS, STREAM_MODES

if TYPE_CHECKING:
    from otelstream.streams.hub import SubscriberHub

_logger = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER = 10_000
_END = object()


class Subscription:
    """A live ``(mode, chunk)`` stream of one root run; a sync and an async iterator.

    Use it as a context manager (``with otelstream.subscribe(thread_id=...) as sub``) so it
    detaches when the block ends, whatever happened to the run.
    """

    graph_modes: frozenset[str] = frozenset()
    """LangGraph modes besides ``debug`` taken as the run's loop streams them (a recorder)."""

    def __init__(
        self,
        hub: SubscriberHub,
        *,
        thread_id: str | None,
        run_id: UUID | None,
        modes: Iterable[str],
        max_buffer: int,
        subgraphs: bool = False,
        root_chunks_from_loop: bool = True,
        wake_root_loop: bool = False,
        concurrent: bool | None = None,
    ) -> None:
        modes = tuple(modes)
        unknown = set(modes) - STREAM_MODES
        if unknown:
            raise ValueError(
                f"subscribe() modes must be among {sorted(STREAM_MODES)}, got {sorted(unknown)}"
            )
        if not modes:
            raise ValueError("subscribe() needs at least one mode")
        if thread_id is None and run_id is None:
            raise ValueError("subscribe() needs a thread_id or a run_id to follow")
        if not isinstance(max_buffer, int) or max_buffer < 1:
            raise ValueError("max_buffer must be a positive integer")
        self.thread_id = None if thread_id is None else str(thread_id)
        self.run_id = run_id
        self.modes = frozenset(modes)
        self.max_buffer = max_buffer
        self.subgraphs = subgraphs
        self.root_chunks_from_loop = root_chunks_from_loop
        """Whether the root's ``on_chain_stream`` chunks come from its loop (not a tap)."""
        self.wake_root_loop = wake_root_loop
        """Whether the followed run's own stream is read by the same consumer (``stream``)."""
        self.concurrent = subgraphs if concurrent is None else concurrent
        """Whether the ``debug`` items are those of a concurrent LangGraph stream (as with
        ``subgraphs``); without, an older LangGraph yields no failed task's result."""
        self.dropped = 0
        """Items dropped because the buffer was full."""
        self.error: BaseException | None = None
        """The exception the followed run failed with, if it failed."""
        self._hub = hub
        self._filters = formats.v2_filters()
        self._waker: Waker | None = None
        self._buffer: deque[Any] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._root: RunInfo | None = None
        self._first = True
        self._closed = False
        self._warned = False
        hub.register(self)

    # -- producer side (any thread) ------------------------------------------------------
    def bind(self, root: RunInfo) -> None:
        self._root = root

    def deliver(self, item: Any) -> None:
        """Queue one item without ever blocking; drop (and count) it when the buffer is full."""
        with self._cond:
            if self._closed:
                return
            wake = dropped = False
            if item is not _END and len(self._buffer) >= self.max_buffer:
                self.dropped += 1
                dropped = True
                warn = not self._warned
                self._warned = True
            else:
                wake = not self._buffer and item is not _END
                self._buffer.append(item)
                warn = False
                self._cond.notify()
            waiter, self._waiter = self._waiter, None
        if wake and self._waker is not None:
            try:
                self._waker()
            except Exception as exc:
                report_failure("subscriber wake-up", exc)
        if dropped:
            self._hub.dropped(1)
        if warn:
            _logger.warning(
                "otelstream: subscriber buffer full (max_buffer=%d); dropping items, "
                "counted in Subscription.dropped",
                self.max_buffer,
            )
        if waiter is not None:
            _notify(waiter)

    def set_waker(self, waker: Waker) -> None:
        """Wake the run's own stream from now on (and now, if items are already waiting)."""
        with self._cond:
            self._waker = waker
            pending = bool(self._buffer)
        if pending:
            waker()

    def on_event(self, ev: LifecycleEvent) -> None:
        if EVENTS not in self.modes or ev.event not in self._filters.get(ev.phase, (ev.event,)):
            return
        event = ev.to_dict()
        run = ev.run
        if run is self._root:
            if self._first and ev.phase == lifecycle.START:
                event["data"] = formats.first_event_data(ev.data, run.inputs)
            elif ev.phase == lifecycle.END and "input" in ev.data:
                event["data"] = formats.root_end_data(ev.data)
        self._first = False
        self.deliver((EVENTS, event))

    def on_debug(self, namespace: tuple[str, ...], chunk: Any) -> None:
        if DEBUG in self.modes and formats.shows_debug(namespace, self.subgraphs):
            item = formats.debug_item(namespace, chunk, self.subgraphs)
            if not formats.hides_failed_task(item, self.subgraphs, self.concurrent):
                self.deliver((DEBUG, item))

    def on_graph_chunk(self, namespace: tuple[str, ...], mode: str, chunk: Any) -> None:
        """A chunk of one of ``graph_modes``, as ``(mode, (namespace, chunk))``."""
        if mode in self.graph_modes:
            self.deliver((mode, (namespace, chunk)))

    def finish(self, error: BaseException | None = None) -> None:
        """The followed run is over (a second call changes nothing)."""
        if error is not None:
            self.error = error
        self.deliver(_END)

    # -- consumer side -------------------------------------------------------------------
    def close(self) -> None:
        """Detach: no more items are delivered; iteration ends."""
        with self._cond:
            self._closed = True
            self._buffer.clear()
            self._buffer.append(_END)
            self._cond.notify_all()
            waiter, self._waiter = self._waiter, None
        self._hub.unregister(self)
        if waiter is not None:
            _notify(waiter)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return self

    def __next__(self) -> tuple[str, Any]:
        item = self.get()
        if item is None:
            raise StopIteration
        return item

    def drain(self) -> tuple[list[tuple[str, Any]], bool]:
        """Everything queued now, without waiting, and whether the run has ended."""
        with self._cond:
            items = list(self._buffer)
            ended = bool(items) and items[-1] is _END
            self._buffer.clear()
            if ended:
                self._buffer.append(_END)
                items.pop()
        return items, ended

    def get(self, timeout: float | None = None) -> tuple[str, Any] | None:
        """The next item, or None when the run has ended; raises TimeoutError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._buffer), timeout):
                raise TimeoutError("no item from the subscribed run in time")
            return self._take()

    def _take(self) -> tuple[str, Any] | None:
        """The first buffered item (lock held, buffer not empty); None, kept, at the end."""
        item = self._buffer[0]
        if item is _END:
            return None
        self._buffer.popleft()
        return item  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        while True:
            with self._cond:
                if self._buffer:
                    item = self._take()
                    if item is None:
                        raise StopAsyncIteration
                    return item
                loop = asyncio.get_running_loop()
                future: asyncio.Future[None] = loop.create_future()
                self._waiter = (loop, future)
            await future


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _notify(waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]) -> None:
    """Wake an async consumer from any thread; a closed loop means the consumer went away."""
    loop, future = waiter
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_wake, future)


def each(subscriptions: Iterable[Subscription], deliver: Callable[[Subscription], None]) -> None:
    """Deliver to every subscription; one that fails does not starve the others."""
    for subscription in subscriptions:
        try:
            deliver(subscription)
        except Exception as exc:
            report_failure("subscriber", exc)

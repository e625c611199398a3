"""The live hub: lifecycle events of followed root runs -> their subscriptions.

One of the two consumers of the lifecycle events (beside the span manager): it sees every
event with its real payload objects, whether or not the trace is sampled. Subscriptions wait
for a root run by thread or run id; the hub binds them when that run starts, routes its
events and ``debug`` chunks to them, and ends them when it ends. It also answers the capture
hooks' ``StreamDemand``: which runs need tokens, debug chunks or wake-ups.

Watchers (a run recorder) follow runs without knowing their ids beforehand: each is asked at
every root run's start whether it follows that run, and subscribes to it then.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from otelstream import lifecycle
from otelstream.capture.demand import LoopDemand, Waker
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, RunInfo
from otelstream.streams import formats
from otelstream.streams.formats import DEBUG, EVENTS
from otelstream.streams.subscription import Subscription, each


class Watcher(Protocol):
    """Follows root runs it chooses as they start (the remote-stream server's recorder)."""

    def wants_tokens(self, thread_id: str | None, run_id: UUID | None, graph: str | None) -> bool:
        """Whether it will follow this root run with ``events`` (asked before it starts);
        ``graph``: the graph's name, None for a run that is not a graph run."""
        ...

    def watch(self, root: RunInfo) -> None:
        """A root run starts: subscribe to it by ``run_id`` now to follow it from its start."""
        ...


class SubscriberHub:
    """Routes lifecycle events and debug chunks of followed root runs to their subscriptions."""

    def __init__(self, on_drop: Callable[[int], None] | None = None) -> None:
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._waiting: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._followers: dict[RunInfo, list[Subscription]] = {}
        self._order: dict[RunInfo, threading.RLock] = {}
        self._watchers: tuple[Watcher, ...] = ()

    def add_watcher(self, watcher: Watcher) -> None:
        """Let ``watcher`` see every root run as it starts (the server's run recorder)."""
        with self._lock:
            self._watchers = (*self._watchers, watcher)

    def remove_watcher(self, watcher: Watcher) -> None:
        """Stop showing root runs to ``watcher``; runs it already follows go on."""
        with self._lock:
            self._watchers = tuple(w for w in self._watchers if w is not watcher)

    def register(self, subscription: Subscription) -> None:
        with self._lock:
            self._waiting.add(subscription)

    def unregister(self, subscription: Subscription) -> None:
        with self._lock:
            self._waiting.discard(subscription)

    def dropped(self, count: int) -> None:
        """A subscription dropped items (the ``otelstream.subscriber.dropped`` counter)."""
        if self._on_drop is not None:
            try:
                self._on_drop(count)
            except Exception as exc:
                report_failure("dropped-items counter", exc)

    def matching(self, thread_id: Any, run_id: UUID | None) -> list[Subscription]:
        """Subscriptions waiting for a root run with this thread or run id (not yet bound)."""
        if not self._waiting:
            return []
        with self._lock:
            return self._matching(thread_id, run_id)

    def _matching(self, thread_id: Any, run_id: UUID | None) -> list[Subscription]:
        thread = None if thread_id is None else str(thread_id)
        return [
            s
            for s in self._waiting
            if (s.run_id is not None and s.run_id == run_id)
            or (s.run_id is None and s.thread_id is not None and s.thread_id == thread)
        ]

    # -- StreamDemand (asked by the capture hooks) ---------------------------------------------
    def wants_tokens(self, thread_id: Any, run_id: UUID | None, graph: str | None = None) -> bool:
        if any(EVENTS in s.modes for s in self.matching(thread_id, run_id)):
            return True
        thread = None if thread_id is None else str(thread_id)
        for watcher in self._watchers:
            try:
                if watcher.wants_tokens(thread, run_id, graph):
                    return True
            except Exception as exc:
                report_failure("stream watcher", exc)
        return False

    def loop_demand(self, run: RunInfo) -> LoopDemand | None:
        followers = self._followers.get(run.root)
        if not followers:
            return None
        # From the loop unless the caller taps the root's output (then the tap reports them,
        # once, for every follower).
        events = [s for s in followers if EVENTS in s.modes]
        root_chunks = run.is_root and bool(events) and all(s.root_chunks_from_loop for s in events)
        wakers = [s for s in followers if s.wake_root_loop] if run.is_root else []

        def set_waker(waker: Waker) -> None:
            for s in wakers:
                s.set_waker(waker)

        return LoopDemand(
            debug=any(DEBUG in s.modes for s in followers),
            root_chunks=root_chunks,
            set_waker=set_waker if wakers else None,
            modes=frozenset().union(*(s.graph_modes for s in followers)),
        )

    # -- the live channel ------------------------------------------------------------------
    def on_event(self, ev: LifecycleEvent) -> None:
        """Deliver one lifecycle event to its root's subscriptions."""
        run = ev.run
        root = run.root
        if ev.phase == lifecycle.START and run is root:
            if self._watchers:
                self._watch(root)
            if self._waiting:
                self._bind(root)
        subscribers = self._followers.get(root)
        if not subscribers:
            return
        # one run's events reach all its followers in one order, even from parallel tasks
        with self._order.get(root) or contextlib.nullcontext():
            self._deliver(ev, subscribers)

    def _deliver(self, ev: LifecycleEvent, subscribers: list[Subscription]) -> None:
        run = ev.run
        root = run.root
        try:
            if ev.phase == lifecycle.END and formats.reports_node_chunk(
                run.is_node, run.tapped, run.name, run.metadata, root.runs_async
            ):
                chunk = LifecycleEvent(
                    lifecycle.STREAM,
                    formats.NODE_CHUNK_EVENT,
                    run,
                    formats.node_chunk_data(ev.data),
                    ev.time_ns,
                )
                each(subscribers, lambda s: s.on_event(chunk))
            if ev.phase == lifecycle.DEBUG:
                data = ev.data
                each(subscribers, lambda s: s.on_debug(data["namespace"], data["chunk"]))
            elif ev.phase == lifecycle.GRAPH_CHUNK:
                data, mode = ev.data, ev.event
                each(
                    subscribers,
                    lambda s: s.on_graph_chunk(data["namespace"], mode, data["chunk"]),
                )
            else:
                each(subscribers, lambda s: s.on_event(ev))
        finally:  # whatever failed above, the followers of a finished run are told it ended
            if run is root and ev.phase in (lifecycle.END, lifecycle.ERROR):
                self._followers.pop(root, None)
                self._order.pop(root, None)
                each(subscribers, lambda s: s.finish(ev.error))

    def _watch(self, root: RunInfo) -> None:
        for watcher in self._watchers:
            try:
                watcher.watch(root)
            except Exception as exc:
                report_failure("stream watcher", exc)

    def _bind(self, root: RunInfo) -> None:
        # found and taken in one step: each subscription follows exactly one run, even when
        # two runs of its thread start at once
        with self._lock:
            found = self._matching(root.metadata.get("thread_id"), root.run_id)
            for s in found:
                self._waiting.discard(s)
        if not found:
            return
        for s in found:
            s.bind(root)
        self._order[root] = threading.RLock()  # the waker may report back on this thread
        self._followers[root] = found

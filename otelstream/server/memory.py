"""``MemoryHistoryStore``: recorded runs kept in this process, bounded.

Event ids are one counter for the whole store (``"1"``, ``"2"``, ...): unique, strictly
increasing within a run and across runs, so a thread's stream resumes by one id too. Each
run keeps at most ``max_items`` items and ``max_bytes`` bytes of data: beyond that its oldest
items are evicted (its first, the ``metadata`` event, stays) and counted in the run's
``dropped``. At most ``max_runs`` finished runs are kept (running ones always are); the ids of
evicted runs are remembered (a bounded list) so that a client asking for one is told it is
gone rather than unknown.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from typing import Any

from otelstream.server.store import (
    RUNNING,
    BadEventId,
    Batch,
    Entry,
    HistoryEvicted,
    HistoryStore,
    RunRecord,
    run_done,
)
from otelstream.server.wire import METADATA, dumpb

DEFAULT_MAX_ITEMS = 50_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_RUNS = 200
_BATCH = 512
"""Most items one read returns (bounds what a connection holds at once)."""
_TOMBSTONES = 10_000
_POLL = 30.0
"""Longest wait of a thread's follower before it looks again."""

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _notify(waiters: list[_Waiter]) -> None:
    """Wake waiting readers from any thread: one call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for loop, future in waiters:
        by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: its readers are gone
            loop.call_soon_threadsafe(_wake, futures)


class _History:
    """One run's items: the pinned first one, then a window of the latest."""

    __slots__ = (
        "bytes",
        "datas",
        "end_id",
        "ended",
        "events",
        "evicted_to",
        "head",
        "ids",
        "record",
        "start",
    )

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.head: Entry | None = None
        self.ids: list[int] = []
        self.events: list[str] = []
        self.datas: list[bytes] = []
        self.start = 0  # index of the first kept item in the lists above
        self.bytes = 0
        self.evicted_to = 0  # the highest evicted id (0: none)
        self.ended = False
        self.end_id = 0  # the run's end: where a thread's stream says run_done

    def add(self, item_id: int, event: str, data: bytes, max_items: int, max_bytes: int) -> None:
        if self.head is None:
            self.head = Entry(str(item_id), event, data)
            return
        self.ids.append(item_id)
        self.events.append(event)
        self.datas.append(data)
        self.bytes += len(data)
        while len(self.ids) - self.start > max_items or (
            self.bytes > max_bytes and len(self.ids) - self.start > 1
        ):
            self.bytes -= len(self.datas[self.start])
            self.evicted_to = self.ids[self.start]
            self.datas[self.start] = b""
            self.start += 1
            self.record.dropped += 1
        if self.start > 1024 and self.start * 2 > len(self.ids):
            del self.ids[: self.start], self.events[: self.start], self.datas[: self.start]
            self.start = 0

    def after(self, cursor: int, upto: int | None = None) -> list[Entry]:
        """Items after ``cursor`` (0: from the start, whatever was evicted), not after
        ``upto``. Slices are taken under the store's lock, entries built after it."""
        head = self.head
        if head is None:
            return []
        if cursor >= int(head.id) and cursor < self.evicted_to:
            raise HistoryEvicted(
                f"the items of run {self.record.run_id} after event id {cursor} were evicted "
                f"from its bounded history ({self.record.dropped} dropped)"
            )
        first = bisect.bisect_right(self.ids, cursor, lo=self.start)
        last = min(len(self.ids), first + _BATCH)
        if upto is not None:
            last = min(last, bisect.bisect_right(self.ids, upto, lo=first))
        ids, events, datas = self.ids[first:last], self.events[first:last], self.datas[first:last]
        out = [head] if cursor < int(head.id) and (upto is None or int(head.id) <= upto) else []
        out.extend(map(Entry, map(str, ids), events, datas))
        return out

    def last_id(self) -> str | None:
        return str(self.ids[-1]) if len(self.ids) > self.start else None

    def issued(self, item_id: int) -> bool:
        if self.head is not None and item_id == int(self.head.id):
            return True
        i = bisect.bisect_left(self.ids, item_id, lo=self.start)
        return i < len(self.ids) and self.ids[i] == item_id


class MemoryHistoryStore(HistoryStore):
    """Recorded runs in this process's memory (see the module docstring for the bounds)."""

    def __init__(
        self,
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_runs: int = DEFAULT_MAX_RUNS,
    ) -> None:
        for name, value in (("max_items", max_items), ("max_bytes", max_bytes)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer")
        if not isinstance(max_runs, int) or max_runs < 0:
            raise ValueError("max_runs must be an integer >= 0")
        self.max_items, self.max_bytes, self.max_runs = max_items, max_bytes, max_runs
        self._ids = itertools.count(1)
        self._last = 0  # the latest id issued (and stored)
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _History] = OrderedDict()
        self._threads: dict[str, list[str]] = {}  # thread id -> its kept runs, oldest first
        self._versions: dict[str, int] = {}  # thread id -> tick of its last change
        self._ticks = itertools.count(1)
        self._finished: deque[str] = deque()
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self._waiters: dict[str, list[_Waiter]] = {}  # run or thread id -> waiting readers

    # -- writer side ---------------------------------------------------------------------
    def open_run(self, record: RunRecord) -> None:
        with self._lock:
            self._runs[record.run_id] = _History(record)
            self._threads.setdefault(record.thread_id, []).append(record.run_id)
            waiters = self._changed(record.thread_id, [])
        _notify(waiters)

    def append(self, run_id: str, event: str, data: bytes) -> None:
        with self._lock:
            history = self._runs.get(run_id)
            if history is None or history.ended:
                return
            self._last = next(self._ids)
            history.add(self._last, event, data, self.max_items, self.max_bytes)
            record = history.record
            record.items += 1
            record.updated_at = time.time()
            waiters = self._changed(record.thread_id, self._waiters.pop(run_id, []))
        if waiters:
            _notify(waiters)

    def close_run(self, run_id: str, status: str, error: dict[str, Any] | None) -> None:
        with self._lock:
            history = self._runs.get(run_id)
            if history is None or history.ended:
                return
            record = history.record
            if record.dropped:  # said last, and kept whatever the bounds
                summary = {"run_id": run_id, "status": status, "dropped": record.dropped}
                self._last = next(self._ids)
                history.add(self._last, METADATA, dumpb(summary), 1 << 62, 1 << 62)
                record.items += 1
            history.ended = True
            self._last = history.end_id = next(self._ids)
            record.status, record.error = status, error
            record.updated_at = time.time()
            self._finished.append(run_id)
            while len(self._finished) > self.max_runs:
                self._evict(self._finished.popleft())
            waiters = self._changed(record.thread_id, self._waiters.pop(run_id, []))
        _notify(waiters)

    def _changed(self, thread_id: str, waiters: list[_Waiter]) -> list[_Waiter]:
        """Bump a thread's version (lock held); its waiters join ``waiters``."""
        self._versions[thread_id] = next(self._ticks)  # never repeats: no lost wake-up
        return waiters + self._waiters.pop(_thread_key(thread_id), [])

    def _evict(self, run_id: str) -> None:
        history = self._runs.pop(run_id, None)
        if history is not None:
            runs = self._threads.get(history.record.thread_id, [])
            if run_id in runs:
                runs.remove(run_id)
            if not runs:  # nothing of the thread is kept any more
                self._threads.pop(history.record.thread_id, None)
                self._versions.pop(history.record.thread_id, None)
        self._evicted[run_id] = None
        if len(self._evicted) > _TOMBSTONES:
            self._evicted.popitem(last=False)

    # -- reader side ---------------------------------------------------------------------
    async def get_run(self, run_id: str, thread_id: str | None = None) -> RunRecord | None:
        history = self._runs.get(run_id)
        if history is None:
            if run_id in self._evicted:
                raise HistoryEvicted(f"run {run_id} is no longer kept (max_runs={self.max_runs})")
            return None
        record = history.record
        return record if thread_id is None or record.thread_id == thread_id else None

    async def runs(self, thread_id: str | None = None) -> list[RunRecord]:
        with self._lock:
            if thread_id is None:
                return [h.record for h in reversed(self._runs.values())]
            return [self._runs[r].record for r in reversed(self._threads.get(thread_id, []))]

    def key(self, event_id: str) -> tuple[int, ...]:
        try:
            value = int(event_id.strip())
        except (ValueError, AttributeError):
            raise BadEventId(f"malformed event id {event_id!r}") from None
        if value < -1:
            raise BadEventId(f"malformed event id {event_id!r}")
        return (max(value, 0),)

    async def start(self, run: RunRecord, last_event_id: str | None) -> str:
        run_id = run.run_id
        history = self._history(run_id)
        if last_event_id is None:
            return "0"
        (cursor,) = self.key(last_event_id)
        if cursor == 0:
            return "0"
        with self._lock:
            if history.issued(cursor):
                history.after(cursor)  # raises if what follows was evicted meanwhile
                return str(cursor)
            if history.head is not None and int(history.head.id) < cursor <= history.evicted_to:
                raise HistoryEvicted(
                    f"event id {cursor} of run {run_id} and the items after it were evicted "
                    f"from its bounded history ({history.record.dropped} dropped)"
                )
        raise BadEventId(f"event id {cursor} was not issued by run {run_id}")

    async def read(self, run: RunRecord, cursor: str, timeout: float) -> Batch:
        return await self._read(run.run_id, cursor, timeout, None)

    async def _read(self, run_id: str, cursor: str, timeout: float, upto: str | None) -> Batch:
        history = self._history(run_id)
        after = self.key(cursor)[0]
        limit = None if upto is None else self.key(upto)[0]
        with self._lock:
            entries = history.after(after, limit)
            if entries or history.ended or timeout <= 0:
                return self._batch(history, entries, cursor, limit)
            future = self._wait(run_id)
        await self._until(run_id, future, timeout)
        with self._lock:
            return self._batch(history, history.after(after, limit), cursor, limit)

    async def follow_thread(
        self, thread_id: str, last_event_id: str | None
    ) -> AsyncIterator[list[Entry]]:
        active: dict[str, str] = {}  # run id -> cursor
        seen: set[str] = set()
        resume = 0 if last_event_id is None else self.key(last_event_id)[0]
        first = True
        while True:
            version = self._versions.get(thread_id, 0)
            # items up to the horizon, all stored already: a pass emits them in id order, and
            # the next pass only later ones (so a resume by the last id loses nothing)
            upto = self._last
            for record in reversed(await self.runs(thread_id)):  # oldest first
                if record.run_id not in seen:
                    seen.add(record.run_id)
                    if not first:
                        active[record.run_id] = "0"
                    elif last_event_id is not None or record.status == RUNNING:
                        active[record.run_id] = str(resume)
            first = False
            entries: list[tuple[int, Entry]] = []
            for run_id, cursor in list(active.items()):
                try:
                    batch = await self._read(run_id, cursor, 0, str(upto))
                except HistoryEvicted:  # gone meanwhile: nothing more to serve
                    del active[run_id]
                    continue
                active[run_id] = batch.cursor
                entries.extend((int(entry.id), entry) for entry in batch.entries)
                if batch.ended:
                    del active[run_id]
                    end = self._runs[run_id].end_id if run_id in self._runs else 0
                    if end > resume:  # said once, at its place among the ids
                        entries.append((end, run_done(run_id, str(end))))
            entries.sort(key=lambda item: item[0])
            yield [entry for _, entry in entries]
            if not entries:
                await self._wait_thread(thread_id, version, _POLL)

    async def _wait_thread(self, thread_id: str, version: int, timeout: float) -> None:
        """Until the thread's version differs from ``version``, or ``timeout``."""
        key = _thread_key(thread_id)
        with self._lock:
            if self._versions.get(thread_id, 0) != version:
                return
            future = self._wait(key)
        await self._until(key, future, timeout)

    def _wait(self, key: str) -> asyncio.Future[None]:
        """A future woken by the next change of ``key`` (lock held)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(key, []).append((loop, future))
        return future

    async def _until(self, key: str, future: asyncio.Future[None], timeout: float) -> None:
        timer = asyncio.get_running_loop().call_later(timeout, _wake, [future])
        try:
            await future
        finally:  # also when the reader is cancelled (its client went away)
            timer.cancel()
            with self._lock:
                pending = self._waiters.get(key)
                if pending is not None:
                    pending[:] = [w for w in pending if w[1] is not future]
                    if not pending:
                        del self._waiters[key]

    @staticmethod
    def _batch(history: _History, entries: list[Entry], cursor: str, upto: int | None) -> Batch:
        """The entries, the cursor after them, and whether they reach the end of an ended
        run (and its end is not after ``upto``) (lock held)."""
        cursor = entries[-1].id if entries else cursor
        if not history.ended or history.head is None or (upto and history.end_id > upto):
            return Batch(entries, False, cursor)
        last = int(history.last_id() or history.head.id)
        return Batch(entries, int(cursor) >= last, cursor)

    def _history(self, run_id: str) -> _History:
        history = self._runs.get(run_id)
        if history is None:
            if run_id in self._evicted:
                raise HistoryEvicted(f"run {run_id} is no longer kept (max_runs={self.max_runs})")
            raise HistoryEvicted(f"run {run_id} is not kept")
        return history

    def waiting(self) -> int:
        """Readers waiting now (all runs and threads), for tests and the benchmark."""
        with self._lock:
            return sum(map(len, self._waiters.values()))


def _thread_key(thread_id: str) -> str:
    return "thread\0" + thread_id

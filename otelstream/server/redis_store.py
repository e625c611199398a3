"""``RedisHistoryStore``: recorded runs in Redis Streams, shared by every process.

A process that runs graphs publishes its runs (``redis_publisher.py``: off the run's path,
bounded, failing open); a process that serves reads any run from Redis, whichever process
ran it (``XRANGE``/``XREAD`` for a run, ``XREAD BLOCK`` on a thread's streams for a
thread's). Event ids are the entries' Redis ids (``1700000000000-3``), unique across a
thread's runs (``redis_layout.py``), so a client resumes with ``Last-Event-ID`` against any
process. Bounds: each run's stream is trimmed (``max_items``, ``max_age``), a run expires
``ttl`` seconds after it ends; a ``Last-Event-ID`` whose successors were trimmed, or a run
that expired, is reported evicted (HTTP 410).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from otelstream.server import redis_config
from otelstream.server.redis_layout import BLOCK, Keys, RunKeys, parse_id
from otelstream.server.redis_publisher import Publisher
from otelstream.server.redis_threads import ThreadFollower
from otelstream.server.store import (
    BadEventId,
    Batch,
    Entry,
    HistoryEvicted,
    HistoryStore,
    RunRecord,
    StoreUnavailable,
)

_BATCH = 512
"""Most entries one read returns."""
START = "0-0/0"


def _cursor(cursor: str) -> tuple[str, int]:
    """A reader's cursor: the last entry id read and its number (<= 0: not checked)."""
    entry_id, _, number = cursor.partition("/")
    return entry_id, int(number or 0)


def record_of(info: dict[bytes, bytes]) -> RunRecord | None:
    """A run's record from its hash (None for an empty one)."""
    if b"run_id" not in info:
        return None

    def text(key: bytes) -> str:
        return info.get(key, b"").decode()

    error = info.get(b"error")
    return RunRecord(
        run_id=text(b"run_id"),
        thread_id=text(b"thread_id"),
        graph=text(b"graph"),
        created_at=float(text(b"created_at") or 0),
        metadata=json.loads(info.get(b"metadata") or b"{}"),
        status=text(b"status"),
        updated_at=float(text(b"ended_at") or text(b"updated_at") or 0),
        error=json.loads(error) if error else None,
        items=int(text(b"n") or 0),
        dropped=int(text(b"lost") or 0) + int(text(b"trimmed") or 0),
    )


class RedisHistoryStore(HistoryStore):
    """Runs in Redis Streams at ``url`` (see ``redis_config.py`` for the URL and options)."""

    def __init__(self, url: str, *, flush_timeout: float = 5.0, **options: Any) -> None:
        self.target = redis_config.parse(url, **options)
        self.keys = Keys(self.target.options.prefix)
        self.publisher = Publisher(
            self.target, lambda: redis_config.sync_client(self.target), flush_timeout
        )
        self._aio: Any = None
        self._aio_loop: asyncio.AbstractEventLoop | None = None

    def check(self) -> None:
        """Raises ``StoreUnavailable`` (one line) unless Redis answers."""
        redis_config.check(self.target)

    def stats(self) -> dict[str, int]:
        """The publisher's counters (``published``, ``dropped``, ``queued``, ...)."""
        return self.publisher.stats()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until this process's queued items are in Redis (False after ``timeout``)."""
        return self.publisher.flush(timeout)

    # -- writer side: queued for the publisher ----------------------------------------------
    def open_run(self, record: RunRecord) -> None:
        self.publisher.open_run(record)

    def append(self, run_id: str, event: str, data: bytes) -> None:
        self.publisher.append(run_id, event, data)

    def close_run(self, run_id: str, status: str, error: dict[str, Any] | None) -> None:
        self.publisher.close_run(run_id, status, error)

    def close(self, timeout: float = 5.0) -> None:
        self.publisher.close(timeout)

    # -- reader side ---------------------------------------------------------------------
    def client(self) -> Any:
        """The asyncio client of the running event loop (one per loop)."""
        loop = asyncio.get_running_loop()
        if self._aio_loop is not loop:
            self._aio = redis_config.async_client(self.target, BLOCK)
            self._aio_loop = loop
        return self._aio

    def unavailable(self, exc: BaseException) -> StoreUnavailable:
        return redis_config.unavailable(self.target, exc)

    async def get_run(self, run_id: str, thread_id: str | None = None) -> RunRecord | None:
        client = self.client()
        owner_key = self.keys.owner(run_id)
        try:
            owner = None if thread_id is not None else await client.get(owner_key)
            thread = thread_id if owner is None else owner.decode()
            if thread is None:
                return None
            record = record_of(await client.hgetall(self.keys.run(thread, run_id).info))
            if record is None and owner is None:
                owner = await client.get(owner_key)
        except Exception as exc:
            raise self._wrap(exc) from None
        if record is None and owner is not None and owner.decode() == thread:
            raise HistoryEvicted(f"run {run_id} is no longer kept (expired)")
        return record

    async def runs(self, thread_id: str | None = None) -> list[RunRecord]:
        client = self.client()
        try:
            if thread_id is None:
                members = await client.zrevrange(
                    self.keys.listing, 0, self.target.options.max_runs - 1
                )
                pairs = [json.loads(m) for m in members]
            else:
                index = await client.xrange(self.keys.index(thread_id))
                opened = [f[b"open"].decode() for _, f in index if b"open" in f]
                pairs = [[thread_id, run_id] for run_id in reversed(opened)]
            pipe = client.pipeline(transaction=False)
            for thread, run_id in pairs:
                pipe.hgetall(self.keys.run(thread, run_id).info)
            infos = await pipe.execute() if pairs else []
        except Exception as exc:
            raise self._wrap(exc) from None
        records = [r for r in map(record_of, infos) if r is not None]
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def key(self, event_id: str) -> tuple[int, ...]:
        return parse_id(event_id)

    async def start(self, run: RunRecord, last_event_id: str | None) -> str:
        if last_event_id is None:
            return START
        ms, seq = parse_id(last_event_id)
        if (ms, seq) == (0, 0):
            return START
        entry_id = f"{ms}-{seq}"
        keys = self.keys.run(run.thread_id, run.run_id)
        try:
            pipe = self.client().pipeline(transaction=False)
            pipe.xrange(keys.stream, entry_id, entry_id)
            pipe.xrange(keys.stream, "-", "+", count=1)
            pipe.hmget(keys.info, "head_id", "trimmed")
            found, first, (head_id, trimmed) = await pipe.execute()
        except Exception as exc:
            raise self._wrap(exc) from None
        if found:
            return f"{entry_id}/{int(found[0][1].get(b'n', 0))}"
        evicted = HistoryEvicted(
            f"event id {entry_id} of run {run.run_id} and the items after it were evicted "
            f"from its bounded history ({run.dropped} dropped)"
        )
        if head_id is not None and head_id.decode() == entry_id:
            if int(trimmed or 0) > 0:
                raise evicted
            return f"{entry_id}/1"
        kept_from = parse_id(first[0][0].decode()) if first else None
        after_head = head_id is not None and parse_id(head_id.decode()) < (ms, seq)
        if after_head and (kept_from is None or (ms, seq) < kept_from):  # in the trimmed range
            raise evicted
        raise BadEventId(f"event id {entry_id} was not issued by run {run.run_id}")

    async def read(self, run: RunRecord, cursor: str, timeout: float) -> Batch:
        keys = self.keys.run(run.thread_id, run.run_id)
        after, number = _cursor(cursor)
        client = self.client()
        try:
            block = {"block": max(1, int(timeout * 1000))} if timeout > 0 else {}
            reply = await client.xread({keys.stream: after}, count=_BATCH, **block)
            raw = reply[0][1] if reply else []
            if not raw and timeout > 0 and not await client.exists(keys.stream):
                raise HistoryEvicted(f"run {run.run_id} is no longer kept (expired)")
            head = await self._head(keys, raw) if cursor == START else None
        except Exception as exc:
            raise self._wrap(exc) from None
        entries: list[Entry] = []
        if head is not None:
            entries.append(head)
            after, number = head.id, -1  # the next kept item follows, whatever its number
        for raw_id, fields in raw:
            after = raw_id.decode()
            if b"x" in fields:
                return Batch(entries, True, f"{after}/{number}")
            n = int(fields[b"n"])
            if number > 0 and n != number + 1:
                raise HistoryEvicted(
                    f"the items of run {run.run_id} after event id {cursor.partition('/')[0]} "
                    "were evicted from its bounded history"
                )
            number = n
            entries.append(Entry(after, fields[b"e"].decode(), fields[b"d"]))
        return Batch(entries, False, f"{after}/{number}")

    async def _head(self, keys: RunKeys, raw: list[Any]) -> Entry | None:
        """A run's first item, when a read from its start finds it trimmed."""
        first = raw[0][1] if raw else {}
        if first.get(b"n") == b"1":
            return None
        head_id, event, data = await self.client().hmget(keys.info, "head_id", "head_e", "head_d")
        if head_id is None:
            return None
        return Entry(head_id.decode(), event.decode(), data)

    def follow_thread(
        self, thread_id: str, last_event_id: str | None
    ) -> AsyncIterator[list[Entry]]:
        return ThreadFollower(self, thread_id, last_event_id).batches()

    def _wrap(self, exc: BaseException) -> BaseException:
        """Redis failures -> ``StoreUnavailable``; anything else (a bug) as it is."""
        import redis.exceptions

        if isinstance(exc, (redis.exceptions.RedisError, OSError, StoreUnavailable)):
            return self.unavailable(exc) if not isinstance(exc, StoreUnavailable) else exc
        return exc

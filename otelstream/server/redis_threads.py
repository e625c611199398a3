"""A thread's stream from Redis: its index and its runs' streams in one ``XREAD``.

All of a thread's keys share one slot and its entry ids come from one clock, so one
``XREAD`` over the index and the streams of the runs being followed is a consistent snapshot:
items are emitted in id order up to the point every stream read is complete (a stream cut by
``COUNT``, or a run that starts and is not followed yet, stops it there), and the next read
goes on from there. While nothing happens the follower blocks (``XREAD BLOCK``) on the same
keys; when that returns it reads the snapshot again (a blocked ``XREAD`` returns only the
first stream written to, not every stream the same script wrote).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from otelstream.server.redis_layout import BLOCK, parse_id
from otelstream.server.store import Entry, run_done

if TYPE_CHECKING:
    from otelstream.server.redis_store import RedisHistoryStore

_BATCH = 512
"""Most entries read per stream at once."""


class ThreadFollower:
    """One client's view of a thread: the runs it follows and where it is in each."""

    def __init__(self, store: RedisHistoryStore, thread_id: str, last: str | None) -> None:
        self._store = store
        self._thread = thread_id
        self._last = last
        self._index = store.keys.index(thread_id)
        self._cursors: dict[str, str] = {}  # stream key -> last id read
        self._runs: dict[str, str] = {}  # stream key -> run id
        self._seen: set[str] = set()  # run ids followed once

    def _follow(self, run_id: str, cursor: str) -> None:
        if run_id not in self._seen:
            self._seen.add(run_id)
            key = self._store.keys.run(self._thread, run_id).stream
            self._runs[key] = run_id
            self._cursors[key] = cursor

    async def batches(self) -> AsyncIterator[list[Entry]]:
        try:
            index = await self._store.client().xrange(self._index)
        except Exception as exc:
            raise self._store._wrap(exc) from None
        ended = {f[b"end"].decode(): parse_id(i.decode()) for i, f in index if b"end" in f}
        resume = None if self._last is None else parse_id(self._last)
        for _, fields in index:
            if b"open" not in fields:
                continue
            run_id = fields[b"open"].decode()
            if resume is None and run_id not in ended:
                self._follow(run_id, "0-0")  # a run going on: from its start
            elif resume is not None and (run_id not in ended or ended[run_id] > resume):
                self._follow(run_id, f"{resume[0]}-{resume[1]}")
        self._cursors[self._index] = index[-1][0].decode() if index else "0-0"
        while True:
            try:
                reply = await self._store.client().xread(dict(self._cursors), count=_BATCH)
                if not reply:  # wait for a change, then read every stream again
                    streams = dict(self._cursors)
                    await self._store.client().xread(streams, count=1, block=int(BLOCK * 1000))
            except Exception as exc:
                raise self._store._wrap(exc) from None
            yield self._emit(reply) if reply else []

    def _emit(self, reply: list[Any]) -> list[Entry]:
        """The entries of one snapshot, in id order, up to where it is complete."""
        streams = [
            (key.decode(), [(parse_id(i.decode()), i, f) for i, f in items]) for key, items in reply
        ]
        upto = None
        for key, items in streams:
            limit = None
            if len(items) == _BATCH:
                limit = items[-1][0]
            if key == self._index:  # a run not followed yet: stop where it starts
                new = [
                    i for i, _, f in items if b"open" in f and f[b"open"].decode() not in self._seen
                ]
                limit = min([*new, *([limit] if limit else [])], default=None)
            if limit is not None:
                upto = limit if upto is None else min(upto, limit)
        out: list[tuple[tuple[int, int], int, Entry]] = []
        for key, items in streams:
            for position, raw_id, fields in items:
                if upto is not None and position > upto:
                    break
                self._cursors[key] = raw_id.decode()
                if key == self._index:
                    if b"open" in fields:
                        self._follow(fields[b"open"].decode(), "0-0")
                elif b"x" in fields:  # the run's end
                    out.append((position, 0, run_done(self._runs.pop(key), raw_id.decode())))
                    del self._cursors[key]
                else:
                    out.append(
                        (position, 0, Entry(raw_id.decode(), fields[b"e"].decode(), fields[b"d"]))
                    )
        out.sort(key=lambda item: item[:2])
        return [entry for _, _, entry in out]

"""Publishing runs to Redis off their hot path: a bounded queue and one background thread.

The recorder's writes (on the graph's threads) only queue: a lock, a list append, a wake-up
when the thread sleeps. The thread takes whatever is queued, every run's share in one call of
the publishing script, all in one pipeline, and waits for nothing else. Each entry has a
number in its run, so a batch sent again after a failure is written once.

Redis down, slow or refusing: the batch stays queued and is sent again (backing off up to
2 s); the run never waits. Items beyond the queue's bounds (``queue_items``,
``queue_bytes``) are dropped, counted (``stats()["dropped"]``), said once in the log, and
marked in place in their run's stream: a ``metadata`` event ``{"run_id", "gap": {"dropped":
<count>, "reason": ...}}``. When Redis answers again, publishing resumes where it stopped.
At exit the queue is flushed for up to ``flush_timeout`` seconds.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from otelstream.server.redis_batches import Gap, QueuedRun, Take, write
from otelstream.server.redis_config import RedisTarget, unavailable
from otelstream.server.redis_layout import Keys
from otelstream.server.store import RunRecord
from otelstream.server.wire import dumpb

_logger = logging.getLogger("otelstream")

_RUN_BATCH = 1000
"""Most entries of one run per script call (its arguments stay few)."""
_BATCH = 5000
_BATCH_BYTES = 8 * 1024 * 1024
"""Most entries, and bytes of data, per pipeline."""
LINGER = 0.002
"""Seconds the thread waits after a send for more items (unless a batch's worth is queued):
fewer, larger batches, and fewer switches of the GIL away from the graphs' threads."""
_MAX_RUNS = 10_000
"""Runs a process holds unpublished (ended ones are let go first, counted)."""


class Publisher:
    """Sends runs to Redis from a daemon thread (started by the first run)."""

    def __init__(
        self,
        target: RedisTarget,
        connect: Callable[[], Any],
        flush_timeout: float = 5.0,
    ) -> None:
        self._target = target
        self._options = target.options
        self._connect = connect
        self._keys = Keys(target.options.prefix)
        self._flush_timeout = flush_timeout
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._runs: dict[str, QueuedRun] = {}  # runs not fully published, oldest first
        self._work: list[QueuedRun] = []  # runs with something to send
        self._items = 0  # queued (in flight included)
        self._bytes = 0
        self._idle = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._down = False
        self._deadline = 0.0
        self._warned_drop = False
        self.counts: Counter[str] = Counter()

    # -- the recorder's side (graph threads) ----------------------------------------------
    def open_run(self, record: RunRecord) -> None:
        with self._lock:
            if self._stopping:
                return
            if len(self._runs) >= _MAX_RUNS and not self._let_go():
                self.counts["runs_dropped"] += 1
                return
            run = QueuedRun(record, self._keys.run(record.thread_id, record.run_id))
            self._runs[record.run_id] = run
            self._queue(run)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="otelstream-redis-publisher", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)

    def append(self, run_id: str, event: str, data: bytes) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.close is not None:
                return
            if run.head is None:
                run.head = (event, data)
            if self._items >= self._options.queue_items or (
                self._bytes + len(data) > self._options.queue_bytes
            ):
                self._drop(run)
                return
            run.pending.append((event, data))
            self._items += 1
            self._bytes += len(data)
            if not run.queued:
                self._queue(run)

    def close_run(self, run_id: str, status: str, error: dict[str, Any] | None) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.close is not None:
                return
            run.close = {"status": status, "at": repr(time.time())}
            if error is not None:
                run.close["error"] = dumpb(error).decode()
            if not run.queued:
                self._queue(run)

    def _queue(self, run: QueuedRun) -> None:
        run.queued = True
        self._work.append(run)
        if self._idle:
            self._idle = False
            self._wake.notify()

    def _drop(self, run: QueuedRun) -> None:
        self.counts["dropped"] += 1
        last = run.pending[-1][1] if run.pending else None
        if isinstance(last, Gap) and not last.sent:
            last.count += 1
        else:
            run.pending.append(("metadata", Gap()))
            if not run.queued:
                self._queue(run)
        if not self._warned_drop:
            self._warned_drop = True
            _logger.warning(
                "otelstream: publishing to the stream store %s cannot keep up (it is "
                "unreachable or slow): items are dropped beyond %d queued or %d bytes, counted, "
                "and marked in their runs' streams; runs go on",
                self._target.shown,
                self._options.queue_items,
                self._options.queue_bytes,
            )

    def _let_go(self) -> bool:
        """Forget the oldest ended run still unpublished (lock held)."""
        for run_id, run in self._runs.items():
            if run.close is not None:
                del self._runs[run_id]
                if run in self._work:
                    self._work.remove(run)
                self._release([run.pending])
                self.counts["dropped"] += sum(1 for _, d in run.pending if isinstance(d, bytes))
                self.counts["runs_dropped"] += 1
                return True
        return False

    def _release(self, lists: list[list[tuple[str, bytes | Gap]]]) -> None:
        for entries in lists:
            for _, data in entries:
                if isinstance(data, bytes):
                    self._items -= 1
                    self._bytes -= len(data)

    # -- the publishing thread -------------------------------------------------------------
    def _loop(self) -> None:
        backoff = 0.0
        while True:
            with self._lock:
                while not self._work and not self._stopping:
                    self._idle = True
                    self._wake.wait()
                if not self._work:
                    return
                batch = self._take()
            try:
                self._send(batch)
            except Exception as exc:
                with self._lock:
                    self._requeue(batch)
                backoff = min(2.0, max(0.05, backoff * 2))
                self._failed(exc, backoff)
                with self._lock:
                    if self._stopping and self._gave_up():
                        return
                    self._wake.wait(backoff)
                continue
            backoff = 0.0
            with self._lock:
                self._sent(batch)
                if not self._stopping and self._items < _BATCH:  # gather the next batch
                    self._wake.wait(LINGER)
            if self._down:
                self._down = False
                _logger.warning(
                    "otelstream: the stream store %s answers again; publishing resumed",
                    self._target.shown,
                )

    def _take(self) -> list[Take]:
        """What to send now: each waiting run's share, at most one pipeline's worth; runs
        with more left go to the back of the line (lock held)."""
        out: list[Take] = []
        size = count = 0
        for run in list(self._work):
            if size >= _BATCH_BYTES or count >= _BATCH:
                break
            entries = run.pending[:_RUN_BATCH]
            del run.pending[:_RUN_BATCH]
            for _, data in entries:
                if isinstance(data, Gap):
                    data.sent = True
                else:
                    size += len(data)
            count += len(entries)
            close = run.close is not None and not run.pending
            out.append(Take(run, run.first, entries, close, not run.announced or close))
            run.first += len(entries)
            self._work.remove(run)
            if run.pending:
                self._work.append(run)
            else:
                run.queued = False
        return out

    def _requeue(self, batch: list[Take]) -> None:
        """A batch that failed goes back in front of what came since (lock held)."""
        for take in reversed(batch):
            run = take.run
            run.pending[:0] = take.entries
            run.first = take.first
            run.announced = False
            if not run.queued:
                run.queued = True
                self._work.insert(0, run)
        for run in self._runs.values():
            run.announced = False  # the store may have lost what it had (a restart)

    def _sent(self, batch: list[Take]) -> None:
        self._release([take.entries for take in batch])
        for take in batch:
            take.run.announced = True
            if take.close:
                self._runs.pop(take.run.record.run_id, None)
            self.counts["published"] += len(take.entries)
        self.counts["batches"] += 1

    def _failed(self, exc: Exception, backoff: float) -> None:
        with self._lock:
            self.counts["failures"] += 1
            self.counts["outages"] += not self._down
        self._client = None  # a fresh client (and, for a cluster, its layout) next time
        if not self._down:
            self._down = True
            _logger.warning(
                "otelstream: %s; publishing paused, retrying every %.1f s at most (runs go "
                "on; up to %d items are held meanwhile)",
                unavailable(self._target, exc),
                2.0,
                self._options.queue_items,
            )

    def _gave_up(self) -> bool:
        """While closing: whether the flush deadline passed (lock held)."""
        return time.monotonic() > self._deadline

    def _send(self, batch: list[Take]) -> None:
        if self._client is None:
            self._client = self._connect()
        pipe = self._client.pipeline(transaction=False)
        write(pipe, self._keys, self._options, batch)
        pipe.execute()

    # -- lifetime ------------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counters: ``published``, ``dropped`` (items), ``runs_dropped``, ``batches``,
        ``failures``, ``outages``; and now: ``queued`` items and ``queued_bytes``."""
        with self._lock:
            return {
                **{k: 0 for k in ("published", "dropped", "runs_dropped", "batches")},
                **{k: 0 for k in ("failures", "outages")},
                **self.counts,
                "queued": self._items,
                "queued_bytes": self._bytes,
            }

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued is sent (True), or ``timeout`` seconds (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._work and (self._thread is None or self._idle):
                    return True
            time.sleep(0.005)
        return False

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (for up to ``timeout``, default ``flush_timeout``), then stop;
        what is left then is counted as dropped."""
        timeout = self._flush_timeout if timeout is None else timeout
        atexit.unregister(self.close)
        with self._lock:
            if self._stopping:
                return
            self._deadline = time.monotonic() + timeout
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout + 1)
        with self._lock:
            left = self._items
            self.counts["dropped"] += left
            self._work.clear()
            self._runs.clear()
            self._items = self._bytes = 0
        if left:
            _logger.warning(
                "otelstream: %d stream items were not published to %s before exit",
                left,
                self._target.shown,
            )
        if self._client is not None:
            self._client.close()

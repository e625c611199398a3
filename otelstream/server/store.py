"""The history store interface: where recorded runs and their stream items live.

The recorder writes (from the graph's threads, never blocking the run); the routes read (on
the server's event loop), each connection at its own cursor, so any number of clients follow
a run without copies and a slow one never holds the others back. A store assigns every item
an event id: an opaque string, unique and strictly increasing within a run, and comparable
across the runs of one thread through ``key()`` (so a thread's stream can resume too). A
``Last-Event-ID`` resumes exactly after that item; one whose successors were evicted raises
``HistoryEvicted`` (HTTP 410), one the run never issued raises ``BadEventId`` (HTTP 400).

``MemoryHistoryStore`` (``memory.py``) keeps everything in this process;
``RedisHistoryStore`` (``redis_store.py``) keeps it in Redis Streams, shared by every
process that publishes or serves (its entry ids are the event ids).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from otelstream.server.wire import METADATA, dumpb

RUNNING = "running"
SUCCESS = "success"
ERROR = "error"
INTERRUPTED = "interrupted"
STATUSES = frozenset({"pending", RUNNING, SUCCESS, ERROR, INTERRUPTED})


class BadEventId(ValueError):
    """A ``Last-Event-ID`` that is malformed or was never issued by this run (HTTP 400)."""


class HistoryEvicted(LookupError):
    """The items after a ``Last-Event-ID`` (or the whole run) are no longer kept (HTTP 410)."""


class StoreUnavailable(ConnectionError):
    """A shared store cannot be reached (HTTP 503); the message is one line, without secrets."""


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


@dataclass
class RunRecord:
    """One recorded root run: what ``GET /threads/{tid}/runs/{rid}`` answers."""

    run_id: str
    thread_id: str
    graph: str
    created_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = RUNNING
    updated_at: float = 0.0
    error: dict[str, Any] | None = None
    items: int = 0
    """Items recorded (the ``metadata`` event included)."""
    dropped: int = 0
    """Items recorded but no longer kept (evicted from the bounded history), or never stored
    (lost while a shared store was unreachable)."""

    def to_json(self) -> dict[str, Any]:
        """The Platform's Run object (and what otelstream adds: ``error``, counts)."""
        return {
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "assistant_id": self.graph,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at or self.created_at),
            "status": self.status,
            "metadata": self.metadata,
            "multitask_strategy": None,
            "kwargs": {},
            "error": self.error,
            "items": self.items,
            "dropped": self.dropped,
        }


@dataclass(frozen=True)
class Entry:
    """One stored SSE event."""

    id: str
    event: str
    data: bytes


@dataclass(frozen=True)
class Batch:
    """Items after a cursor, the cursor after them, and whether the run ended with them."""

    entries: list[Entry]
    ended: bool
    cursor: str


def run_done(run_id: str, event_id: str) -> Entry:
    """The marker a thread's stream sends after each run's last item; its id is the run's
    end, so a thread's stream resumes exactly, markers included."""
    return Entry(event_id, METADATA, dumpb({"status": "run_done", "run_id": run_id}))


class HistoryStore(ABC):
    """Recorded runs and their stream items. Writers are sync and must not block; readers
    are async and may raise ``StoreUnavailable``. Implementations are thread-safe."""

    # -- written by the recorder (graph threads) ------------------------------------------
    @abstractmethod
    def open_run(self, record: RunRecord) -> None:
        """A recorded run started; its items follow."""

    @abstractmethod
    def append(self, run_id: str, event: str, data: bytes) -> None:
        """One item of a running run (the first is its ``metadata`` event, always kept)."""

    @abstractmethod
    def close_run(self, run_id: str, status: str, error: dict[str, Any] | None) -> None:
        """The run ended (its ``error`` event, if any, was appended before). If items were
        dropped, a last ``metadata`` event says so: ``{"run_id", "status", "dropped"}``."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what this process wrote can be read by every reader (a shared store
        sends it from a background thread); False if ``timeout`` passed first."""
        return True

    def close(self, timeout: float = 5.0) -> None:  # noqa: B027 - nothing to release here
        """Release what the store holds (a shared store first sends what it still queues)."""

    # -- read by the routes (the server's event loop) -------------------------------------
    @abstractmethod
    async def get_run(self, run_id: str, thread_id: str | None = None) -> RunRecord | None:
        """A run still kept (on ``thread_id`` if given), or None; raises ``HistoryEvicted``
        for a run recorded once and no longer kept."""

    @abstractmethod
    async def runs(self, thread_id: str | None = None) -> list[RunRecord]:
        """Runs kept (of one thread), newest first."""

    @abstractmethod
    def key(self, event_id: str) -> tuple[int, ...]:
        """The sort key of an event id; raises ``BadEventId`` for a malformed one."""

    @abstractmethod
    async def start(self, run: RunRecord, last_event_id: str | None) -> str:
        """The cursor to read a run from: its start (``last_event_id`` None, or the
        Platform's ``-1``/``0``), or exactly after ``last_event_id``. Raises ``BadEventId``
        or ``HistoryEvicted``."""

    @abstractmethod
    async def read(self, run: RunRecord, cursor: str, timeout: float) -> Batch:
        """Items after ``cursor`` (at most a bounded batch), waiting up to ``timeout``
        seconds (0: not at all) for some while the run goes on; ``ended`` when they reach
        the end of an ended run. Raises ``HistoryEvicted`` when items after ``cursor`` were
        evicted meanwhile (a reader too far behind)."""

    @abstractmethod
    def follow_thread(
        self, thread_id: str, last_event_id: str | None
    ) -> AsyncIterator[list[Entry]]:
        """A thread's stream, batch by batch (an empty batch: nothing new for a while): every
        run of the thread as it starts, or with ``last_event_id`` every kept item after it,
        then on; items of concurrent runs in id order, ``run_done()`` at each run's end.
        Endless (the client ends it)."""

"""The history store interface: where recorded runs and their stream items live.

The recorder writes (from the graph's threads, never blocking the run); the routes read (on
the server's event loop), each connection at its own cursor, so any number of clients follow
a run without copies and a slow one never holds the others back. A store assigns every item
an event id: an opaque string, unique and strictly increasing within a run, and comparable
across the runs of one store through ``key()`` (so a thread's stream can resume too). A
``Last-Event-ID`` resumes exactly after that item; one whose successors were evicted raises
``HistoryEvicted`` (HTTP 410), one the run never issued raises ``BadEventId`` (HTTP 400).

``MemoryHistoryStore`` (``memory.py``) keeps everything in this process. A store shared by
several processes implements the same methods (Redis Streams entry ids make natural event
ids: ``key("1700000000000-3") == (1700000000000, 3)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

RUNNING = "running"
SUCCESS = "success"
ERROR = "error"
INTERRUPTED = "interrupted"
STATUSES = frozenset({"pending", RUNNING, SUCCESS, ERROR, INTERRUPTED})


class BadEventId(ValueError):
    """A ``Last-Event-ID`` that is malformed or was never issued by this run (HTTP 400)."""


class HistoryEvicted(LookupError):
    """The items after a ``Last-Event-ID`` (or the whole run) are no longer kept (HTTP 410)."""


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
    """Items evicted from the bounded history while the run went on."""

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
    """Items after a cursor, and whether the run ended with the last of them."""

    entries: list[Entry]
    ended: bool


class HistoryStore(ABC):
    """Recorded runs and their stream items. Writers are sync and must not block; readers
    are async. Implementations are thread-safe."""

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

    # -- read by the routes (the server's event loop) -------------------------------------
    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None:
        """A run still kept, or None."""

    @abstractmethod
    def runs(self, thread_id: str | None = None) -> list[RunRecord]:
        """Runs kept (of one thread), newest first."""

    @abstractmethod
    def was_evicted(self, run_id: str) -> bool:
        """Whether this run was recorded once and is no longer kept."""

    @abstractmethod
    def key(self, event_id: str) -> tuple[int, ...]:
        """The sort key of an event id; raises ``BadEventId`` for a malformed one."""

    @abstractmethod
    def start(self, run_id: str, last_event_id: str | None) -> str:
        """The cursor to read a run from: its start (``last_event_id`` None, or the
        Platform's ``-1``/``0``), or exactly after ``last_event_id``. Raises ``BadEventId``
        or ``HistoryEvicted``."""

    @abstractmethod
    def horizon(self) -> str:
        """The id of the latest item stored: every item up to it can be read."""

    @abstractmethod
    async def read(
        self, run_id: str, cursor: str, timeout: float, upto: str | None = None
    ) -> Batch:
        """Items after ``cursor`` and not after ``upto`` (at most a bounded batch), waiting
        up to ``timeout`` seconds (0: not at all) for some while the run goes on; ``ended``
        when they reach the end of an ended run. Raises ``HistoryEvicted`` when items after
        ``cursor`` were evicted meanwhile (a reader too far behind)."""

    @abstractmethod
    def version(self, thread_id: str) -> int:
        """A value that changes (never back to an earlier one) whenever a run of the thread
        starts, ends or gets an item."""

    @abstractmethod
    async def wait_thread(self, thread_id: str, version: int, timeout: float) -> int:
        """The thread's version once it differs from ``version``, or after ``timeout``."""

"""What the capture hooks need to know from the live streams, and nothing more.

Most runs have no live consumer and are only traced. For a run somebody follows, the hooks
must do more: make its models stream (an ``events`` consumer wants tokens), and have its
LangGraph loop emit what the caller did not ask for (``debug`` chunks, the root's own stream
chunks) and wake the caller's stream when items wait. The stream stage answers these
questions through ``StreamDemand``; the hooks never see a subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from otelstream.lifecycle import RunInfo

Waker = Callable[[], None]


class _Wake:
    """The payload of the ``custom`` chunk that wakes a graph's own stream (never yielded)."""

    def __repr__(self) -> str:
        return "otelstream.WAKE"


WAKE = _Wake()


@dataclass(frozen=True)
class LoopDemand:
    """What a followed run's LangGraph loop must emit beyond its caller's stream modes."""

    debug: bool
    """LangGraph's ``debug`` chunks (a ``debug`` consumer follows the run)."""
    root_chunks: bool
    """The root graph's default-mode chunks, its ``on_chain_stream`` events."""
    set_waker: Callable[[Waker], None] | None
    """Hand the loop's wake-up to consumers that read the caller's stream, if any."""
    modes: frozenset[str] = frozenset()
    """Other LangGraph modes (``values``, ``updates``, ``messages``) whose chunks the
    consumers take as LangGraph streams them (a run recorder)."""


class StreamDemand(Protocol):
    def wants_tokens(self, thread_id: Any, run_id: UUID | None, graph: str | None = None) -> bool:
        """Whether an ``events`` consumer waits for this root run (its models must stream);
        ``graph`` is the graph's name for a graph run, None for any other runnable."""
        ...

    def loop_demand(self, run: RunInfo) -> LoopDemand | None:
        """What the loop of ``run`` (a graph run) must emit for its consumers; None if none."""
        ...

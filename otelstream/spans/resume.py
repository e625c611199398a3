"""Resume links: the run that resumes an interrupted thread links back to the interrupted run.

A LangGraph ``interrupt()`` ends a run normally; the next run on the same thread resumes
it, in a new trace. The interrupted root's span context is kept per thread (bounded), and
the resuming root span gets a link to it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from opentelemetry.trace import SpanContext

INTERRUPT_MEMORY = 10_000
"""Threads whose last run was interrupted, remembered for resume links (oldest forgotten)."""


class ResumeLinks:
    """Interrupted root runs by thread id, until a run resumes the thread."""

    def __init__(self, capacity: int = INTERRUPT_MEMORY) -> None:
        self._capacity = capacity
        self._interrupted: OrderedDict[str, SpanContext] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, thread_id: str, context: SpanContext) -> None:
        with self._lock:
            self._interrupted[thread_id] = context
            self._interrupted.move_to_end(thread_id)
            while len(self._interrupted) > self._capacity:
                self._interrupted.popitem(last=False)

    def take(self, thread_id: str) -> SpanContext | None:
        """The interrupted run this thread's new run resumes, if any (forgotten once taken)."""
        with self._lock:
            return self._interrupted.pop(thread_id, None)

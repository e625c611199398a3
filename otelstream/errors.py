"""Fail-open bookkeeping: an internal failure is counted and logged once, never raised.

Instrumentation runs inside user code (callbacks, config copies, stream writers). A bug
there must not break the graph, and must not flood the log either: each distinct failure
(component and exception type) is logged once with its traceback, and every occurrence
is counted in ``failure_counts()``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

_logger = logging.getLogger("otelstream")
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_logged: set[tuple[str, str]] = set()


def report_failure(component: str, exc: BaseException) -> None:
    """Count an internal failure; log it the first time this kind of failure is seen."""
    key = (component, type(exc).__name__)
    with _lock:
        _counts[component] += 1
        first = key not in _logged
        if first:
            _logged.add(key)
    if first:
        _logger.warning(
            "otelstream: internal failure in %s (the run goes on; further %s failures there "
            "are only counted)",
            component,
            type(exc).__name__,
            exc_info=exc,
        )


def failure_counts() -> dict[str, int]:
    """How many internal failures each component has had since the process started."""
    with _lock:
        return dict(_counts)

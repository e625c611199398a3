"""Choosing the history store: in memory (one process), or Redis Streams (shared).

``store=`` (or ``$OTELSTREAM_STREAM_STORE``) is a store, ``"memory"``, or a Redis URL
(``redis_config.py``'s forms: ``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from otelstream.server.memory import MemoryHistoryStore
from otelstream.server.redis_config import STORE_ENV
from otelstream.server.store import HistoryStore, StoreUnavailable

_logger = logging.getLogger("otelstream")


def open_store(store: HistoryStore | str | None = None, **memory_options: Any) -> HistoryStore:
    """The store ``store`` names (default ``$OTELSTREAM_STREAM_STORE``, else in memory, with
    ``memory_options``). Raises ``ValueError`` (one line) for a bad URL or option; connects
    to nothing yet."""
    if isinstance(store, HistoryStore):
        return store
    spec = (store if store is not None else os.environ.get(STORE_ENV, "")).strip()
    if spec in ("", "memory"):
        return MemoryHistoryStore(**memory_options)
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ValueError(
            "a Redis stream store needs redis-py: pip install 'otelstream[redis]'"
        ) from None
    from otelstream.server.redis_store import RedisHistoryStore

    return RedisHistoryStore(spec)


def warn_if_unreachable(store: HistoryStore) -> bool:
    """For a process that runs graphs: a shared store that does not answer now is a warning
    (its runs are queued, bounded, until it does), never an error. True if it answered."""
    check = getattr(store, "check", None)
    if check is None:
        return True
    try:
        check()
    except StoreUnavailable as exc:
        _logger.warning("otelstream: %s; runs are queued (bounded) until it answers", exc)
        return False
    return True

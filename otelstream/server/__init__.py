"""Remote streams: runs over HTTP, as LangGraph Platform serves them.

``create_app()`` is a Starlette app to mount in any ASGI app; ``start()`` serves it from a
background thread. Both need the ``server`` extra: ``pip install "otelstream[server]"``.
``publish()`` records a process's runs into a shared store (Redis Streams, the ``redis``
extra) for servers in other processes, and needs neither Starlette nor uvicorn.
The last stage of the pipeline: it reads the live hub (``streams/``), nothing reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otelstream.server.memory import MemoryHistoryStore
from otelstream.server.publish import Publishing, publish
from otelstream.server.store import (
    BadEventId,
    Batch,
    Entry,
    HistoryEvicted,
    HistoryStore,
    RunRecord,
    StoreUnavailable,
)
from otelstream.server.stores import open_store

if TYPE_CHECKING:
    from otelstream.server.app import create_app
    from otelstream.server.background import RunningServer, start
    from otelstream.server.redis_store import RedisHistoryStore

_LAZY = {
    "create_app": "otelstream.server.app",
    "RunningServer": "otelstream.server.background",
    "start": "otelstream.server.background",
    "RedisHistoryStore": "otelstream.server.redis_store",
}


def __getattr__(name: str) -> Any:
    """The HTTP side (Starlette, uvicorn) and redis-py are imported when first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otelstream.server' has no attribute {name!r}")
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:  # depends on the installed extras
        extra = "redis" if name == "RedisHistoryStore" else "server"
        raise ImportError(
            f"otelstream.server.{name} needs the {extra} extra: "
            f"pip install 'otelstream[{extra}]' ({exc})"
        ) from exc


__all__ = [
    "BadEventId",
    "Batch",
    "Entry",
    "HistoryEvicted",
    "HistoryStore",
    "MemoryHistoryStore",
    "Publishing",
    "RedisHistoryStore",
    "RunRecord",
    "RunningServer",
    "StoreUnavailable",
    "create_app",
    "open_store",
    "publish",
    "start",
]

"""Remote streams: this process's runs over HTTP, as LangGraph Platform serves them.

``create_app()`` is a Starlette app to mount in any ASGI app; ``start()`` serves it from a
background thread. Both need the ``server`` extra: ``pip install "otelstream[server]"``.
The last stage of the pipeline: it reads the live hub (``streams/``), nothing reads it.
"""

from __future__ import annotations

try:
    from otelstream.server.app import create_app
    from otelstream.server.background import RunningServer, start
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"otelstream.server needs the server extra: pip install 'otelstream[server]' ({exc})"
    ) from exc
from otelstream.server.memory import MemoryHistoryStore
from otelstream.server.store import (
    BadEventId,
    Batch,
    Entry,
    HistoryEvicted,
    HistoryStore,
    RunRecord,
)

__all__ = [
    "BadEventId",
    "Batch",
    "Entry",
    "HistoryEvicted",
    "HistoryStore",
    "MemoryHistoryStore",
    "RunRecord",
    "RunningServer",
    "create_app",
    "start",
]

"""``publish()``: a process that runs graphs and serves nothing records its runs into a
shared store, for servers elsewhere to serve (a job worker, a batch script).

The recorder is the server's (every kept root graph run, from its first event); the store is
Redis (``OTELSTREAM_STREAM_STORE``). Fails open: an unreachable Redis at start-up is a
warning, and publishing begins when it answers.
"""

from __future__ import annotations

from otelstream.server.memory import MemoryHistoryStore
from otelstream.server.recorder import RecordFilter, RunRecorder
from otelstream.server.store import HistoryStore
from otelstream.server.stores import open_store, warn_if_unreachable
from otelstream.server.wire import WirePolicy


class Publishing:
    """What :func:`publish` started: its ``store``; ``stop()`` ends it (sending what is
    queued first)."""

    def __init__(self, store: HistoryStore, recorder: RunRecorder) -> None:
        self.store = store
        self.recorder = recorder

    def stop(self, timeout: float = 5.0) -> None:
        self.recorder.close()
        self.store.close(timeout)

    def __enter__(self) -> Publishing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def publish(
    store: HistoryStore | str | None = None, *, record: RecordFilter | None = None
) -> Publishing:
    """Record this process's root graph runs (those ``record(graph, thread_id)`` keeps) into
    ``store`` (a Redis URL; default ``$OTELSTREAM_STREAM_STORE``), from now on. Instruments
    with defaults if ``otelstream.instrument()`` was not called."""
    import otelstream

    history = open_store(store)
    if isinstance(history, MemoryHistoryStore):
        raise ValueError(
            "publish() needs a shared store: a Redis URL (store=... or $OTELSTREAM_STREAM_STORE)"
        )
    instrumentor = otelstream.instrument()
    if instrumentor.hub is None or instrumentor.settings is None:
        raise RuntimeError("otelstream could not instrument LangChain (see the log)")
    warn_if_unreachable(history)
    policy = WirePolicy(instrumentor.settings)
    return Publishing(history, RunRecorder(instrumentor.hub, history, policy, record))

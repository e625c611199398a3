"""Hook on ``langgraph.runtime.Runtime.__init__``: ``StreamWriter`` writes are recorded.

A graph's stream writer (``get_stream_writer()``) is wrapped so every custom write becomes a
lifecycle event of the run it was made in, whatever ``stream_mode`` the caller asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otelstream.capture.callback_handler import OtelStreamCallbackHandler
from otelstream.errors import report_failure


class _RecordingWriter:
    """A ``StreamWriter`` that writes as before, then records the write on the current run."""

    __slots__ = ("_record", "_writer")

    def __init__(self, writer: Callable[[Any], None], record: Callable[[Any], None]) -> None:
        self._writer = writer
        self._record = record

    def __call__(self, chunk: Any) -> None:
        self._writer(chunk)
        try:
            self._record(chunk)
        except Exception as exc:
            report_failure("stream writer hook", exc)


class RuntimeHook:
    """Wrapper of ``langgraph.runtime.Runtime.__init__`` that wraps its ``stream_writer``."""

    def __init__(self, handler: OtelStreamCallbackHandler) -> None:
        self._handler = handler

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        try:
            writer = kwargs.get("stream_writer")
            if callable(writer) and not isinstance(writer, _RecordingWriter):
                kwargs["stream_writer"] = _RecordingWriter(writer, self._record)
        except Exception as exc:
            report_failure("runtime hook", exc)
        wrapped(*args, **kwargs)

    def _record(self, chunk: Any) -> None:
        from langgraph.config import get_config

        try:
            config = get_config()
        except RuntimeError:  # written outside a runnable context: nothing to attach it to
            return
        run_id = getattr(config.get("callbacks"), "parent_run_id", None)
        if run_id is not None:
            self._handler.record_custom_write(run_id, chunk)

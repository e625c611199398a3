"""Runtime hooks (wrapt): where otelstream attaches to LangChain and LangGraph.

* ``BaseCallbackManager.__init__``: every callback manager in the process inherits the
  otelstream handler (the hook OpenTelemetry, OpenInference and OpenLLMetry all use), plus
  the stream tap for runs that asked for tokens.
* ``langgraph.runtime.Runtime.__init__``: a graph's ``StreamWriter`` is wrapped so custom
  writes are recorded even when the caller did not ask for ``stream_mode="custom"``.

Each hook calls the wrapped function first and untouched, and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from otelstream.callback_handler import OtelStreamCallbackHandler, StreamTap
from otelstream.errors import report_failure

WantsStream = Callable[[UUID | None], bool]


class CallbackManagerHook:
    """Wrapper of ``BaseCallbackManager.__init__`` that injects the handler once."""

    def __init__(
        self, handler: OtelStreamCallbackHandler, tap: StreamTap, wants_stream: WantsStream
    ) -> None:
        self._handler = handler
        self._tap = tap
        self._wants_stream = wants_stream

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        try:
            if self._handler not in instance.inheritable_handlers:
                instance.add_handler(self._handler, True)
            if self._wants_stream(instance.parent_run_id):
                self._attach_tap(instance)
        except Exception as exc:
            report_failure("callback manager hook", exc)

    def _attach_tap(self, manager: Any) -> None:
        """Attach the tap last, so a caller's own stream handler keeps tapping first."""
        tap = self._tap
        for handlers in (manager.handlers, manager.inheritable_handlers):
            if handlers and handlers[-1] is tap:
                continue
            if tap in handlers:
                handlers.remove(tap)
            handlers.append(tap)


class _RecordingWriter:
    """A ``StreamWriter`` that writes as before, then records the write on the current run."""

    __slots__ = ("_writer", "_record")

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

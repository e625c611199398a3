"""Hook on ``BaseCallbackManager.__init__``: every callback manager inherits the handler.

This is the hook OpenTelemetry's, OpenInference's and OpenLLMetry's LangChain
instrumentations all use: LangChain builds a callback manager for every run, and a handler
that is inheritable there sees every run of the process. Runs that want tokens (the
``capture_tokens`` opt-in) also get the stream tap.
"""

from __future__ import annotations

from typing import Any

from otelstream.capture.callback_handler import OtelStreamCallbackHandler
from otelstream.capture.stream_tap import StreamTap
from otelstream.errors import report_failure


class CallbackManagerHook:
    """Wrapper of ``BaseCallbackManager.__init__`` that injects the handler once."""

    def __init__(
        self, handler: OtelStreamCallbackHandler, tap: StreamTap, capture_tokens: bool
    ) -> None:
        self._handler = handler
        self._tap = tap
        self._capture_tokens = capture_tokens

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        try:
            if self._handler not in instance.inheritable_handlers:
                instance.add_handler(self._handler, True)
            if self._capture_tokens:
                self._attach_tap(instance)
            handlers = instance.handlers
            if len(handlers) > 1:
                self._ahead_of_langgraph(handlers)
        except Exception as exc:
            report_failure("callback manager hook", exc)

    def _ahead_of_langgraph(self, handlers: list[Any]) -> None:
        """Put the handler and the tap ahead of LangGraph's own handlers, which a manager merge
        may put first. LangChain lets only the first streaming handler tap a run's output, and
        LangGraph's (``messages`` mode, tool calls) only pass it through; its ``messages``
        handler also adds ``"tags"`` to a chat model's metadata, which the handler must see
        (and copy) before."""
        tap, handler = self._tap, self._handler
        for i, other in enumerate(handlers):
            if other is tap or other is handler:
                continue
            if type(other).__module__.startswith("langgraph."):
                for ours in (tap, handler):
                    if ours in handlers[i + 1 :]:
                        handlers.remove(ours)
                        handlers.insert(i, ours)
                return

    def _attach_tap(self, manager: Any) -> None:
        """Attach the tap last, so a caller's own stream handler keeps tapping first."""
        tap = self._tap
        for handlers in (manager.handlers, manager.inheritable_handlers):
            if handlers and handlers[-1] is tap:
                continue
            if tap in handlers:
                handlers.remove(tap)
            handlers.append(tap)

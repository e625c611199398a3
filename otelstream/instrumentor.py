"""``OtelStreamInstrumentor``: the ``BaseInstrumentor`` behind ``instrument()`` and zero-code use.

Registered under the ``opentelemetry_instrumentor`` entry point, so
``opentelemetry-instrument python app.py`` instruments every LangGraph/LangChain run.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from uuid import UUID

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from packaging.requirements import Requirement
from wrapt import wrap_function_wrapper

from otelstream.callback_handler import OtelStreamCallbackHandler, StreamTap
from otelstream.config import Settings
from otelstream.hooks import CallbackManagerHook, LoopHook, PregelStreamHook, RuntimeHook
from otelstream.metrics import Metrics
from otelstream.package import _instruments, _supported_langgraph
from otelstream.span_manager import SpanManager
from otelstream.subscriber import SubscriberHub
from otelstream.version import __version__

_logger = logging.getLogger(__name__)


def _langgraph_supported() -> bool:
    requirement = Requirement(_supported_langgraph)
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        return False
    if requirement.specifier.contains(installed, prereleases=True):
        return True
    _logger.warning(
        "otelstream: langgraph %s is outside the supported range (%s); graph-level hooks "
        "are off, callback tracing still works",
        installed,
        requirement.specifier,
    )
    return False


class OtelStreamInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Hooks LangChain's callback managers (and LangGraph's runtime) to record every run."""

    settings: Settings | None = None
    span_manager: SpanManager | None = None
    handler: OtelStreamCallbackHandler | None = None
    tap: StreamTap | None = None
    hub: SubscriberHub | None = None
    _langgraph_hooked = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer_provider = kwargs.pop("tracer_provider", None)
        meter_provider = kwargs.pop("meter_provider", None)
        settings = Settings.from_env(**kwargs)
        tracer = trace.get_tracer("otelstream", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("otelstream", __version__, meter_provider=meter_provider)
        recorder = Metrics(meter)
        span_manager = SpanManager(tracer, settings, recorder)
        handler = OtelStreamCallbackHandler(span_manager.handle)
        tap = StreamTap(handler)
        hub = SubscriberHub(on_drop=recorder.subscriber_dropped)
        span_manager.add_listener(hub.on_event)
        self.settings, self.span_manager, self.handler = settings, span_manager, handler
        self.tap, self.hub = tap, hub

        wrap_function_wrapper(
            "langchain_core.callbacks.base",
            "BaseCallbackManager.__init__",
            CallbackManagerHook(handler, tap, self._wants_stream),
        )
        if _langgraph_supported():
            pregel_hook = PregelStreamHook(handler, tap, hub)
            wrap_function_wrapper("langgraph.pregel", "Pregel.stream", pregel_hook)
            wrap_function_wrapper("langgraph.pregel", "Pregel.astream", pregel_hook)
            wrap_function_wrapper("langgraph.runtime", "Runtime.__init__", RuntimeHook(handler))
            wrap_function_wrapper(
                "langgraph.pregel._loop", "PregelLoop.__init__", LoopHook(handler)
            )
            self._langgraph_hooked = True

    def _wants_stream(self, parent_run_id: UUID | None) -> bool:
        settings = self.settings
        return settings is not None and settings.capture_tokens

    def _uninstrument(self, **kwargs: Any) -> None:
        from langchain_core.callbacks.base import BaseCallbackManager

        unwrap(BaseCallbackManager, "__init__")
        if self._langgraph_hooked:
            from langgraph.pregel import Pregel
            from langgraph.pregel._loop import PregelLoop
            from langgraph.runtime import Runtime

            unwrap(Pregel, "stream")
            unwrap(Pregel, "astream")
            unwrap(Runtime, "__init__")
            unwrap(PregelLoop, "__init__")
            self._langgraph_hooked = False
        if self.handler is not None:
            # Managers created earlier may still hold the handler: make it inert.
            self.handler.disable()
        self.settings = self.span_manager = self.handler = None
        self.tap = self.hub = None

"""``OtelStreamInstrumentor``: the ``BaseInstrumentor`` behind ``instrument()`` and zero-code use.

Registered under the ``opentelemetry_instrumentor`` entry point, so
``opentelemetry-instrument python app.py`` instruments every LangGraph/LangChain run. It
builds the pipeline (hooks -> handler -> fan-out -> span manager and live hub) and owns the
fan-out, so neither consumer of the lifecycle events knows the other. LangChain and
LangGraph are imported only in ``_instrument``: importing otelstream does not need them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from packaging.requirements import Requirement
from wrapt import wrap_function_wrapper

from otelstream import lifecycle
from otelstream.config import Settings
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent
from otelstream.package import _instruments, _supported_langgraph
from otelstream.version import __version__

if TYPE_CHECKING:
    from otelstream.capture.callback_handler import OtelStreamCallbackHandler
    from otelstream.capture.stream_tap import StreamTap
    from otelstream.spans.span_manager import SpanManager
    from otelstream.streams.hub import SubscriberHub

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


_ENDS = frozenset({lifecycle.END, lifecycle.ERROR})


class FanOut:
    """Hands each lifecycle event to the live hub, then to the span manager.

    Delivery first keeps live consumers from waiting while a batch of chunks is serialized;
    a root run's end goes to the span manager first, so a follower that reads the trace once
    its stream has ended finds the whole trace. Each consumer fails open on its own.
    """

    __slots__ = ("_live", "_record")

    def __init__(
        self, record: Callable[[LifecycleEvent], None], live: Callable[[LifecycleEvent], None]
    ) -> None:
        self._record = record
        self._live = live

    def __call__(self, ev: LifecycleEvent) -> None:
        # Every token passes here: both consumers are called inline, each in a try of its
        # own (fail-open), with no helper call per event.
        record_first = ev.run.parent is None and ev.phase in _ENDS
        if record_first:
            try:
                self._record(ev)
            except Exception as exc:
                report_failure("span manager", exc)
        try:
            self._live(ev)
        except Exception as exc:
            report_failure("subscriber", exc)
        if not record_first:
            try:
                self._record(ev)
            except Exception as exc:
                report_failure("span manager", exc)


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
        from otelstream.capture.callback_handler import OtelStreamCallbackHandler
        from otelstream.capture.manager_hook import CallbackManagerHook
        from otelstream.capture.runnable_hook import (
            ROOT_STREAMS,
            TRANSFORM_STREAMS,
            RootStreamHook,
            TransformStreamHook,
        )
        from otelstream.capture.stream_tap import StreamTap
        from otelstream.spans.metrics import Metrics
        from otelstream.spans.span_manager import SpanManager
        from otelstream.streams.hub import SubscriberHub

        tracer_provider = kwargs.pop("tracer_provider", None)
        meter_provider = kwargs.pop("meter_provider", None)
        settings = Settings.from_env(**kwargs)
        tracer = trace.get_tracer("otelstream", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("otelstream", __version__, meter_provider=meter_provider)
        recorder = Metrics(meter)
        span_manager = SpanManager(tracer, settings, recorder)
        hub = SubscriberHub(on_drop=recorder.subscriber_dropped)
        handler = OtelStreamCallbackHandler(FanOut(span_manager.handle, hub.on_event))
        tap = StreamTap(handler)
        self.settings, self.span_manager, self.handler = settings, span_manager, handler
        self.tap, self.hub = tap, hub

        wrap_function_wrapper(
            "langchain_core.callbacks.base",
            "BaseCallbackManager.__init__",
            CallbackManagerHook(handler, tap, settings.capture_tokens),
        )
        for hook_type, methods in (
            (TransformStreamHook, TRANSFORM_STREAMS),
            (RootStreamHook, ROOT_STREAMS),
        ):
            for module, cls, method, is_async in methods:
                hook = hook_type(handler, tap, hub, is_async)
                wrap_function_wrapper(module, f"{cls}.{method}", hook)
        if _langgraph_supported():
            from otelstream.capture.graph_hook import PregelStreamHook
            from otelstream.capture.loop_tap import LoopHook
            from otelstream.capture.writer_hook import RuntimeHook

            pregel_hook = PregelStreamHook(handler, tap, hub)
            wrap_function_wrapper("langgraph.pregel", "Pregel.stream", pregel_hook)
            wrap_function_wrapper("langgraph.pregel", "Pregel.astream", pregel_hook)
            wrap_function_wrapper("langgraph.runtime", "Runtime.__init__", RuntimeHook(handler))
            wrap_function_wrapper(
                "langgraph.pregel._loop", "PregelLoop.__init__", LoopHook(handler, hub)
            )
            self._langgraph_hooked = True

    def _uninstrument(self, **kwargs: Any) -> None:
        from langchain_core.callbacks.base import BaseCallbackManager

        from otelstream.capture.runnable_hook import ROOT_STREAMS, TRANSFORM_STREAMS

        unwrap(BaseCallbackManager, "__init__")
        for module, cls, method, _ in (*TRANSFORM_STREAMS, *ROOT_STREAMS):
            unwrap(getattr(importlib.import_module(module), cls), method)
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

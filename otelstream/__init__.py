"""otelstream: drop-in OpenTelemetry tracing for LangGraph, and live streams from it.

Importing it needs only OpenTelemetry: LangChain and LangGraph are imported when otelstream
instruments them, or when a live stream is asked for.

>>> import otelstream
>>> otelstream.instrument()   # every graph run in the process becomes one trace
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from otelstream.config import ConfigurationError, Settings
from otelstream.errors import failure_counts
from otelstream.export.providers import Setup, configure, has_global_tracer_provider
from otelstream.instrumentor import OtelStreamInstrumentor
from otelstream.streams.api import astream, astream_events, stream, subscribe
from otelstream.streams.replay import replay
from otelstream.streams.subscription import Subscription
from otelstream.version import __version__

__all__ = [
    "ConfigurationError",
    "OtelStreamInstrumentor",
    "Settings",
    "Setup",
    "Subscription",
    "__version__",
    "astream",
    "astream_events",
    "configure",
    "failure_counts",
    "instrument",
    "replay",
    "stream",
    "subscribe",
    "uninstrument",
]


_lock = threading.RLock()


def instrument(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    **options: Any,
) -> OtelStreamInstrumentor:
    """Trace every LangGraph/LangChain run in this process. Calling it again changes nothing.

    With no provider given and none set globally, :func:`configure` sets them up first.
    ``options`` are :class:`Settings` fields (``capture_content``, ``capture_tokens``,
    ``max_attribute_length``, ``redact``, ...); unset ones come from ``OTELSTREAM_*``
    environment variables.
    """
    Settings.from_env(**options)  # reject bad options before touching anything
    instrumentor = OtelStreamInstrumentor()
    with _lock:  # first calls from several threads at once must hook once
        if not instrumentor.is_instrumented_by_opentelemetry:
            if (
                tracer_provider is None
                and meter_provider is None
                and not has_global_tracer_provider()
            ):
                configure()  # no SDK set up yet: providers from OTEL_*, or the OTLP/JSON file
            instrumentor.instrument(
                tracer_provider=tracer_provider, meter_provider=meter_provider, **options
            )
    return instrumentor


def uninstrument() -> None:
    """Remove every otelstream hook. Calling it when not instrumented changes nothing."""
    instrumentor = OtelStreamInstrumentor()
    with _lock:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()

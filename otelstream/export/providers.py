"""Tracer and meter providers from the standard ``OTEL_*`` variables, for apps that set none.

A provider the app (or ``opentelemetry-instrument``) already set globally is used as it is,
never replaced. Otherwise the providers follow the environment: resource
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), sampler (``OTEL_TRACES_SAMPLER``),
exporters (``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER``: ``otlp``, ``console``,
``otelstream_file``, ``none``, or any installed exporter entry point), OTLP endpoint,
protocol (``grpc``, the Python default, or ``http/protobuf``), headers, timeout and
compression, batching (``OTEL_BSP_*``) and the metric export interval. With no exporter and no
OTLP endpoint configured, telemetry goes to an OTLP/JSON file (the embedded default) whose
path is logged once. Every setting is checked before anything is set up: a bad one raises
:class:`~otelstream.config.ConfigurationError` and leaves the SDK as it was.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from otelstream.config import ConfigurationError
from otelstream.export.counting import CountingBatchSpanProcessor, Drops, drop_counter
from otelstream.export.metrics_guard import MetricsGuard
from otelstream.export.otlp_file import (
    OtlpJsonFileMetricExporter,
    OtlpJsonFileSpanExporter,
    default_path,
    rotation_from_env,
)

_logger = logging.getLogger(__name__)

FILE_EXPORTER = "otelstream_file"
DEFAULT_EXPORT_BATCH = 32
PROTOCOLS = ("grpc", "http/protobuf")
_OTLP = {"otlp": None, "otlp_proto_grpc": "grpc", "otlp_proto_http": "http/protobuf"}
"""OTLP exporter names, and the protocol each fixes (``otlp``: the protocol variables')."""
_GROUPS = {
    "traces": "opentelemetry_traces_exporter",
    "metrics": "opentelemetry_metrics_exporter",
    "logs": "opentelemetry_logs_exporter",
}


@dataclass(frozen=True)
class Setup:
    """What :func:`configure` did, per signal: ``"existing"`` (the app's own provider was
    kept), ``"disabled"``, or the exporters it set up (``["otlp grpc", "otelstream_file"]``)."""

    traces: list[str] | str
    metrics: list[str] | str
    file: Path | None = None
    """The OTLP/JSON file, when one is written."""


_lock = threading.Lock()
_done: Setup | None = None


def configure(
    *, service_name: str | None = None, file: str | os.PathLike[str] | None = None
) -> Setup:
    """Set the global tracer and meter providers from ``OTEL_*``, unless some are set already.

    ``service_name`` is used when neither ``OTEL_SERVICE_NAME`` nor ``OTEL_RESOURCE_ATTRIBUTES``
    names the service; ``file`` overrides the OTLP/JSON file path (``OTELSTREAM_FILE``).
    The first successful call decides; later calls return what it did. A setting otelstream
    cannot use raises :class:`~otelstream.config.ConfigurationError` (one line: the variable,
    its value, the accepted values) before anything is set up.
    """
    return configure_providers(service_name=service_name, file=file)


def configure_providers(
    *,
    service_name: str | None = None,
    file: str | os.PathLike[str] | None = None,
    resource_attributes: dict[str, Any] | None = None,
) -> Setup:
    """:func:`configure`, with extra resource attributes (the zero-code configurator's)."""
    global _done
    with _lock:
        if _done is not None:
            return _done
        if _env("OTEL_SDK_DISABLED").lower() == "true":
            _done = Setup("disabled", "disabled")
            return _done
        signals = [
            signal
            for signal, existing in (
                ("traces", has_global_tracer_provider()),
                ("metrics", _has_global_meter_provider()),
            )
            if not existing
        ]
        names = check_settings(signals)  # raises before anything is set up
        path = Path(file) if file is not None else default_path()
        resource = _resource(service_name, resource_attributes)
        # both built before either is set: a failing exporter leaves the SDK as it was
        meters: list[str] | str = "existing"
        meter_provider = None
        if "metrics" in signals:
            meter_provider, meters = _meter_provider(names["metrics"], path, resource)
        traces: list[str] | str = "existing"
        tracer_provider = None
        if "traces" in signals:  # trace drops are counted in the new meter provider
            try:
                tracer_provider, traces = _tracer_provider(
                    names["traces"], path, resource, meter_provider
                )
            except BaseException:
                if meter_provider is not None:
                    meter_provider.shutdown()
                raise
        if meter_provider is not None:
            metrics.set_meter_provider(meter_provider)
        if tracer_provider is not None:
            trace.set_tracer_provider(tracer_provider)
        used_file = FILE_EXPORTER in traces or FILE_EXPORTER in meters
        _done = Setup(traces, meters, path if used_file else None)
    if used_file:
        _logger.warning(
            "otelstream: no OTLP endpoint configured; writing traces and metrics to %s "
            "(OTLP/JSON). Set OTEL_EXPORTER_OTLP_ENDPOINT to export, OTELSTREAM_FILE to move it.",
            path,
        )
    return _done


def has_global_tracer_provider() -> bool:
    """Whether the app (or ``opentelemetry-instrument``) set a global tracer provider."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _has_global_meter_provider() -> bool:
    return type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _resource(service_name: str | None, attributes: dict[str, Any] | None = None) -> Resource:
    named = _env("OTEL_SERVICE_NAME") or "service.name=" in _env("OTEL_RESOURCE_ATTRIBUTES")
    extra = dict(attributes or {})
    if service_name and not named:
        extra["service.name"] = service_name
    return Resource.create(extra)


# --- checking the settings --------------------------------------------------------------------
def check_settings(signals: list[str]) -> dict[str, list[str]]:
    """The exporter names of each signal, after checking every setting they depend on: the
    OTLP protocol variables (all that are set, whether or not an endpoint is), the exporter
    names, and the file's rotation settings when the file is written."""
    if not signals:
        return {}
    for variable in ("OTEL_EXPORTER_OTLP_PROTOCOL", *_protocol_variables(signals)):
        _checked_protocol(variable)
    names = {signal: exporter_names(signal) for signal in signals}
    if any(FILE_EXPORTER in n for n in names.values()):
        rotation_from_env()
    return names


def _protocol_variables(signals: list[str]) -> list[str]:
    return [f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL" for signal in signals]


def _checked_protocol(variable: str) -> str | None:
    value = _env(variable)
    if not value or value in PROTOCOLS:
        return value or None
    reason = ""
    if value == "http/json":
        reason = (
            "OTLP/JSON over HTTP is in the OTLP specification, but OpenTelemetry Python has "
            "no exporter for it"
        )
    raise ConfigurationError(variable, value, ", ".join(PROTOCOLS), reason)


def protocol(signal: str) -> str:
    """The OTLP protocol of ``signal``: its own variable, else the general one, else grpc."""
    own = _checked_protocol(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
    return own or _checked_protocol("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"


def endpoint_configured(signal: str) -> bool:
    return bool(
        _env("OTEL_EXPORTER_OTLP_ENDPOINT") or _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    )


def exporter_names(signal: str) -> list[str]:
    """``OTEL_<SIGNAL>_EXPORTER``, checked against the installed exporters. Unset: ``otlp``
    if an endpoint is configured, else the OTLP/JSON file (no logs: the file holds traces and
    metrics)."""
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    raw = _env(variable)
    if not raw:
        if endpoint_configured(signal):
            return ["otlp"]
        return [] if signal == "logs" else [FILE_EXPORTER]
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if names == ["none"]:
        return []
    installed = _installed(signal)
    unknown = [n for n in names if n not in installed]
    if unknown:
        reason = (
            "'none' stands alone"
            if "none" in unknown
            else f"no {signal} exporter named {', '.join(map(repr, unknown))} is installed"
        )
        raise ConfigurationError(variable, raw, ", ".join(sorted({*installed, "none"})), reason)
    return names


def _installed(signal: str) -> set[str]:
    names = {ep.name for ep in entry_points(group=_GROUPS[signal])} | set(_OTLP) | {"console"}
    return names if signal == "logs" else names | {FILE_EXPORTER}


def _entry_point_class(signal: str, name: str) -> Any:
    return next(iter(entry_points(group=_GROUPS[signal], name=name))).load()


# --- building the providers -------------------------------------------------------------------
def _span_exporter(name: str, path: Path) -> tuple[str, SpanExporter]:
    if name in _OTLP:
        if (_OTLP[name] or protocol("traces")) == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return "otlp grpc", OTLPSpanExporter()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as OTLPHttpSpanExporter,
        )

        return "otlp http/protobuf", OTLPHttpSpanExporter()
    if name == FILE_EXPORTER:
        return name, OtlpJsonFileSpanExporter(path)
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return name, ConsoleSpanExporter()
    return name, _entry_point_class("traces", name)()


def _metric_reader(name: str, path: Path) -> tuple[str, MetricReader]:
    exporter: MetricExporter
    if name in _OTLP:
        wanted = _OTLP[name] or protocol("metrics")
        if wanted == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            exporter = OTLPMetricExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter as OTLPHttpMetricExporter,
            )

            exporter = OTLPHttpMetricExporter()
        label = f"otlp {wanted}"
        exporter = MetricsGuard(exporter, _metrics_endpoint(wanted))
    elif name == FILE_EXPORTER:
        label, exporter = name, OtlpJsonFileMetricExporter(path)
    elif name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        label, exporter = name, ConsoleMetricExporter()
    else:
        component = _entry_point_class("metrics", name)
        if issubclass(component, MetricReader):  # a pull exporter (prometheus)
            return name, component()
        label, exporter = name, component()
    return label, PeriodicExportingMetricReader(exporter)


def _metrics_endpoint(wanted: str) -> str:
    """Where the OTLP metric exporter sends, as its own variables resolve it."""
    own = _env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    if own:
        return own
    base = _env("OTEL_EXPORTER_OTLP_ENDPOINT")
    if wanted == "grpc":
        return base or "localhost:4317"
    return (base or "http://localhost:4318").rstrip("/") + "/v1/metrics"


def tracer_provider_from_env(
    *,
    service_name: str | None = None,
    file: str | os.PathLike[str] | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> tuple[TracerProvider, list[str]]:
    """A tracer provider as :func:`configure` builds it (not set globally), with the labels
    of its exporters. Export batches default to ``DEFAULT_EXPORT_BATCH`` spans
    (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` overrides): otelstream's spans carry payloads, and
    the SDK's 512 would overflow gRPC's 4 MiB message limit, losing the whole batch. Spans
    not exported are counted in ``otelstream.export.dropped`` on ``meter_provider`` (default:
    the global one)."""
    names = check_settings(["traces"])["traces"]
    path = Path(file) if file is not None else default_path()
    return _tracer_provider(names, path, _resource(service_name), meter_provider)


def _tracer_provider(
    names: list[str],
    path: Path,
    resource: Resource,
    meter_provider: metrics.MeterProvider | None,
) -> tuple[TracerProvider, list[str]]:
    exporters = [_span_exporter(n, path) for n in names]
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER
    batch = None if _env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else DEFAULT_EXPORT_BATCH
    drops = Drops(drop_counter(meter_provider))
    for _, exporter in exporters:
        processor = CountingBatchSpanProcessor(exporter, drops, max_export_batch_size=batch)
        provider.add_span_processor(processor)
    return provider, [label for label, _ in exporters]


def _meter_provider(
    names: list[str], path: Path, resource: Resource
) -> tuple[MeterProvider, list[str]]:
    readers = [_metric_reader(n, path) for n in names]
    provider = MeterProvider(resource=resource, metric_readers=[r for _, r in readers])
    return provider, [label for label, _ in readers]

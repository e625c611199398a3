"""Tracer and meter providers from the standard ``OTEL_*`` variables, for apps that set none.

A provider the app (or ``opentelemetry-instrument``) already set globally is used as it is,
never replaced. Otherwise the providers follow the environment: resource
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), sampler (``OTEL_TRACES_SAMPLER``),
exporters (``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER``: ``otlp``, ``console``,
``otelstream_file``, ``none``), OTLP endpoint, protocol (``grpc``, the Python default, or
``http/protobuf``), headers, timeout and compression, batching (``OTEL_BSP_*``) and the
metric export interval. With no exporter and no OTLP endpoint configured, telemetry goes to
an OTLP/JSON file (the embedded default) whose path is logged once.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    ConsoleSpanExporter,
    SpanExporter,
)

from otelstream.export.counting import CountingBatchSpanProcessor, Drops, drop_counter
from otelstream.export.otlp_file import (
    OtlpJsonFileMetricExporter,
    OtlpJsonFileSpanExporter,
    default_path,
)

_logger = logging.getLogger(__name__)

FILE_EXPORTER = "otelstream_file"
DEFAULT_EXPORT_BATCH = 32
_PROTOCOLS = ("grpc", "http/protobuf")


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
    The first call decides; later calls return what it did.
    """
    global _done
    with _lock:
        if _done is not None:
            return _done
        if _env("OTEL_SDK_DISABLED").lower() == "true":
            _done = Setup("disabled", "disabled")
            return _done
        path = Path(file) if file is not None else default_path()
        meters = _configure_metrics(service_name, path)  # first: the traces count drops in it
        traces = _configure_traces(service_name, path)
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


def _resource(service_name: str | None) -> Resource:
    named = _env("OTEL_SERVICE_NAME") or "service.name=" in _env("OTEL_RESOURCE_ATTRIBUTES")
    if service_name and not named:
        return Resource.create({"service.name": service_name})
    return Resource.create()


def _exporter_names(signal: str) -> list[str]:
    """``OTEL_<SIGNAL>_EXPORTER``; unset: ``otlp`` if an endpoint is configured, else the file."""
    raw = _env(f"OTEL_{signal.upper()}_EXPORTER")
    if not raw:
        endpoint = _env("OTEL_EXPORTER_OTLP_ENDPOINT") or _env(
            f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
        )
        return ["otlp"] if endpoint else [FILE_EXPORTER]
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    return [] if names == ["none"] else names


def _protocol(signal: str) -> str:
    protocol = _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or _env(
        "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = protocol or "grpc"
    if protocol not in _PROTOCOLS:
        raise ValueError(
            f"unsupported OTLP protocol {protocol!r} for {signal} (use grpc or http/protobuf)"
        )
    return protocol


def _span_exporter(name: str, path: Path) -> tuple[str, SpanExporter]:
    if name == "otlp":
        if _protocol("traces") == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return "otlp grpc", OTLPSpanExporter()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as OTLPHttpSpanExporter,
        )

        return "otlp http/protobuf", OTLPHttpSpanExporter()
    if name == "console":
        return name, ConsoleSpanExporter()
    if name == FILE_EXPORTER:
        return name, OtlpJsonFileSpanExporter(path)
    raise ValueError(f"unknown traces exporter {name!r} (otlp, console, {FILE_EXPORTER}, none)")


def _metric_exporter(name: str, path: Path) -> tuple[str, MetricExporter]:
    if name == "otlp":
        if _protocol("metrics") == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            return "otlp grpc", OTLPMetricExporter()
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as OTLPHttpMetricExporter,
        )

        return "otlp http/protobuf", OTLPHttpMetricExporter()
    if name == "console":
        return name, ConsoleMetricExporter()
    if name == FILE_EXPORTER:
        return name, OtlpJsonFileMetricExporter(path)
    raise ValueError(f"unknown metrics exporter {name!r} (otlp, console, {FILE_EXPORTER}, none)")


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
    path = Path(file) if file is not None else default_path()
    exporters = [_span_exporter(n, path) for n in _exporter_names("traces")]
    provider = TracerProvider(resource=_resource(service_name))  # sampler: OTEL_TRACES_SAMPLER
    batch = None if _env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else DEFAULT_EXPORT_BATCH
    drops = Drops(drop_counter(meter_provider))
    for _, exporter in exporters:
        processor = CountingBatchSpanProcessor(exporter, drops, max_export_batch_size=batch)
        provider.add_span_processor(processor)
    return provider, [label for label, _ in exporters]


def _configure_traces(service_name: str | None, path: Path) -> list[str] | str:
    if has_global_tracer_provider():
        return "existing"
    provider, labels = tracer_provider_from_env(service_name=service_name, file=path)
    trace.set_tracer_provider(provider)
    return labels


def _configure_metrics(service_name: str | None, path: Path) -> list[str] | str:
    if _has_global_meter_provider():
        return "existing"
    exporters = [_metric_exporter(n, path) for n in _exporter_names("metrics")]
    readers = [PeriodicExportingMetricReader(exporter) for _, exporter in exporters]
    resource = _resource(service_name)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    return [label for label, _ in exporters]

"""``opentelemetry-instrument`` with the defaults of ``otelstream.instrument()``.

``opentelemetry-instrument`` loads one ``opentelemetry_distro`` and one
``opentelemetry_configurator`` entry point: the first one found, unless
``OTEL_PYTHON_DISTRO`` / ``OTEL_PYTHON_CONFIGURATOR`` name one. otelstream registers both as
``otelstream`` (and does not depend on ``opentelemetry-distro``):

- :class:`OtelStreamDistro` leaves the environment as the user set it. (``opentelemetry-distro``
  defaults every exporter to ``otlp``, i.e. to ``localhost:4317``, where usually nothing
  listens: errors at every export and seconds of retries at exit.)
- :class:`OtelStreamConfigurator` builds the tracer and meter providers as ``configure()``
  does (the OTLP/JSON file when no exporter and no endpoint is configured, settings checked
  first, counted span drops, metrics stopped at an endpoint that rejects them), and the
  logger provider from ``OTEL_LOGS_EXPORTER`` with the SDK's own components. With
  ``OTEL_CONFIG_FILE`` (declarative configuration) it leaves everything to the SDK. A bad
  setting is one logged line, and the app runs without telemetry.

When another distribution's distro or configurator was used instead (``opentelemetry-distro``
installed as well), :func:`check_zero_code_setup`, an ``opentelemetry_post_instrument`` hook,
says so once and how to choose otelstream's.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import entry_points
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from otelstream.config import ConfigurationError
from otelstream.export.providers import configure_providers, exporter_names, protocol

_logger = logging.getLogger(__name__)

NAME = "otelstream"
_ran: set[str] = set()
"""``"distro"``/``"configurator"`` once otelstream's ran in this process."""


class OtelStreamDistro(BaseDistro):  # type: ignore[misc]
    """Leaves the exporters to the environment and otelstream's defaults (see the module)."""

    def _configure(self, **kwargs: Any) -> None:
        _ran.add("distro")


class OtelStreamConfigurator(_OTelSDKConfigurator):
    """The SDK set up as ``otelstream.configure()`` does (see the module)."""

    def _configure(self, **kwargs: Any) -> None:
        _ran.add("configurator")
        if os.environ.get("OTEL_CONFIG_FILE", "").strip():
            super()._configure(**kwargs)  # type: ignore[no-untyped-call]
            return
        version = kwargs.get("auto_instrumentation_version")
        attributes = {"telemetry.auto.version": version} if version else {}
        try:
            logs = _log_exporter_names()  # checked too before anything is set up
            setup = configure_providers(resource_attributes=attributes)
        except ConfigurationError as exc:
            _logger.error("otelstream: %s. OpenTelemetry is not set up: nothing is exported.", exc)
            return
        if logs and setup.traces != "disabled":
            _set_logger_provider(logs, attributes)


def _log_exporter_names() -> list[str]:
    """``OTEL_LOGS_EXPORTER`` as the SDK's entry point names (``otlp`` made explicit)."""
    names = exporter_names("logs")
    wanted = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
    return [wanted[protocol("logs")] if n == "otlp" else n for n in names]


def _set_logger_provider(names: list[str], attributes: dict[str, Any]) -> None:
    from opentelemetry.sdk._configuration import _import_exporters, _init_logging
    from opentelemetry.sdk.resources import Resource

    _, _, exporters = _import_exporters([], [], names)
    handler = os.environ.get("OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", "")
    _init_logging(exporters, Resource.create(attributes), handler.strip().lower() == "true")


def check_zero_code_setup() -> None:
    """After ``opentelemetry-instrument`` loaded everything: warn once if another distro or
    configurator than otelstream's was used without being asked for by name."""
    others = []
    for kind in ("distro", "configurator"):
        if kind in _ran or os.environ.get(f"OTEL_PYTHON_{kind.upper()}", "").strip():
            continue
        found = [
            f"{ep.dist.name if ep.dist else ep.value}'s {kind} {ep.name!r}"
            for ep in entry_points(group=f"opentelemetry_{kind}")
            if ep.name != NAME
        ]
        others.extend(found[:1])
    if others:
        _logger.warning(
            "otelstream: opentelemetry-instrument used %s, not otelstream's, so unset exporters "
            "do not default to otelstream's OTLP/JSON file. Uninstall opentelemetry-distro, or "
            "set OTEL_PYTHON_DISTRO=otelstream OTEL_PYTHON_CONFIGURATOR=otelstream.",
            " and ".join(others),
        )

"""Settings: ``instrument()`` options, falling back to ``OTELSTREAM_*`` environment variables.

One switch turns recorded content off for export (``capture_content`` /
``OTELSTREAM_CAPTURE_CONTENT``, else the OpenTelemetry GenAI instrumentations' standard
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``); one opts in to token capture for
calls the user did not stream (``capture_tokens`` / ``OTELSTREAM_CAPTURE_TOKENS``); one
adds OpenInference's attribute names for Phoenix and Arize (``openinference`` /
``OTELSTREAM_OPENINFERENCE``). Every string attribute is bounded by
``max_attribute_length`` (``OTELSTREAM_MAX_ATTRIBUTE_LENGTH``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

_logger = logging.getLogger(__name__)

Redactor = Callable[[str, str], str]
"""``redact(key, text) -> text``: scrubs a serialized payload before it is recorded.

``key`` names what the text is (``"input"``, ``"output"``, ``"chunk"``, ``"custom"``,
``"interrupt"``, ``"error"``, ``"metadata"``); ``text`` is its JSON form."""

_MINIMUMS = {"max_attribute_length": 64, "token_batch_size": 1, "max_stream_events": 1}
"""Smallest accepted values; a length limit must leave room for the truncation marker."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigurationError(ValueError):
    """A setting otelstream cannot use: names the variable (or option), the bad value and the
    accepted values, in one line. Raised before anything is set up."""

    def __init__(self, variable: str, value: str, accepted: str, reason: str = "") -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        because = f" ({reason})" if reason else ""
        super().__init__(f"{variable}={value!r} is not supported{because}; accepted: {accepted}")


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _logger.warning("otelstream: ignoring %s=%r (expected true or false)", name, raw)
    return default


GENAI_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# The values opentelemetry-util-genai reads (ContentCapturingMode): otelstream records content
# on spans only, so the modes that put it on spans turn capture on and the others off. The
# older GenAI instrumentations' true/false is accepted too.
_GENAI_CAPTURE_MODES = {
    "SPAN_ONLY": True,
    "SPAN_AND_EVENT": True,
    "EVENT_ONLY": False,
    "NO_CONTENT": False,
}


def _genai_capture(default: bool) -> bool:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` as a capture switch."""
    raw = os.environ.get(GENAI_CAPTURE_ENV)
    if raw is None or not raw.strip():
        return default
    value = raw.strip()
    if value.upper() in _GENAI_CAPTURE_MODES:
        return _GENAI_CAPTURE_MODES[value.upper()]
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    _logger.warning(
        "otelstream: ignoring %s=%r (expected one of %s, or true/false)",
        GENAI_CAPTURE_ENV,
        raw,
        ", ".join(_GENAI_CAPTURE_MODES),
    )
    return default


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        _logger.warning("otelstream: ignoring %s=%r (expected an integer)", name, raw)
        return default
    if value < minimum:
        _logger.warning("otelstream: %s=%d is below %d; using %d", name, value, minimum, minimum)
        return minimum
    return value


@dataclass(frozen=True)
class Settings:
    """What otelstream records. Built once per ``instrument()`` call."""

    capture_content: bool = True
    """Record inputs, outputs, tokens and custom payloads in spans."""
    capture_tokens: bool = False
    """Make chat models stream (as ``astream_events`` does) so every run records tokens."""
    max_attribute_length: int = 16_384
    """Longest string attribute, in characters; longer ones are cut and marked."""
    token_batch_size: int = 64
    """Stream chunks coalesced into one exported span event."""
    max_stream_events: int = 64
    """Most coalesced stream span events per span; the rest are counted, not exported."""
    redact: Redactor | None = None
    """Scrubs each serialized payload before it is recorded."""
    openinference: bool = False
    """Add OpenInference's attributes (span kinds, ``input.value``, ``llm.*_messages`` ...)."""

    @classmethod
    def from_env(cls, **options: Any) -> Settings:
        """Options given explicitly win over the environment; unknown options are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown otelstream option(s): {', '.join(sorted(unknown))}")
        base = cls(
            # otelstream's own variable first, then the GenAI instrumentations' standard one
            capture_content=_env_bool("OTELSTREAM_CAPTURE_CONTENT", _genai_capture(True)),
            capture_tokens=_env_bool("OTELSTREAM_CAPTURE_TOKENS", False),
            max_attribute_length=_env_int(
                "OTELSTREAM_MAX_ATTRIBUTE_LENGTH", 16_384, _MINIMUMS["max_attribute_length"]
            ),
            token_batch_size=_env_int("OTELSTREAM_TOKEN_BATCH_SIZE", 64, 1),
            max_stream_events=_env_int("OTELSTREAM_MAX_STREAM_EVENTS", 64, 1),
            openinference=_env_bool("OTELSTREAM_OPENINFERENCE", False),
        )
        given = {k: v for k, v in options.items() if v is not None}
        if "redact" in given and not callable(given["redact"]):
            raise TypeError(
                "otelstream option 'redact' must be callable: redact(key, text) -> text"
            )
        for name, minimum in _MINIMUMS.items():
            value = given.get(name)
            if value is not None and (not isinstance(value, int) or value < minimum):
                raise ValueError(f"otelstream option {name!r} must be an integer >= {minimum}")
        return cls(**{**base.__dict__, **given})

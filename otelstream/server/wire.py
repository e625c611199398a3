"""Stream items as the LangGraph Platform puts them on the wire, under the export content policy.

The Platform serializes every SSE ``data`` with orjson and a ``default`` that turns pydantic
models (LangChain messages) into their ``model_dump()`` dicts, exceptions into
``{"error", "message"}``, sets into lists and so on; otelstream writes the same JSON, so a
client reads the same from either (strict JSON: NaN and infinities as ``null``). It encodes
with the standard library's C encoder rather than orjson, which overflows the C stack on
deeply nested tuples (a user's state may hold them). Where the Platform writes ``null`` for an
object it does not know, otelstream writes its ``repr`` (nothing is lost silently), and a
payload the encoder cannot take at all (a cycle, keys of odd types) goes through otelstream's
never-raising serializer.

What leaves the process follows the same content policy as export: with
``capture_content=False`` payloads (inputs, outputs, chunks, state, custom data, interrupt
values, error messages) become ``"[redacted]"``; otherwise the ``redact(key, text)`` hook
sees each payload's JSON text first. Names, tags, metadata, ids and the stream's structure
are kept.
"""

from __future__ import annotations

import base64
import dataclasses
import decimal
import enum
import ipaddress
import json
import math
import re
import uuid
from collections import deque
from datetime import date, time, timedelta, timezone
from pathlib import PurePath
from typing import Any

from otelstream import serialization
from otelstream.config import Settings
from otelstream.errors import report_failure
from otelstream.semconv import REDACTED

EVENTS = "events"
DEBUG = "debug"
ERROR = "error"
METADATA = "metadata"
CUSTOM = "custom"
MESSAGES = "messages"
MESSAGES_TUPLE = "messages-tuple"
"""The Platform's name for LangGraph's ``messages`` mode; its SSE events are ``messages``."""
MODES = frozenset({EVENTS, DEBUG, "values", "updates", CUSTOM, MESSAGES_TUPLE})
"""Every run stream mode the server serves."""

_PAYLOAD_KEYS = {"values": "output", "updates": "output", "custom": "custom"}
_DEBUG_PAYLOAD = {
    "values": "output",
    "input": "input",
    "result": "output",
    "error": "error",
    "interrupts": "interrupt",
}
"""``debug`` payload fields that carry user data, and the redaction key of each."""


def _default(obj: Any) -> Any:
    """The Platform's ``default`` (``langgraph_api.serde``), with ``repr`` as the last resort."""
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump) and not isinstance(obj, type):
        return model_dump()
    as_dict = getattr(obj, "dict", None) or getattr(obj, "_asdict", None)
    if callable(as_dict) and not isinstance(obj, type):
        return as_dict()
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    if isinstance(obj, (date, time)):  # datetimes too: what orjson writes natively
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if callable(tolist) and not isinstance(obj, type):
        return tolist()
    if isinstance(obj, (set, frozenset, deque)):
        return list(obj)
    if isinstance(obj, timezone):
        return obj.tzname(None)
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj.as_tuple().exponent >= 0 else float(obj)  # type: ignore[operator]
    if isinstance(obj, (uuid.UUID, PurePath, ipaddress._BaseAddress, ipaddress._BaseNetwork)):
        return str(obj)
    if isinstance(obj, re.Pattern):
        return obj.pattern
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(obj).decode()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)}
    return serialization.safe_text(repr(obj))


_ENCODER = json.JSONEncoder(
    default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)


_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
"""A JSON ``\\u0000`` escape, not a literal backslash followed by ``u0000``."""


def _finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None, as orjson writes them (only for payloads
    that hold them: the encoder refuses them, so the common case pays nothing)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumpb(obj: Any) -> bytes:
    """One-line JSON bytes as the Platform writes them; never raises."""
    try:
        text = _ENCODER.encode(obj)
    except ValueError:  # NaN or an infinity (or a cycle: then the careful path below)
        try:
            text = _ENCODER.encode(_finite(obj))
        except Exception:
            text = serialization.dumps(obj)
    except Exception:  # keys of odd types, an integer out of range, a failing model_dump ...
        text = serialization.dumps(obj)
    if "\\u0000" in text:  # NULs dropped, as the Platform does; an escaped backslash kept
        text = _NUL.sub(r"\1", text)
    return text.encode("utf-8", "replace")


class WirePolicy:
    """Turns recorded items into ``(SSE event name, JSON data)`` under the content policy."""

    __slots__ = ("_capture", "_redact")

    def __init__(self, settings: Settings) -> None:
        self._capture = settings.capture_content
        self._redact = settings.redact

    @property
    def plain(self) -> bool:
        """Payloads leave as they are (content captured, no redaction hook)."""
        return self._capture and self._redact is None

    def payload(self, key: str, value: Any) -> Any:
        """A payload as it may leave the process: itself, redacted, or ``"[redacted]"``."""
        if not self._capture:
            return REDACTED
        if self._redact is None:
            return value
        text = dumpb(value).decode()
        try:
            text = str(self._redact(key, text))
        except Exception as exc:  # never send what the hook failed to scrub
            report_failure("redaction hook", exc)
            return REDACTED
        try:
            return json.loads(text)
        except ValueError:
            return text

    def item(self, mode: str, item: Any) -> tuple[str, bytes]:
        """A subscription item -> the SSE event name (``mode|namespace`` for subgraphs) and
        data. ``events`` items are never namespaced, as on the Platform."""
        if mode == EVENTS:
            return EVENTS, dumpb(item if self.plain else self._event(item))
        namespace, chunk = item
        name = "|".join((mode, *namespace)) if namespace else mode
        if self.plain:
            return name, dumpb(chunk)
        if mode == DEBUG:
            return name, dumpb(self._debug(chunk))
        if mode == MESSAGES:  # (message chunk, metadata)
            message, metadata = chunk
            return name, dumpb([self.payload("chunk", message), metadata])
        return name, dumpb(self.payload(_PAYLOAD_KEYS.get(mode, "output"), chunk))

    def error(self, error: BaseException) -> bytes:
        """The ``error`` event's data: ``{"error": class name, "message": ...}``; the hook
        sees the message's text, as for exported exception events."""
        message: str = serialization.safe_text(error)
        if not self._capture:
            message = REDACTED
        elif self._redact is not None:
            try:
                message = str(self._redact("error", message))
            except Exception as exc:
                report_failure("redaction hook", exc)
                message = REDACTED
        return dumpb({"error": type(error).__name__, "message": message})

    def _event(self, event: dict[str, Any]) -> dict[str, Any]:
        data = event.get("data")
        if isinstance(data, dict):
            data = {k: self.payload(k, v) for k, v in data.items()}
        return {**event, "data": data}

    def _debug(self, chunk: Any) -> Any:
        payload = chunk.get("payload") if isinstance(chunk, dict) else None
        if not isinstance(payload, dict):
            return chunk
        scrubbed = {
            k: self.payload(_DEBUG_PAYLOAD[k], v) if k in _DEBUG_PAYLOAD and v else v
            for k, v in payload.items()
        }
        if not self._capture and isinstance(scrubbed.get("tasks"), list):
            # a checkpoint's tasks carry interrupt values and task state
            scrubbed["tasks"] = [
                {"id": t.get("id"), "name": t.get("name")}
                for t in scrubbed["tasks"]
                if isinstance(t, dict)
            ]
        return {**chunk, "payload": scrubbed}

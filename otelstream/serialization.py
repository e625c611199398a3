"""Payloads to bounded JSON text, never raising.

Spans carry the serialized form of inputs, outputs and chunks. User state can be anything
(sets, bytes, pydantic models, cycles, objects whose ``repr`` raises), so the fast path is
``json.dumps`` with a ``default`` hook and the fallback is a guarded walk. The result is cut
to a length limit with a visible marker; truncation is reported to the caller.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
import uuid
from collections.abc import Mapping
from typing import Any

TRUNCATION_MARKER = "...[truncated {} chars]"
MAX_DEPTH = 64


def _to_jsonable(obj: Any) -> Any:
    """``default`` hook: one level of conversion for objects ``json`` does not know."""
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump) and not isinstance(obj, type):
        try:
            return model_dump()
        except Exception:  # a broken model still serializes as its repr
            return _safe_repr(obj)
    if isinstance(obj, (set, frozenset)):
        try:
            return sorted(obj)
        except TypeError:
            return list(obj)
    if isinstance(obj, bytes):
        try:
            return obj.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (uuid.UUID, datetime.timedelta)):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, BaseException):
        return {"type": type(obj).__name__, "message": _safe_str(obj)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)}
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        try:
            return tolist()
        except Exception:
            return _safe_repr(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (tuple, list)):
        return list(obj)
    return _safe_repr(obj)


def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception:
        return f"<unrepresentable {type(obj).__qualname__}>"


def _safe_str(obj: Any) -> str:
    try:
        return str(obj)
    except Exception:
        return _safe_repr(obj)


def safe_text(obj: Any) -> str:
    """``str(obj)`` that never raises and is always valid UTF-8 (lone surrogates replaced),
    for strings recorded as they are (names, tags, ids, error messages)."""
    if type(obj) is str and obj.isascii():  # nearly always: nothing to convert
        return obj
    text = _safe_str(obj)
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def _walk(obj: Any, depth: int, seen: set[int]) -> Any:
    """Slow path: convert recursively, breaking cycles and bounding depth."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if depth >= MAX_DEPTH:
        return "<max depth>"
    oid = id(obj)
    if oid in seen:
        return "<cycle>"
    seen.add(oid)
    try:
        if isinstance(obj, Mapping):
            return {_safe_str(k): _walk(v, depth + 1, seen) for k, v in list(obj.items())}
        if isinstance(obj, (list, tuple)):
            return [_walk(v, depth + 1, seen) for v in obj]
        converted = _to_jsonable(obj)
        if converted is obj or isinstance(converted, str):
            return converted if isinstance(converted, str) else _safe_repr(obj)
        return _walk(converted, depth + 1, seen)
    except Exception:
        return _safe_repr(obj)
    finally:
        seen.discard(oid)


# One encoder for every call: ``json.dumps`` with options builds a new one each time, which
# costs more than encoding the small dicts most spans carry. (orjson would be faster still,
# but it overflows the C stack on deeply nested tuples, which a user's state may hold.)
_ENCODER = json.JSONEncoder(default=_to_jsonable, ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Serialize anything to JSON text that encodes as UTF-8; never raises."""
    try:
        text = _ENCODER.encode(obj)
    except Exception:  # cycles, odd keys, a broken __iter__ or model_dump ...
        try:
            text = json.dumps(_walk(obj, 0, set()), ensure_ascii=False, separators=(",", ":"))
        except Exception:
            text = json.dumps(_safe_repr(obj))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates would make the exporter drop the batch
            text = json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":"))
    return text


def bound(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` characters, ending in a marker saying how much went."""
    if len(text) <= limit:
        return text, False
    # Size the marker for the most it could report, so the result never exceeds the limit.
    keep = max(0, limit - len(TRUNCATION_MARKER.format(len(text))))
    return text[:keep] + TRUNCATION_MARKER.format(len(text) - keep), True


def _cap_strings(obj: Any, cap: int) -> Any:
    """A JSON value with every string longer than ``cap`` cut, marked."""
    if isinstance(obj, str):
        return obj if len(obj) <= cap else obj[:cap] + TRUNCATION_MARKER.format(len(obj) - cap)
    if isinstance(obj, dict):
        return {k: _cap_strings(v, cap) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cap_strings(v, cap) for v in obj]
    return obj


def dumps_within(value: Any, limit: int) -> tuple[str, bool]:
    """JSON text of at most ``limit`` characters that stays valid JSON (for attributes a
    backend parses, such as GenAI messages): long strings inside are cut first, each with a
    marker; if that is not enough, the first items of a top-level list are left out (the
    latest messages are the ones kept). Returns the text and whether anything was cut."""
    text = dumps(value)
    if len(text) <= limit:
        return text, False
    data = json.loads(text)
    cap = max(16, limit // 2)
    while True:
        capped = _cap_strings(data, cap)
        text = dumps(capped)
        if len(text) <= limit or cap == 16:
            break
        cap = max(16, cap // 2)
    if isinstance(capped, list):
        while len(text) > limit and capped:
            capped = capped[max(1, len(capped) // 4) :]
            text = dumps(capped)
    if len(text) > limit:  # a single value too large even with every string cut
        text = dumps(TRUNCATION_MARKER.format(len(text)))
    return text, True

"""Hostile values (objects whose ``repr``/``str``/``tolist``/``model_dump`` raise, array-likes,
cycles, deep nesting) and what ``otelstream.serialization.dumps`` must make of any value.

``assert_serialized(value, parsed)`` states the serializer's documented output form (README:
"Payloads are serialized to JSON by a serializer that never raises"; "serializer depth 64")
from the input alone, without calling the serializer's own helpers, so that property tests
check more than "it parses".
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import itertools
import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from otelstream.serialization import bound

MAX_DEPTH = 64
"""Nesting levels serialized before ``"<max depth>"`` (README: "serializer depth")."""
CYCLE = "<cycle>"
TOO_DEEP = "<max depth>"
MARKER_RE = re.compile(r"\.\.\.\[truncated (\d+) chars\]$")
"""The end of a string attribute cut to ``max_attribute_length``."""


# --- hostile values ---------------------------------------------------------------------------
class Opaque:
    """A value whose ``repr`` and ``str`` both raise, and which compares only by identity."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class BrokenModel:
    """Looks like a pydantic model, but ``model_dump`` raises (and so does ``repr``)."""

    def model_dump(self) -> Any:
        raise ValueError("dump exploded")

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded too")


class BrokenGetattr:
    """Every attribute lookup that is not found normally raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} for you")


class SelfDumping:
    """``model_dump`` returns another instance of itself, forever."""

    def model_dump(self) -> Any:
        return {"again": SelfDumping()}


class BrokenMapping(dict):  # type: ignore[type-arg]
    """A dict whose ``items`` and ``__iter__`` raise."""

    def items(self) -> Any:
        raise RuntimeError("items exploded")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("iter exploded")


class ArrayLike:
    """Quacks like a numpy array: ``tolist``, elementwise ``==``, an ambiguous truth value,
    unhashable."""

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.dtype = "float64"

    def tolist(self) -> list[float]:
        return list(self.values)

    def __eq__(self, other: object) -> Any:  # elementwise, like numpy
        return ArrayLike([float(v == other) for v in self.values])

    def __ne__(self, other: object) -> Any:
        return ArrayLike([float(v != other) for v in self.values])

    def __bool__(self) -> bool:
        raise ValueError("The truth value of an array with more than one element is ambiguous")

    __hash__ = None  # type: ignore[assignment]


class BrokenArray(ArrayLike):
    """An array-like whose ``tolist`` and ``repr`` raise."""

    def tolist(self) -> list[float]:
        raise MemoryError("cannot convert")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class UnprintableError(Exception):
    """An exception whose ``str()`` raises (a broken ``__str__`` in a library's error type)."""

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def cyclic(value: Any = "loop") -> list[Any]:
    """A dict holding ``value`` and itself (directly and in a nested list), listed twice."""
    holder: dict[str, Any] = {"value": value}
    holder["me"] = holder
    holder["list"] = [holder, [holder]]
    return [holder, holder]


def deep(depth: int) -> Any:
    """``"bottom"`` inside ``depth`` levels of alternating one-key dicts and one-item lists."""
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


# --- what the serializer makes of a value ------------------------------------------------------
def assert_bounded(text: str, limit: int) -> tuple[str, bool]:
    """``bound(text, limit)`` as documented: at most ``limit`` characters; untouched unless
    longer, else a prefix of ``text`` ending in ``...[truncated N chars]``, N the characters
    cut. Returns what ``bound`` returned."""
    result, cut = bound(text, limit)
    assert len(result) <= limit
    assert cut == (len(text) > limit)
    if not cut:
        assert result == text
    else:
        match = MARKER_RE.search(result)
        assert match is not None, result[-60:]
        kept = result[: match.start()]
        assert text.startswith(kept)
        assert int(match.group(1)) == len(text) - len(kept)
    return result, cut


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a placeholder naming the type when ``repr`` raises."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__}>"


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


def _key_forms(key: Any) -> set[str]:
    """The JSON object keys ``key`` may become: its ``str()``; ``None`` and bools keep JSON's
    spelling (``"null"``, ``"true"``) when the whole payload is plain JSON, and become their
    ``str()`` when something else in it (a key JSON does not know, a cycle) is not."""
    if isinstance(key, str):
        return {key}
    forms = {_safe_str(key)}
    if key is None or isinstance(key, bool):
        forms.add({None: "null", True: "true", False: "false"}[key])
    return forms


def assert_serialized(value: Any, parsed: Any) -> None:
    """``parsed`` (``json.loads(dumps(value))``) is the documented JSON form of ``value``:

    - ``None``, bools, ints (any size), floats (NaN and infinities too) and strings (lone
      surrogates too) come back exactly, with their type;
    - lists and tuples become lists of the same length, item by item;
    - mappings keep every key (as a string, see ``_key_forms``), value by value; a mapping that
      cannot be read becomes its ``repr``;
    - sets become lists of the same size, sorted when their items can be ordered;
    - bytes become their UTF-8 text, or ``{"base64": ...}`` that decodes back to them;
    - datetimes, dates and times their ISO format, UUIDs and timedeltas their ``str``, enums
      their value, exceptions ``{"type", "message"}``, dataclasses a dict of their fields,
      objects with ``model_dump``/``tolist`` what those return (their ``repr`` if that raises);
    - anything else its ``repr``, or ``"<unrepresentable TYPE>"`` when ``repr`` raises;
    - an object met again inside itself is ``"<cycle>"``; ``"<max depth>"`` cuts nesting at
      ``MAX_DEPTH`` levels, where an object converted to a dict or list counts as two, so it
      never appears less than ``MAX_DEPTH // 2`` levels deep. Payloads JSON encodes as they
      are may nest deeper: beyond ``2 * MAX_DEPTH`` levels nothing is checked (an object whose
      ``model_dump`` returns a new such object forever ends where Python's recursion limit
      stops the encoder).
    """
    _check(value, parsed, (), "$")


def _check(value: Any, out: Any, ancestors: tuple[int, ...], where: str) -> None:
    if value is None or type(value) in (bool, int, str):
        assert type(out) is type(value) and out == value, f"{where}: {out!r} != {value!r}"
        return
    if type(value) is float:
        same = out == value or (math.isnan(value) and isinstance(out, float) and math.isnan(out))
        assert type(out) is float and same, f"{where}: {out!r} != {value!r}"
        return
    if len(ancestors) >= 2 * MAX_DEPTH or (out == TOO_DEEP and len(ancestors) >= MAX_DEPTH // 2):
        return  # cut, or past any depth limit (an object converting into itself forever)
    if id(value) in ancestors:
        assert out == CYCLE, f"{where}: a cycle gave {out!r}"
        return
    inner = (*ancestors, id(value))
    if isinstance(value, (list, tuple)):
        assert isinstance(out, list) and len(out) == len(value), f"{where}: {out!r}"
        for i, (item, got) in enumerate(zip(value, out, strict=True)):
            _check(item, got, inner, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        _check_mapping(value, out, inner, where)
        return
    if isinstance(value, (set, frozenset)):
        _check_set(value, out, inner, where)
        return
    _check_object(value, out, inner, where)


def _check_mapping(value: Mapping[Any, Any], out: Any, inner: tuple[int, ...], where: str) -> None:
    try:
        items = list(value.items())
    except Exception:  # its repr (JSON itself writes an empty one without reading it)
        if not (out == {} and len(value) == 0):
            _check_repr(value, out, where)
        return
    assert isinstance(out, dict), f"{where}: {out!r} is not an object"
    forms = [_key_forms(key) for key, _ in items]
    assert set(out) <= set().union(*forms), f"{where}: keys {set(out)} not from {forms}"
    for i, ((key, item), own) in enumerate(zip(items, forms, strict=True)):
        present = own & set(out)
        assert present, f"{where}: key {key!r} missing from {sorted(out)}"
        if any(own & other for j, other in enumerate(forms) if j != i):
            continue  # two keys with the same string form: one value wins
        assert len(present) == 1, f"{where}: key {key!r} twice: {present}"
        name = present.pop()
        _check(item, out[name], inner, f"{where}[{name!r}]")


def _check_set(value: Any, out: Any, inner: tuple[int, ...], where: str) -> None:
    assert isinstance(out, list) and len(out) == len(value), f"{where}: {out!r}"
    try:
        ordered = sorted(value)
    except TypeError:  # not orderable: any order
        items = list(value)
        assert any(
            _matches(items, list(got), inner, where) for got in itertools.permutations(out)
        ), f"{where}: {out!r} is not {items!r} in any order"
        return
    for i, (item, got) in enumerate(zip(ordered, out, strict=True)):
        _check(item, got, inner, f"{where}[{i}]")


def _matches(items: list[Any], out: list[Any], inner: tuple[int, ...], where: str) -> bool:
    try:
        for item, got in zip(items, out, strict=True):
            _check(item, got, inner, where)
    except AssertionError:
        return False
    return True


def _check_object(value: Any, out: Any, inner: tuple[int, ...], where: str) -> None:
    try:
        dump, tolist = getattr(value, "model_dump", None), getattr(value, "tolist", None)
    except Exception:  # an object that cannot be looked into
        _check_repr(value, out, where)
        return
    if callable(dump) and not isinstance(value, type):
        _check_converted(dump, value, out, inner, where)
    elif isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            assert isinstance(out, dict) and set(out) == {"base64"}, f"{where}: {out!r}"
            assert base64.b64decode(out["base64"], validate=True) == value, where
        else:
            assert out == text, f"{where}: {out!r} != {text!r}"
    elif isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        assert out == value.isoformat(), f"{where}: {out!r}"
    elif isinstance(value, (uuid.UUID, datetime.timedelta)):
        assert out == str(value), f"{where}: {out!r}"
    elif isinstance(value, enum.Enum):
        _check(value.value, out, inner, where)
    elif isinstance(value, BaseException):
        expected = {"type": type(value).__name__, "message": _safe_str(value)}
        assert out == expected, f"{where}: {out!r} != {expected!r}"
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value)]
        assert isinstance(out, dict) and list(out) == names, f"{where}: {out!r}"
        for name in names:
            _check(getattr(value, name), out[name], inner, f"{where}.{name}")
    elif callable(tolist):
        _check_converted(tolist, value, out, inner, where)
    else:
        _check_repr(value, out, where)


def _check_converted(
    convert: Callable[[], Any], value: Any, out: Any, inner: tuple[int, ...], where: str
) -> None:
    """``out`` is what ``convert()`` returns, serialized; ``value``'s repr if that raises."""
    try:
        converted = convert()
    except Exception:
        _check_repr(value, out, where)
        return
    _check(converted, out, inner, where)


def _check_repr(value: Any, out: Any, where: str) -> None:
    assert out == safe_repr(value), f"{where}: {out!r} != {safe_repr(value)!r}"

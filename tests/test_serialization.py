"""``otelstream.serialization``: anything to valid, bounded JSON text, never raising."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from typing import Any

import pytest
from hostile import (
    CYCLE,
    MARKER_RE,
    BrokenGetattr,
    BrokenModel,
    Opaque,
    assert_bounded,
    assert_serialized,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import BaseModel

from otelstream.serialization import MAX_DEPTH, TRUNCATION_MARKER, bound, dumps


def loads(text: str) -> Any:
    """Parse ``dumps`` output: it must be a str, valid JSON, and exportable as UTF-8."""
    assert isinstance(text, str)
    text.encode("utf-8")  # OTLP string attributes must be valid UTF-8
    return json.loads(text)


# --- simple types ------------------------------------------------------------------------------
def test_plain_json_round_trips() -> None:
    value = {"a": [1, 2.5, None, True, "x"], "b": {"c": "ünïcødé ✓"}}
    assert loads(dumps(value)) == value


def test_sets_become_sorted_lists() -> None:
    assert loads(dumps({3, 1, 2})) == [1, 2, 3]
    assert loads(dumps(frozenset({"b", "a"}))) == ["a", "b"]
    assert loads(dumps({"s": {2, 1}})) == {"s": [1, 2]}


def test_unsortable_set_still_serializes() -> None:
    result = loads(dumps({1, "a", None}))
    assert sorted(result, key=repr) == sorted([1, "a", None], key=repr)


def test_tuples_become_lists() -> None:
    assert loads(dumps((1, (2, 3)))) == [1, [2, 3]]


def test_valid_utf8_bytes_are_decoded() -> None:
    assert loads(dumps("héllo".encode())) == "héllo"
    assert loads(dumps({"raw": b"abc"})) == {"raw": "abc"}


def test_invalid_utf8_bytes_are_base64() -> None:
    data = b"\xff\xfe\x00binary"
    result = loads(dumps(data))
    assert result == {"base64": "//4AYmluYXJ5"}
    assert loads(dumps([data])) == [{"base64": "//4AYmluYXJ5"}]


def test_datetimes_are_isoformat() -> None:
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    value = {
        "dt": moment,
        "d": datetime.date(2024, 5, 6),
        "t": datetime.time(7, 8, 9),
        "delta": datetime.timedelta(seconds=90),
    }
    assert loads(dumps(value)) == {
        "dt": "2024-05-06T07:08:09.123456+00:00",
        "d": "2024-05-06",
        "t": "07:08:09",
        "delta": "0:01:30",
    }


def test_uuid_and_enum() -> None:
    class Color(enum.Enum):
        RED = "red"

    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert loads(dumps({"id": uid, "c": Color.RED})) == {"id": str(uid), "c": "red"}


@dataclasses.dataclass
class Point:
    x: int
    y: int
    tags: set[str] = dataclasses.field(default_factory=set)


def test_dataclasses_become_dicts() -> None:
    assert loads(dumps(Point(1, 2, {"b", "a"}))) == {"x": 1, "y": 2, "tags": ["a", "b"]}
    assert loads(dumps([Point(0, 0)])) == [{"x": 0, "y": 0, "tags": []}]


def test_dataclass_class_itself_is_not_a_dict() -> None:
    assert isinstance(loads(dumps(Point)), str)


class Inner(BaseModel):
    when: datetime.date
    blob: bytes


class Outer(BaseModel):
    name: str
    inner: Inner
    items: list[int]


def test_pydantic_models_are_dumped() -> None:
    model = Outer(name="n", inner=Inner(when=datetime.date(2020, 1, 2), blob=b"hi"), items=[1])
    assert loads(dumps({"m": model})) == {
        "m": {"name": "n", "inner": {"when": "2020-01-02", "blob": "hi"}, "items": [1]}
    }


def test_langchain_messages() -> None:
    messages = [
        HumanMessage("hello", id="h1"),
        AIMessage(
            "",
            id="a1",
            tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}],
        ),
        ToolMessage("3", tool_call_id="c1"),
    ]
    result = loads(dumps({"messages": messages}))
    dumped = result["messages"]
    assert [m["type"] for m in dumped] == ["human", "ai", "tool"]
    assert dumped[0]["content"] == "hello"
    assert dumped[1]["tool_calls"][0]["name"] == "add"
    assert dumped[1]["tool_calls"][0]["args"] == {"a": 1}
    assert dumped[2]["tool_call_id"] == "c1"


def test_object_whose_repr_raises() -> None:
    assert loads(dumps(Opaque())) == "<unrepresentable Opaque>"
    assert loads(dumps({"x": [Opaque()]})) == {"x": ["<unrepresentable Opaque>"]}


def test_broken_model_dump_and_repr() -> None:
    assert loads(dumps(BrokenModel())) == "<unrepresentable BrokenModel>"


def test_object_whose_getattr_raises() -> None:
    result = loads(dumps({"odd": BrokenGetattr()}))
    assert isinstance(result, dict)
    assert set(result) == {"odd"}


def test_plain_object_uses_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing 7>"

    assert loads(dumps({"t": Thing()})) == {"t": "<Thing 7>"}


def test_exceptions() -> None:
    assert loads(dumps(ValueError("bad value"))) == {"type": "ValueError", "message": "bad value"}


# --- cycles, depth, keys -----------------------------------------------------------------------
def test_cyclic_dict() -> None:
    d: dict[str, Any] = {"name": "root"}
    d["self"] = d
    assert loads(dumps(d)) == {"name": "root", "self": "<cycle>"}


def test_cyclic_list() -> None:
    items: list[Any] = [1]
    items.append(items)
    assert loads(dumps(items)) == [1, "<cycle>"]


def test_mutual_cycle_through_dataclass() -> None:
    @dataclasses.dataclass
    class Node:
        name: str
        other: Any = None

    a, b = Node("a"), Node("b")
    a.other, b.other = b, a
    assert loads(dumps(a)) == {"name": "a", "other": {"name": "b", "other": "<cycle>"}}


def test_shared_but_acyclic_reference_is_not_a_cycle() -> None:
    shared = {"v": 1}
    assert loads(dumps({"cyc": None, "a": shared, "b": shared, "c": [shared]})) == {
        "cyc": None,
        "a": {"v": 1},
        "b": {"v": 1},
        "c": [{"v": 1}],
    }


def test_cycle_with_shared_reference() -> None:
    shared = {"v": 1}
    d: dict[str, Any] = {"a": shared, "b": shared}
    d["loop"] = d
    assert loads(dumps(d)) == {"a": {"v": 1}, "b": {"v": 1}, "loop": "<cycle>"}


@pytest.mark.parametrize("kind", ["list", "dict", "tuple", "mixed"])
def test_very_deep_nesting_does_not_raise(kind: str) -> None:
    root: Any = "leaf"
    for i in range(10_000):
        if kind == "list":
            root = [root]
        elif kind == "dict":
            root = {"k": root}
        elif kind == "tuple":
            root = (root,)
        else:
            root = [root] if i % 2 else {"k": root}
    text = dumps(root)
    result = loads(text)
    depth = 0
    while isinstance(result, (list, dict)):
        result = result[0] if isinstance(result, list) else result["k"]
        depth += 1
    assert depth <= MAX_DEPTH
    assert result == "<max depth>"


def test_non_string_dict_keys() -> None:
    value = {1: "int", 2.5: "float", None: "none", False: "bool", (1, 2): "tuple", b"k": "bytes"}
    result = loads(dumps(value))
    assert isinstance(result, dict)
    assert len(result) == 6
    assert set(result.values()) == set(value.values())
    assert result["1"] == "int"


def test_non_string_keys_nested_in_sets_and_cycles() -> None:
    d: dict[Any, Any] = {frozenset({1}): {2, 3}}
    d[("me",)] = d
    result = loads(dumps(d))
    assert isinstance(result, dict)
    assert "<cycle>" in result.values()
    assert [2, 3] in result.values()


def test_lone_surrogates_give_utf8_encodable_json() -> None:
    # Strings decoded with errors="surrogateescape" carry lone surrogates; an OTLP exporter
    # must be able to encode every attribute as UTF-8 or the whole batch is lost.
    raw = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    for value in (raw, {"name": raw}, [raw, "ok"], {raw: 1}):
        text = dumps(value)
        text.encode("utf-8")  # UnicodeEncodeError: surrogates not allowed
        assert json.loads(text) == value


# --- bound -------------------------------------------------------------------------------------
def test_bound_short_text_untouched() -> None:
    assert bound("abc", 64) == ("abc", False)
    text = "x" * 64
    assert bound(text, 64) == (text, False)


@pytest.mark.parametrize("length", [65, 73, 100, 163, 1_000, 100_000, 1_000_000])
@pytest.mark.parametrize("limit", [64, 100, 1_000])
def test_bound_cuts_with_accurate_marker(length: int, limit: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(length))
    result, cut = bound(text, limit)
    if length <= limit:
        assert (result, cut) == (text, False)
        return
    assert cut is True
    assert len(result) <= limit
    match = MARKER_RE.search(result)
    assert match is not None, result
    kept = result[: match.start()]
    assert text.startswith(kept)
    assert int(match.group(1)) == length - len(kept)
    assert TRUNCATION_MARKER.format(length - len(kept)) == result[len(kept) :]


# --- properties --------------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
hashables = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
payloads = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=5)
        | st.dictionaries(hashables, children, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_dumps_never_raises_and_is_valid_json(value: Any) -> None:
    """Valid JSON, and the value's documented JSON form (``hostile.assert_serialized``): plain
    values exactly, containers item by item, sets sorted, bytes as text or base64."""
    assert_serialized(value, loads(dumps(value)))


@settings(max_examples=100, deadline=None)
@given(st.recursive(scalars, lambda c: st.lists(c, max_size=4), max_leaves=20))
def test_dumps_is_never_raising_on_cycles(value: Any) -> None:
    holder: list[Any] = [value]
    holder.append(holder)
    cyclic: dict[str, Any] = {"v": value, "h": holder}
    cyclic["me"] = cyclic
    result = loads(dumps(cyclic))
    assert result["me"] == CYCLE and result["h"][1] == CYCLE
    assert_serialized(cyclic, result)


@st.composite
def texts_and_limits(draw: Any) -> tuple[str, int]:
    """A limit >= 64 and a text whose length is often just around it (where digit counts of
    the truncation marker change), sometimes far beyond it."""
    limit = draw(st.integers(min_value=64, max_value=2_000))
    length = draw(
        st.integers(min_value=0, max_value=limit + 40)
        | st.integers(min_value=limit - 5, max_value=limit + 15)
        | st.integers(min_value=0, max_value=limit * 20)
    )
    seed = draw(st.text(min_size=1, max_size=16))
    return (seed * (length // len(seed) + 1))[:length], limit


@settings(max_examples=500, deadline=None)
@given(texts_and_limits())
def test_bound_never_exceeds_limit_and_marks_exactly_when_cut(case: tuple[str, int]) -> None:
    assert_bounded(*case)


@settings(max_examples=200, deadline=None)
@given(payloads, st.integers(min_value=64, max_value=300))
def test_dumps_then_bound(value: Any, limit: int) -> None:
    result, cut = assert_bounded(dumps(value), limit)
    if not cut:
        assert_serialized(value, loads(result))

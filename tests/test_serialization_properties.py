"""Property-based tests (issue 7): hostile payloads never break the serializer, a run, or the
export. Complements ``test_serialization.py`` (plain JSON-like payloads) with values JSON does
not know: objects whose ``repr``/``str``/``tolist``/``model_dump`` raise, array-likes, lone
surrogates, huge ints, NaN, cycles, exceptions, dataclasses and pydantic models."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import memory_provider
from graphs import sequence
from hostile import (
    MARKER_RE,
    MAX_DEPTH,
    ArrayLike,
    BrokenArray,
    BrokenGetattr,
    BrokenMapping,
    BrokenModel,
    Opaque,
    SelfDumping,
    assert_bounded,
    assert_serialized,
    cyclic,
    deep,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.config import get_stream_writer
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from typing_extensions import TypedDict

import otelstream
from otelstream.serialization import dumps

LIMIT = 256


# --- values JSON does not know -------------------------------------------------------------
class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclasses.dataclass
class Box:
    content: Any
    label: str = "box"


class Envelope(BaseModel):
    content: Any
    sent: datetime.datetime = datetime.datetime(2024, 1, 1)


surrogates = st.text(
    alphabet=st.characters(categories=["Cs"]) | st.characters(), min_size=1, max_size=12
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    surrogates,
    st.binary(max_size=20),
    st.datetimes(),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.decimals(allow_nan=True),
    st.sampled_from(Color),
    st.builds(Opaque),
    st.builds(ArrayLike, st.lists(st.floats(allow_nan=False), max_size=3)),
    st.builds(BrokenArray, st.just([1.0])),
    st.builds(BrokenModel),
    st.builds(SelfDumping),
    st.builds(BrokenGetattr),
    surrogates.map(ValueError),
    st.integers(min_value=0, max_value=3 * MAX_DEPTH).map(deep),
)
hashables = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=8),
    surrogates,
    st.binary(max_size=8),
    st.builds(Opaque),
    st.tuples(st.integers(), st.text(max_size=4)),
    st.frozensets(st.integers(), max_size=3),
)
hostile = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=3),
        st.sets(hashables, max_size=3),
        st.builds(Box, inner),
        st.builds(Envelope, content=inner),
        st.builds(BrokenMapping, st.dictionaries(st.text(max_size=4), inner, max_size=2)),
        inner.map(cyclic),
    ),
    max_leaves=20,
)


def parse(text: str) -> Any:
    """``dumps`` output: a str that encodes as UTF-8 and parses as (Python's) JSON."""
    assert isinstance(text, str)
    text.encode("utf-8")
    return json.loads(text)


# --- the serializer ---------------------------------------------------------------------------
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_dumps_never_raises_and_is_utf8_json(value: Any) -> None:
    """Whatever the value, ``dumps`` returns UTF-8 JSON text, and that text is the value's
    documented JSON form (see ``hostile.assert_serialized``)."""
    assert_serialized(value, parse(dumps(value)))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile, st.integers(min_value=64, max_value=4_000))
def test_bounded_dumps_is_within_limit_and_marked(value: Any, limit: int) -> None:
    result, cut = assert_bounded(dumps(value), limit)
    if cut:
        result.encode("utf-8")
    else:
        parse(result)


# --- through a real run -----------------------------------------------------------------------
class Carrier(TypedDict):
    value: Any
    out: Any


def carry(s: Carrier) -> dict[str, Any]:
    get_stream_writer()({"carried": s["value"]})
    return {"out": s["value"]}


@pytest.fixture(scope="module")
def pipeline() -> Iterator[tuple[Any, InMemorySpanExporter]]:
    """A carrier graph, instrumented with a small attribute limit for the whole module."""
    otelstream.uninstrument()
    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider, max_attribute_length=LIMIT)
    try:
        yield sequence(Carrier, carry), memory
    finally:
        otelstream.uninstrument()


CONTENT_KEYS = {"langchain.run.input": "input", "langchain.run.output": "output"}


@pytest.mark.timeout(120)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(hostile)
def test_any_state_value_runs_unchanged_and_exports(
    pipeline: tuple[Any, InMemorySpanExporter], value: Any
) -> None:
    """Whatever the state holds, the run hands it back untouched, and every exported span is
    OTLP-encodable with each content attribute within the limit (cut ones marked)."""
    graph, memory = pipeline
    memory.clear()
    result = graph.invoke({"value": value, "out": None})
    assert result["value"] is value and result["out"] is value
    spans = memory.get_finished_spans()
    assert sorted(s.name for s in spans) == ["invoke_workflow LangGraph", "node carry"]
    for span in spans:
        attrs = span.attributes or {}
        for key, what in CONTENT_KEYS.items():
            text = attrs[key]
            assert isinstance(text, str) and len(text) <= LIMIT
            text.encode("utf-8")
            if MARKER_RE.search(text):
                assert what in (attrs.get("otelstream.truncated") or ()), (span.name, key)
        for event in span.events:
            for item in (event.attributes or {}).values():
                if isinstance(item, str):
                    assert len(item) <= LIMIT
                    item.encode("utf-8")
    encode_spans(spans).SerializeToString()


def test_decimal_and_enum_have_a_stable_form() -> None:
    """Sanity for the strategies above: these leaves do have a JSON form."""
    assert parse(dumps(decimal.Decimal("1.5"))) == "Decimal('1.5')"
    assert parse(dumps({"c": Color.BLUE})) == {"c": 2}

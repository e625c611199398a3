"""Property-based tests: hostile messages, content blocks, tool results and token streams
never break the GenAI conversion, the compact token form or a run, and what is exported is
valid, bounded JSON.

The hostile values are ``test_serialization_properties``'s (objects whose ``repr`` raises,
array-likes, lone surrogates, bytes, cycles, huge ints ...), placed where LangChain messages
and content blocks are expected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from graphs import FakeChatModel, answer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_serialization_properties import hostile, surrogates

import otelstream
from otelstream.config import Settings
from otelstream.serialization import TRUNCATION_MARKER, dumps
from otelstream.spans import genai_context, tokens
from otelstream.spans import genai_messages as genai
from otelstream.spans.content import Content, Marks

LIMIT = 512
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

block_types = st.sampled_from(
    [
        "text",
        "image",
        "image_url",
        "audio",
        "file",
        "reasoning",
        "thinking",
        "tool_use",
        "tool_result",
        "input_audio",
        "document",
        "blob",
        "citation",
        "",
    ]
)
blocks = st.one_of(
    hostile,
    st.text(max_size=30),
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "text",
                "url",
                "base64",
                "data",
                "source",
                "source_type",
                "mime_type",
                "image_url",
                "id",
                "file_id",
                "name",
                "input",
                "summary",
            ]
        ),
        hostile | block_types,
        max_size=5,
    ),
    st.builds(lambda t, v: {"type": t, "text": v, "url": v, "data": v}, block_types, hostile),
)
contents = st.one_of(hostile, st.text(max_size=200), st.lists(blocks, max_size=5))


def _message(kind: str, content: Any, extra: Any) -> Any:
    """A LangChain message holding anything (``model_construct`` skips validation, as a
    message built by code that bypasses pydantic would)."""
    if kind == "ai":
        return AIMessage.model_construct(content=content, tool_calls=extra, type="ai")
    if kind == "tool":
        return ToolMessage.model_construct(content=content, tool_call_id=extra, type="tool")
    return HumanMessage.model_construct(content=content, type="human", name=extra)


message_like = st.one_of(
    hostile,
    st.builds(_message, st.sampled_from(["ai", "tool", "human"]), contents, hostile),
    st.dictionaries(
        st.sampled_from(["role", "type", "content", "tool_calls"]), hostile, max_size=4
    ),
    st.tuples(hostile, contents),
)
messages = st.lists(message_like, max_size=6)


def check_messages(converted: Any) -> None:
    """The shape the conventions require: role strings, lists of typed parts."""
    assert isinstance(converted, list)
    for message in converted:
        assert isinstance(message["role"], str)
        assert isinstance(message["parts"], list)
        for part in message["parts"]:
            assert isinstance(part["type"], str) and part["type"]


def check_json(text: str, limit: int) -> Any:
    assert isinstance(text, str) and len(text) <= limit
    text.encode("utf-8")
    return json.loads(text)


@SETTINGS
@given(messages)
def test_any_message_list_converts_to_bounded_valid_json(items: Any) -> None:
    converted = genai.messages(items)
    check_messages(converted)
    marks = Marks()
    content = Content(Settings(max_attribute_length=LIMIT))
    text = content.json_payload(marks, "input", converted)
    loaded = check_json(text, LIMIT)
    if len(dumps(converted)) > LIMIT:
        assert marks.truncated == ["input"]
        if isinstance(loaded, list):
            check_messages(loaded)
    else:
        assert marks.truncated == [] and loaded == json.loads(dumps(converted))


@SETTINGS
@given(message_like)
def test_any_answer_and_any_state_convert(value: Any) -> None:
    for converted in (genai.output_message(value), *genai.last_answer({"messages": [value]})):
        if converted is not None:
            check_messages([converted])
            assert isinstance(converted["finish_reason"], str)
    genai_context.documents([value, value])
    genai_context.tool_definitions({"tools": [value]})


chunk_texts = st.one_of(st.text(max_size=8), surrogates)
tool_chunks = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.one_of(st.none(), st.text(max_size=5)),
            "args": st.one_of(st.none(), st.text(max_size=10)),
            "id": st.one_of(st.none(), st.text(max_size=5)),
            "index": st.one_of(st.none(), st.integers(0, 3)),
        }
    ),
    max_size=2,
)
chunks = st.lists(
    st.builds(
        lambda text, calls, last, blocks_: AIMessageChunk(
            content=[{"type": "text", "text": text, "index": 0}] if blocks_ else text,
            tool_call_chunks=calls,
            id="run-1",
            **(
                {
                    "usage_metadata": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
                    "response_metadata": {"finish_reason": "stop"},
                }
                if last
                else {}
            ),
        ),
        chunk_texts,
        tool_chunks,
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=20,
)


@SETTINGS
@given(chunks)
def test_compact_chunks_decode_to_exactly_the_chunks(batch: list[Any]) -> None:
    """Replay's decoding gives every chunk's JSON form back, whatever the chunks hold."""
    encoded = tokens.encode(batch)
    if encoded is None:  # only lone surrogates in the text keep the plain JSON list
        text = "".join(c.content for c in batch if isinstance(c.content, str))
        with pytest.raises(UnicodeEncodeError):
            text.encode("utf-8")
        return
    text, lengths, shared, deltas = encoded
    check_json(shared, 10_000)
    decoded = tokens.decode(
        text, lengths, json.loads(shared), json.loads(deltas) if deltas else None
    )
    assert decoded == json.loads(dumps(batch))


@SETTINGS
@given(chunks, st.integers(min_value=0, max_value=50))
def test_cut_or_redacted_compact_chunks_are_not_decoded(batch: list[Any], keep: int) -> None:
    """Text cut by the length limit, or per-chunk differences that are no longer JSON, give
    no chunks (replay then says so) rather than wrongly sliced ones."""
    encoded = tokens.encode(batch)
    if encoded is None:
        return
    text, lengths, shared, deltas = encoded
    shared_value = json.loads(shared)
    if keep < len(text):
        cut = text[:keep] + TRUNCATION_MARKER.format(len(text) - keep)
        assert tokens.decode(cut, lengths, shared_value, None) is None
    if deltas:
        assert tokens.decode(text, lengths, shared_value, deltas[: len(deltas) // 2]) is None


# --- through real runs -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def memory() -> Iterator[InMemorySpanExporter]:
    otelstream.uninstrument()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otelstream.instrument(tracer_provider=provider, max_attribute_length=LIMIT)
    try:
        yield exporter
    finally:
        otelstream.uninstrument()


JSON_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)

valid_blocks = st.lists(
    st.one_of(
        st.text(max_size=50) | surrogates,
        st.dictionaries(
            st.sampled_from(["type", "text", "url", "data", "x"]),
            st.text(max_size=40) | surrogates | block_types,
            max_size=4,
        ),
    ),
    max_size=4,
)


@pytest.mark.timeout(120)
@SETTINGS
@given(st.one_of(st.text(max_size=3_000) | surrogates, valid_blocks), st.integers(0, 5_000))
def test_a_chat_model_with_any_content_exports_valid_messages(
    memory: InMemorySpanExporter, content: Any, repeat: int
) -> None:
    """Any content LangChain accepts (odd blocks, lone surrogates, huge text) reaches the
    model unchanged, and the chat span's GenAI attributes are valid JSON within the limit."""
    memory.clear()
    prompt = [HumanMessage(content=content), HumanMessage("z" * repeat)]
    assert FakeChatModel(responses=[answer("ok")]).invoke(prompt).content == "ok"
    (chat,) = memory.get_finished_spans()
    attrs = dict(chat.attributes or {})
    for key in JSON_KEYS:
        if key in attrs:
            loaded = check_json(attrs[key], LIMIT)
            if key.endswith("messages") and isinstance(loaded, list):
                check_messages(loaded)
    assert "gen_ai.input.messages" in attrs and "gen_ai.output.messages" in attrs
    encode_spans([chat]).SerializeToString()


@tool
def echo(value: str) -> Any:
    """Return what the test put in the box."""
    return BOX[0]


BOX: list[Any] = [None]


@pytest.mark.timeout(120)
@SETTINGS
@given(hostile)
def test_tools_returning_anything_export_a_bounded_result(
    memory: InMemorySpanExporter, value: Any
) -> None:
    memory.clear()
    BOX[0] = value
    assert echo.invoke({"value": "v"}) is value
    (span,) = memory.get_finished_spans()
    result = dict(span.attributes or {})["gen_ai.tool.call.result"]
    assert isinstance(result, str) and len(result) <= LIMIT
    result.encode("utf-8")
    encode_spans([span]).SerializeToString()

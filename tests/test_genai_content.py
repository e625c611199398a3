"""GenAI content attributes, their content switch, and the OpenInference flavour, on real
graphs and real langchain-core messages of whichever version is installed (0.3 or 1.x).

What a real backend makes of them is in ``test_phoenix_content.py``; hostile input is in
``test_genai_properties.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import by_name, one
from graphs import CASES, CORPUS, Case, FakeChatModel, answer
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from phoenix_content import agent_graph, agent_input
from test_parity import compare_debug, compare_events
from test_replay import Recorder, as_json, without_message_ids

import otelstream
from otelstream.config import Settings
from otelstream.spans import genai_messages as genai
from otelstream.streams.replay import replay

PNG = "iVBORw0KGgo="  # base64 of a PNG signature


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


# --- the conversion ---------------------------------------------------------------------------
def test_messages_of_every_role_become_the_conventions_schema() -> None:
    converted = genai.messages(
        [
            SystemMessage("be brief"),
            HumanMessage("hi", name="ann"),
            AIMessage(
                "",
                tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1"}],
                invalid_tool_calls=[{"name": "add", "args": "{oops", "id": "c2", "error": "bad"}],
            ),
            ToolMessage("2", tool_call_id="c1"),
            ToolMessage([{"type": "text", "text": "listed"}], tool_call_id="c2"),
            ChatMessage(role="critic", content="meh"),
            {"role": "user", "content": "as a dict"},
            ("assistant", "as a pair"),
            "as a string",
        ]
    )
    assert converted == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}], "name": "ann"},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 1}},
                {"type": "tool_call", "id": "c2", "name": "add", "arguments": "{oops"},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "2"}]},
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "c2",
                    "response": [{"type": "text", "text": "listed"}],
                }
            ],
        },
        {"role": "critic", "parts": [{"type": "text", "content": "meh"}]},
        {"role": "user", "parts": [{"type": "text", "content": "as a dict"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "as a pair"}]},
        {"role": "user", "parts": [{"type": "text", "content": "as a string"}]},
    ]
    instructions, rest = genai.split_system(converted)
    assert instructions == [{"type": "text", "content": "be brief"}]
    assert rest == converted[1:]


@pytest.mark.parametrize(
    ("block", "part"),
    [
        # langchain-core 1.x standard blocks
        (
            {"type": "image", "base64": PNG, "mime_type": "image/png"},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": PNG},
        ),
        (
            {"type": "image", "url": "https://x.test/a.png"},
            {"type": "uri", "modality": "image", "mime_type": None, "uri": "https://x.test/a.png"},
        ),
        (
            {"type": "file", "file_id": "file-1", "mime_type": "application/pdf"},
            {
                "type": "file",
                "modality": "document",
                "mime_type": "application/pdf",
                "file_id": "file-1",
            },
        ),
        (
            {"type": "audio", "base64": PNG, "mime_type": "audio/wav"},
            {"type": "blob", "modality": "audio", "mime_type": "audio/wav", "content": PNG},
        ),
        ({"type": "reasoning", "reasoning": "hmm"}, {"type": "reasoning", "content": "hmm"}),
        # langchain-core 0.3 standard blocks
        (
            {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": PNG},
        ),
        (
            {"type": "image", "source_type": "url", "url": "https://x.test/b.png"},
            {"type": "uri", "modality": "image", "mime_type": None, "uri": "https://x.test/b.png"},
        ),
        (
            {"type": "file", "source_type": "id", "id": "file-2"},
            {"type": "file", "modality": "document", "mime_type": None, "file_id": "file-2"},
        ),
        # provider formats
        (
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}},
            {"type": "blob", "modality": "image", "mime_type": "image/jpeg", "content": PNG},
        ),
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": PNG}},
            {"type": "blob", "modality": "image", "mime_type": "image/gif", "content": PNG},
        ),
        (
            {"type": "input_audio", "input_audio": {"data": PNG, "format": "mp3"}},
            {"type": "blob", "modality": "audio", "mime_type": "audio/mp3", "content": PNG},
        ),
        ({"type": "thinking", "thinking": "deep"}, {"type": "reasoning", "content": "deep"}),
        ({"type": "text", "text": "plain"}, {"type": "text", "content": "plain"}),
        # what the schema has no type for keeps its own kind and its value
        (
            {"type": "citation", "cited": "doc 1"},
            {"type": "citation", "content": {"type": "citation", "cited": "doc 1"}},
        ),
        ({"no_type": 1}, {"type": "unknown", "content": {"no_type": 1}}),
        (
            {"type": "blob", "junk": True},
            {"type": "unknown", "content": {"type": "blob", "junk": True}},
        ),
    ],
)
def test_content_blocks_of_both_core_versions_and_the_providers(block: Any, part: Any) -> None:
    message = HumanMessage(content=["see:", block])
    (converted,) = genai.messages([message])
    assert converted["parts"] == [{"type": "text", "content": "see:"}, part]


def test_an_answer_with_tool_use_blocks_lists_each_call_once() -> None:
    message = AIMessage(
        content=[
            {"type": "text", "text": "let me add"},
            {"type": "tool_use", "id": "c1", "name": "add", "input": {"a": 1}},
        ],
        tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1"}],
        response_metadata={"stop_reason": "tool_use"},
    )
    assert genai.output_message(message) == {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "let me add"},
            {"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 1}},
        ],
        "finish_reason": "tool_call",
    }


def test_things_that_are_not_messages_say_what_they_are() -> None:
    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    assert genai.messages([Odd(), 42]) == [
        {"role": "unknown", "parts": [{"type": "Odd", "content": "<odd>"}]},
        {"role": "unknown", "parts": [{"type": "int", "content": "42"}]},
    ]


# --- on the spans ------------------------------------------------------------------------------
def _agent_spans(exporter: InMemorySpanExporter) -> list[Any]:
    agent_graph().invoke(agent_input(), {"configurable": {"thread_id": "content"}})
    return list(exporter.get_finished_spans())


def test_chat_spans_carry_the_conversation(exporter: InMemorySpanExporter) -> None:
    spans = _agent_spans(exporter)
    first, second = sorted(by_name(spans, "chat fake-model-1"), key=lambda s: s.start_time or 0)
    a = attrs(second)
    assert json.loads(a["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "You are a calculator. Use the add tool."}
    ]
    assert [m["role"] for m in json.loads(a["gen_ai.input.messages"])] == [
        "user",
        "assistant",
        "tool",
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "1 + 2 = 3"}],
            "finish_reason": "stop",
        }
    ]
    (definition,) = json.loads(a["gen_ai.tool.definitions"])
    assert definition["type"] == "function" and definition["name"] == "add"
    assert definition["description"] == "Add two integers."
    assert definition["parameters"]["required"] == ["a", "b"]
    assert "gen_ai.output.type" not in a  # the request asked for no particular type
    # the exact LangChain JSON stays, for replay
    assert json.loads(a["langchain.run.input"])["messages"][0][0]["type"] == "system"
    agent = attrs(one(spans, "invoke_agent calculator"))
    assert [m["role"] for m in json.loads(agent["gen_ai.input.messages"])] == ["user"]
    (answer_,) = json.loads(agent["gen_ai.output.messages"])
    assert answer_["parts"] == [{"type": "text", "content": "1 + 2 = 3"}]
    assert "gen_ai.input.messages" not in attrs(one(spans, "node tools"))
    assert [m["role"] for m in json.loads(attrs(first)["gen_ai.input.messages"])] == ["user"]


def test_structured_output_requests_record_the_output_type(exporter: InMemorySpanExporter) -> None:
    model = FakeChatModel(responses=[answer("{}")])
    model.bind(response_format={"type": "json_object"}).invoke("json please")
    (chat,) = exporter.get_finished_spans()
    assert attrs(chat)["gen_ai.output.type"] == "json"


def test_capture_off_records_no_messages(instrument_with: Any) -> None:
    exporter = instrument_with(capture_content=False)
    spans = _agent_spans(exporter)
    for span in spans:
        keys = set(attrs(span))
        assert not keys & {
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
            "gen_ai.tool.definitions",
        }, span.name
    tool = attrs(one(spans, "execute_tool add"))
    assert tool["gen_ai.tool.call.arguments"] == tool["gen_ai.tool.call.result"] == "[redacted]"


def test_no_content_from_the_standard_variable_exports_no_text(
    monkeypatch: pytest.MonkeyPatch, instrument_with: Any
) -> None:
    monkeypatch.delenv("OTELSTREAM_CAPTURE_CONTENT", raising=False)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    spans = _agent_spans(instrument_with(capture_tokens=True))
    exported = [
        value
        for span in spans
        for values in [span.attributes or {}, *(e.attributes or {} for e in span.events)]
        for value in values.values()
    ]
    texts = [v for v in exported if isinstance(v, str)]
    for secret in ("What is 1 + 2?", "You are a calculator", "1 + 2 = 3"):
        assert not any(secret in text for text in texts), secret
    assert "[redacted]" in texts


@pytest.mark.parametrize(
    ("genai_value", "otelstream_value", "captured"),
    [
        ("NO_CONTENT", None, False),
        ("EVENT_ONLY", None, False),
        ("span_only", None, True),
        ("SPAN_AND_EVENT", None, True),
        ("false", None, False),
        ("true", None, True),
        ("NO_CONTENT", "true", True),  # otelstream's own variable wins
        ("SPAN_ONLY", "false", False),
        ("bogus", None, True),  # ignored, with a warning: the default stays
    ],
)
def test_the_standard_genai_capture_variable(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    genai_value: str,
    otelstream_value: str | None,
    captured: bool,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", genai_value)
    if otelstream_value is None:
        monkeypatch.delenv("OTELSTREAM_CAPTURE_CONTENT", raising=False)
    else:
        monkeypatch.setenv("OTELSTREAM_CAPTURE_CONTENT", otelstream_value)
    with caplog.at_level(logging.WARNING, "otelstream.config"):
        assert Settings.from_env().capture_content is captured
        assert Settings.from_env(capture_content=not captured).capture_content is not captured
    assert ("bogus" in caplog.text) == (genai_value == "bogus")


def test_messages_cut_by_the_length_limit_stay_valid_json(instrument_with: Any) -> None:
    exporter = instrument_with(max_attribute_length=300)
    model = FakeChatModel(responses=[answer("ok")])
    model.invoke([HumanMessage("x" * 5_000), AIMessage("y" * 5_000), HumanMessage("last")])
    (chat,) = exporter.get_finished_spans()
    a = attrs(chat)
    text = a["gen_ai.input.messages"]
    assert len(text) <= 300
    messages = json.loads(text)
    assert messages[-1] == {"role": "user", "parts": [{"type": "text", "content": "last"}]}
    assert "input" in a["otelstream.truncated"]


# --- the OpenInference flavour -----------------------------------------------------------------
def test_openinference_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, instrument_with: Any
) -> None:
    monkeypatch.setenv("OTELSTREAM_OPENINFERENCE", "true")
    exporter = instrument_with()
    spans = _agent_spans(exporter)
    kinds = {s.name: attrs(s)["openinference.span.kind"] for s in spans}
    assert kinds == {
        "invoke_workflow LangGraph": "CHAIN",
        "node calculator": "CHAIN",
        "invoke_agent calculator": "AGENT",
        "node model": "CHAIN",
        "chat fake-model-1": "LLM",
        "route": "CHAIN",
        "node tools": "CHAIN",
        "execute_tool add": "TOOL",
    }
    for span in spans:  # each payload once: OpenInference's names replace the others
        a = attrs(span)
        assert not set(a) & {
            "langchain.run.input",
            "langchain.run.output",
            "langchain.run.metadata",
        }
        assert a["input.mime_type"] == "application/json" and "output.value" in a
        assert a["session.id"] == "content"
        assert json.loads(a["metadata"])["thread_id"] == "content"
    chat = attrs(sorted(by_name(spans, "chat fake-model-1"), key=lambda s: s.start_time or 0)[1])
    assert not set(chat) & {"gen_ai.input.messages", "gen_ai.output.messages"}
    assert [chat[f"llm.input_messages.{i}.message.role"] for i in range(4)] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]
    assert chat["llm.input_messages.2.message.tool_calls.0.tool_call.function.name"] == "add"
    assert chat["llm.input_messages.3.message.tool_call_id"] == "call_1"
    assert chat["llm.output_messages.0.message.content"] == "1 + 2 = 3"
    assert json.loads(chat["llm.tools.0.tool.json_schema"])["function"]["name"] == "add"
    assert (
        chat["llm.token_count.total"]
        == chat["llm.token_count.prompt"] + chat["llm.token_count.completion"]
    )
    tool = attrs(one(spans, "execute_tool add"))
    assert tool["tool.name"] == "add" and json.loads(tool["input.value"]) == {"a": 1, "b": 2}
    assert "gen_ai.tool.call.arguments" not in tool
    # OpenInference's tool.parameters: the schema of the tool the model was offered
    assert json.loads(tool["tool.parameters"])["required"] == ["a", "b"]


def test_openinference_keeps_long_conversations_within_the_attribute_count(
    instrument_with: Any,
) -> None:
    exporter = instrument_with(openinference=True)
    FakeChatModel(responses=[answer("ok")]).invoke([HumanMessage(f"m{i}") for i in range(200)])
    (chat,) = exporter.get_finished_spans()
    a = attrs(chat)
    kept = [k for k in a if k.startswith("llm.input_messages.")]
    assert 0 < len(kept) <= 80
    assert a[f"llm.input_messages.{len(kept) // 2 - 1}.message.content"] == "m199"  # newest kept
    assert "input" in a["otelstream.truncated"]
    assert len(a) <= 128  # the SDK's default attribute count limit: nothing dropped silently


# --- replay reads the payloads wherever they are -----------------------------------------------
REPLAYED = [
    c for c in CORPUS if c.name in ("agent", "tool_error", "chain", "retriever", "subgraph")
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", REPLAYED, ids=[c.name for c in REPLAYED])
def test_replay_with_the_openinference_flavour(case: Case, tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "oi.jsonl", openinference=True)
    try:
        events, debug = recorder.live(case, f"oi-{case.name}")
    finally:
        otelstream.uninstrument()
        recorder.provider.shutdown()
    compare_events(
        case,
        without_message_ids(as_json(events)),
        without_message_ids(replay(recorder.path)),
        f"{case.name}: replayed events (openinference)",
    )
    compare_debug(case, as_json(debug), replay(recorder.path, stream_mode="debug"), case.name)


def test_tool_results_that_are_not_messages(exporter: InMemorySpanExporter) -> None:
    from graphs import add

    assert add.invoke({"a": 2, "b": 3}) == 5  # called directly: the result is the int itself
    (span,) = exporter.get_finished_spans()
    a = attrs(span)
    assert a["gen_ai.tool.call.result"] == "5" and "langchain.run.output" not in a


def test_the_corpus_agent_records_each_tool_call(exporter: InMemorySpanExporter) -> None:
    case = CASES["agent"]
    case.build().invoke(case.input, case.config("corpus-agent"))
    tools = by_name(exporter.get_finished_spans(), "execute_tool add")
    assert sorted(attrs(t)["gen_ai.tool.call.result"] for t in tools) == ["3", "7"]

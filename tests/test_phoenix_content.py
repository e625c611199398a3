"""What a GenAI-aware backend makes of otelstream's content: a real Arize Phoenix, read back
through its own GraphQL API.

A tool-calling agent with a subgraph (``phoenix_content.agent_graph``) runs once per flavour,
followed live by an ``events`` subscriber, its spans going at once to Phoenix (OTLP/HTTP), to
an OTLP/JSON file and to memory. Phoenix must show the conversation as chat (system, user,
assistant tool call, tool result; the answer as output), tools with their input and output,
the offered tool definitions and the token counts; with the OpenInference flavour, every span
has a kind and the root span an input and an output. The OTLP/JSON file must hold the same
content, and replaying it must give the live ``events`` stream back.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from backends import Phoenix
from graphs import Case
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from phoenix_content import (
    ANSWER,
    QUESTION,
    SYSTEM,
    agent_graph,
    agent_input,
    rendered_page,
    trace_url,
)
from phoenix_content import wait_for_project_spans as phoenix_spans
from test_parity import compare_events, run_subscribed
from test_replay import as_json, without_message_ids

import otelstream
from otelstream.export.otlp_file import OtlpJsonFileSpanExporter
from otelstream.export.recorded import read_spans
from otelstream.streams.replay import replay

pytest_plugins = ["backends"]

CASE = Case("phoenix_agent", agent_graph, agent_input(), needs_thread=True)


@dataclass
class Exported:
    """One traced run: what the SDK finished, what Phoenix stored, the OTLP/JSON file."""

    project_id: str
    sent: list[ReadableSpan]
    stored: list[dict[str, Any]]
    file: Path
    live_events: list[Any]

    def stored_named(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.stored if s["name"] == name]

    def sent_named(self, name: str) -> list[ReadableSpan]:
        return sorted((s for s in self.sent if s.name == name), key=lambda s: s.start_time or 0)


def export_run(phoenix: Phoenix, tmp_path: Path, **options: Any) -> Exported:
    project = f"content-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    memory = InMemorySpanExporter()
    path = tmp_path / "otlp.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=phoenix.http_traces_endpoint))
    )
    provider.add_span_processor(BatchSpanProcessor(OtlpJsonFileSpanExporter(path)))
    otelstream.instrument(tracer_provider=provider, capture_tokens=True, **options)
    try:
        events, _ = run_subscribed(CASE, f"thread-{project}")
        assert provider.force_flush(20_000)
    finally:
        otelstream.uninstrument()
        provider.shutdown()
    sent = list(memory.get_finished_spans())
    project_id, stored = phoenix_spans(phoenix.base_url, project, len(sent))
    assert project_id is not None and len(stored) == len(sent), f"{len(stored)} of {len(sent)}"
    return Exported(project_id, sent, stored, path, events)


@pytest.fixture(scope="module")
def genai(phoenix: Phoenix, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The run with the default (GenAI) content attributes."""
    return export_run(phoenix, tmp_path_factory.mktemp("genai"))


@pytest.fixture(scope="module")
def flavoured(phoenix: Phoenix, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The run with the OpenInference flavour."""
    return export_run(phoenix, tmp_path_factory.mktemp("openinference"), openinference=True)


# --- what Phoenix shows ------------------------------------------------------------------------
def messages(span: dict[str, Any], which: str) -> list[dict[str, Any]]:
    """A span's ``llm.input_messages``/``llm.output_messages`` as Phoenix parsed them."""
    return [m["message"] for m in span["attributes"].get("llm", {}).get(which, [])]


def check_conversation(run: Exported) -> None:
    """The chat spans read as chat in Phoenix, and their token counts are the model's."""
    chats = sorted(
        run.stored_named("chat fake-model-1"), key=lambda s: len(messages(s, "input_messages"))
    )
    assert [c["spanKind"] for c in chats] == ["llm", "llm"]
    first, second = chats
    assert [m["role"] for m in messages(first, "input_messages")] == ["system", "user"]
    system, user, call, result = messages(second, "input_messages")
    assert (system["role"], system["content"]) == ("system", SYSTEM)
    assert (user["role"], user["content"]) == ("user", QUESTION)
    assert call["role"] == "assistant"
    (tool_call,) = [c["tool_call"] for c in call["tool_calls"]]
    assert tool_call["id"] == "call_1" and tool_call["function"]["name"] == "add"
    assert json.loads(tool_call["function"]["arguments"]) == {"a": 1, "b": 2}
    assert (result["role"], result["tool_call_id"], result["content"]) == ("tool", "call_1", "3")
    (asked,) = messages(first, "output_messages")
    assert asked["role"] == "assistant" and asked["tool_calls"][0]["tool_call"]["id"] == "call_1"
    (answered,) = messages(second, "output_messages")
    assert (answered["role"], answered["content"]) == ("assistant", ANSWER)
    for chat in chats:
        (tool,) = chat["attributes"]["llm"]["tools"]
        schema = json.loads(tool["tool"]["json_schema"])
        assert schema["function"]["name"] == "add"
        assert schema["function"]["parameters"]["required"] == ["a", "b"]
    sent = run.sent_named("chat fake-model-1")
    assert [(c["tokenCountPrompt"], c["tokenCountCompletion"]) for c in chats] == [
        (s.attributes["gen_ai.usage.input_tokens"], s.attributes["gen_ai.usage.output_tokens"])
        for s in sent
    ]


@pytest.mark.timeout(180)
def test_phoenix_reads_the_genai_content(genai: Exported) -> None:
    check_conversation(genai)
    (tool,) = genai.stored_named("execute_tool add")
    assert tool["spanKind"] == "tool"
    assert tool["attributes"]["tool"]["parameters"] == {"a": 1, "b": 2}  # from the arguments
    assert tool["output"]["value"] == "3"  # from gen_ai.tool.call.result
    (agent,) = genai.stored_named("invoke_agent calculator")
    assert agent["spanKind"] == "agent"
    assert [m["content"] for m in messages(agent, "input_messages")] == [QUESTION]
    assert [m["content"] for m in messages(agent, "output_messages")] == [ANSWER]


@pytest.mark.timeout(180)
def test_phoenix_with_the_openinference_flavour(flavoured: Exported) -> None:
    check_conversation(flavoured)
    kinds = {s["name"]: s["spanKind"] for s in flavoured.stored}
    assert "unknown" not in kinds.values(), kinds
    assert kinds["invoke_agent calculator"] == "agent"
    assert kinds["invoke_workflow LangGraph"] == kinds["node model"] == "chain"
    (root,) = [s for s in flavoured.stored if s["parentId"] is None]
    assert json.loads(root["input"]["value"])["messages"][0]["content"] == QUESTION
    assert json.loads(root["output"]["value"])["messages"][-1]["content"] == ANSWER
    assert root["input"]["mimeType"] == root["output"]["mimeType"] == "json"
    (tool,) = flavoured.stored_named("execute_tool add")
    assert json.loads(tool["input"]["value"]) == {"a": 1, "b": 2}
    assert json.loads(tool["output"]["value"])["content"] == "3"
    assert tool["attributes"]["tool"]["name"] == "add"
    assert tool["attributes"]["tool"]["parameters"]["required"] == ["a", "b"]  # its schema
    assert all(
        s["attributes"]["session"]["id"] == root["attributes"]["session"]["id"]
        for s in flavoured.stored
    )
    assert isinstance(root["attributes"]["metadata"], dict)  # one JSON attribute, parsed


@pytest.mark.timeout(300)
def test_phoenix_ui_shows_the_conversation(phoenix: Phoenix, flavoured: Exported) -> None:
    """Phoenix's own UI, rendered by headless Chromium, shows the trace tree and the selected
    chat span's messages (what the README's screenshot shows)."""
    page = rendered_page(trace_url(phoenix.base_url, flavoured.project_id, flavoured.stored))
    for text in ("invoke_agent calculator", "execute_tool add", SYSTEM, QUESTION, ANSWER):
        assert text in page, text


# --- the same content in the OTLP/JSON file, and replay -----------------------------------------
@pytest.mark.timeout(180)
@pytest.mark.parametrize("flavour", ["genai", "flavoured"])
def test_the_file_holds_the_same_content_and_replays_the_live_stream(
    flavour: str, request: pytest.FixtureRequest
) -> None:
    run: Exported = request.getfixturevalue(flavour)
    recorded = {s.span_id: s for s in read_spans(run.file)}
    assert len(recorded) == len(run.sent)
    for span in run.sent:
        in_file = recorded[format(span.context.span_id, "016x")]
        assert in_file.attributes == {
            k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()
        }
    compare_events(
        CASE,
        without_message_ids(as_json(run.live_events)),
        without_message_ids(replay(run.file)),
        f"{flavour}: replayed events",
    )

"""The span model: exact trees, names, kinds, attributes, events and statuses for real graphs."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from conftest import by_name, one, span_tree
from graphs import CASES, FakeChatModel, NodeFailed, answer, sequence
from langchain_core.messages import HumanMessage
from langgraph.graph import MessagesState
from langgraph.types import Command
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import otelstream
from otelstream.spans import tokens

Spans = Sequence[ReadableSpan]


def run_case(name: str, thread_id: str = "t-1") -> Any:
    return CASES[name].run(CASES[name].config(thread_id))


def assert_well_formed(spans: Spans) -> None:
    """One root per trace, every parent present in the same trace, nothing left open."""
    by_id = {s.context.span_id: s for s in spans}
    roots = defaultdict(list)
    for s in spans:
        assert s.end_time is not None and s.end_time >= (s.start_time or 0)
        if s.parent is None:
            roots[s.context.trace_id].append(s)
        else:
            parent = by_id.get(s.parent.span_id)
            assert parent is not None, f"orphan span {s.name}"
            assert parent.context.trace_id == s.context.trace_id
            assert (parent.start_time or 0) <= (s.start_time or 0)
    assert all(len(r) == 1 for r in roots.values()), roots


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# --- tree shapes -------------------------------------------------------------------------------
def test_linear_graph(exporter: InMemorySpanExporter) -> None:
    assert run_case("linear") == {"count": 20, "log": ["a", "b", "c"]}
    spans = exporter.get_finished_spans()
    assert span_tree(spans) == [
        ("invoke_workflow LangGraph", [("node a", []), ("node b", []), ("node c", [])])
    ]
    assert_well_formed(spans)
    root = one(spans, "invoke_workflow LangGraph")
    assert root.kind == SpanKind.INTERNAL
    assert root.status.status_code == StatusCode.UNSET
    ra = attrs(root)
    assert ra["gen_ai.operation.name"] == "invoke_workflow"
    assert ra["gen_ai.workflow.name"] == "LangGraph"
    assert ra["langgraph.graph.name"] == "LangGraph"
    assert "langchain.run.type" not in ra  # a chain: what a replay assumes
    assert ra["langchain.run.name"] == "LangGraph"  # the span name does not say it alone
    assert ra["langchain.run.tags"] == ("corpus",)
    assert json.loads(ra["langchain.run.input"]) == {"count": 1, "log": []}
    assert json.loads(ra["langchain.run.output"]) == {"count": 20, "log": ["a", "b", "c"]}
    assert json.loads(ra["langchain.run.metadata"])["case"] == "linear"
    assert "langchain.run.parent_ids" not in ra
    for step, node in enumerate(["a", "b", "c"], start=1):
        span = one(spans, f"node {node}")
        a = attrs(span)
        assert a["langgraph.node"] == node
        assert a["langgraph.step"] == step
        assert a["langgraph.triggers"] == (f"branch:to:{node}",)
        assert "langgraph.path" not in a  # in the metadata JSON only
        assert json.loads(a["langchain.run.metadata"])["langgraph_path"] == ["__pregel_pull", node]
        assert "langchain.run.name" not in a  # "node {name}" says it
        assert a["langgraph.graph.name"] == "LangGraph"
        ns = a["langgraph.checkpoint.ns"]
        assert ns.startswith(f"{node}:") and a["langgraph.task.id"] == ns.split(":", 1)[1]
        assert "langchain.run.parent_ids" not in a  # its parent span's run, and its ids
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert a["langchain.run.tags"] == (f"graph:step:{step}", "corpus")
        assert span.status.status_code == StatusCode.UNSET
    assert json.loads(attrs(one(spans, "node b"))["langchain.run.output"]) == {
        "count": 20,
        "log": ["b"],
    }


def test_conditional_loop(exporter: InMemorySpanExporter) -> None:
    assert run_case("loop")["count"] == 3
    spans = exporter.get_finished_spans()
    assert span_tree(spans) == [("invoke_workflow LangGraph", [("node step", [("route", [])])] * 3)]
    assert [
        attrs(s)["langgraph.step"]
        for s in sorted(by_name(spans, "node step"), key=lambda s: s.start_time or 0)
    ] == [1, 2, 3]
    assert_well_formed(spans)


def test_send_fanout_gives_one_span_per_task(exporter: InMemorySpanExporter) -> None:
    assert run_case("fanout")["results"] == ["X", "Y", "Z", "joined"]
    spans = exporter.get_finished_spans()
    tree = span_tree(spans)
    assert tree[0][0] == "invoke_workflow LangGraph"
    assert [name for name, _ in tree[0][1]] == [
        "node plan",
        "node work",
        "node work",
        "node work",
        "node join",
    ]
    workers = by_name(spans, "node work")
    assert {attrs(s)["langgraph.triggers"] for s in workers} == {("__pregel_push",)}
    assert {attrs(s)["langgraph.step"] for s in workers} == {2}
    assert len({attrs(s)["langgraph.task.id"] for s in workers}) == 3
    inputs = sorted(json.loads(attrs(s)["langchain.run.input"])["items"][0] for s in workers)
    assert inputs == ["x", "y", "z"]
    assert_well_formed(spans)


def test_subgraph_nests_under_its_node(exporter: InMemorySpanExporter) -> None:
    run_case("subgraph")
    spans = exporter.get_finished_spans()
    assert span_tree(spans) == [
        (
            "invoke_workflow LangGraph",
            [
                ("node outer", []),
                ("node sub", [("invoke_workflow inner_graph", [("node inner", [])])]),
            ],
        )
    ]
    sub_node = attrs(one(spans, "node sub"))
    inner_graph = attrs(one(spans, "invoke_workflow inner_graph"))
    inner = attrs(one(spans, "node inner"))
    assert inner_graph["gen_ai.workflow.name"] == "inner_graph"
    assert inner_graph["langgraph.checkpoint.ns"] == sub_node["langgraph.checkpoint.ns"]
    assert inner["langgraph.step"] == 1
    assert inner["langgraph.graph.name"] == "inner_graph"
    assert inner["langgraph.checkpoint.ns"].startswith(sub_node["langgraph.checkpoint.ns"] + "|")
    # parent ids are not recorded where the parent span is the parent run's: replay derives
    assert not any("langchain.run.parent_ids" in attrs(s) for s in spans)
    assert_well_formed(spans)


def test_tool_calling_agent(exporter: InMemorySpanExporter) -> None:
    result = run_case("agent", thread_id="agent-thread")
    assert result["messages"][-1].content == "the sums are 3 and 7"
    spans = exporter.get_finished_spans()
    root_name, children = span_tree(spans)[0]
    assert root_name == "invoke_agent LangGraph"
    assert children == [
        ("node model", [("chat fake-model-1", []), ("route", [])]),
        ("node tools", [("execute_tool add", [])]),
        ("node model", [("chat fake-model-1", []), ("route", [])]),
        ("node tools", [("execute_tool add", [])]),
        ("node model", [("chat fake-model-1", []), ("route", [])]),
    ]
    root = attrs(one(spans, "invoke_agent LangGraph"))
    assert root["gen_ai.operation.name"] == "invoke_agent"
    assert root["gen_ai.agent.name"] == "LangGraph"
    assert root["gen_ai.conversation.id"] == "agent-thread"
    chats = sorted(by_name(spans, "chat fake-model-1"), key=lambda s: s.start_time or 0)
    for chat in chats:
        a = attrs(chat)
        assert chat.kind == SpanKind.CLIENT
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "fakechatmodel"
        assert a["gen_ai.request.model"] == "fake-model-1"
        assert a["gen_ai.response.model"] == "fake-model-1"
        assert a["gen_ai.response.finish_reasons"] == ("stop",)
        assert a["gen_ai.usage.input_tokens"] == 7
        assert a["gen_ai.conversation.id"] == "agent-thread"
        assert a["langgraph.node"] == "model"
        assert "gen_ai.request.stream" not in a  # invoked, not streamed
    assert attrs(chats[-1])["gen_ai.usage.output_tokens"] == 6  # "the sums are 3 and 7"
    tools = sorted(by_name(spans, "execute_tool add"), key=lambda s: s.start_time or 0)
    assert [attrs(t)["gen_ai.tool.call.id"] for t in tools] == ["call_1", "call_2"]
    for t, expected in zip(tools, [{"a": 1, "b": 2}, {"a": 3, "b": 4}], strict=True):
        a = attrs(t)
        assert t.kind == SpanKind.INTERNAL
        assert a["gen_ai.operation.name"] == "execute_tool"
        assert a["gen_ai.tool.name"] == "add"
        assert a["gen_ai.tool.type"] == "function"
        assert a["gen_ai.tool.description"] == "Add two integers."
        # the arguments are recorded once, under the GenAI name replay reads
        assert json.loads(a["gen_ai.tool.call.arguments"]) == expected
        assert "langchain.run.input" not in a
        # the result's text under the GenAI name; the rest of the ToolMessage beside it
        assert a["gen_ai.tool.call.result"] == str(sum(expected.values()))
        message = json.loads(a["langchain.run.output"])
        assert message["tool_call_id"] == a["gen_ai.tool.call.id"] and "content" not in message
    assert_well_formed(spans)


def test_prompt_model_parser_inside_a_node(exporter: InMemorySpanExporter) -> None:
    assert run_case("chain")["answer"] == "forty two"
    spans = exporter.get_finished_spans()
    assert span_tree(spans) == [
        (
            "invoke_workflow LangGraph",
            [
                (
                    "node respond",
                    [
                        (
                            "RunnableSequence",
                            [
                                ("ChatPromptTemplate", []),
                                ("chat fake-model-1", []),
                                ("StrOutputParser", []),
                            ],
                        )
                    ],
                )
            ],
        )
    ]
    assert attrs(one(spans, "ChatPromptTemplate"))["langchain.run.type"] == "prompt"
    parser = attrs(one(spans, "StrOutputParser"))
    assert parser["langchain.run.type"] == "parser"
    assert json.loads(parser["langchain.run.output"]) == "forty two"
    chat = attrs(one(spans, "chat fake-model-1"))
    messages = json.loads(chat["langchain.run.input"])["messages"]
    assert messages[0][0]["content"] == "Q: meaning of life?"


def test_retriever(exporter: InMemorySpanExporter) -> None:
    run_case("retriever")
    spans = exporter.get_finished_spans()
    assert span_tree(spans) == [
        ("invoke_workflow LangGraph", [("node search", [("retrieval KeywordRetriever", [])])])
    ]
    a = attrs(one(spans, "retrieval KeywordRetriever"))
    assert a["gen_ai.operation.name"] == "retrieval"
    assert a["langchain.run.type"] == "retriever"
    assert a["gen_ai.retrieval.query.text"] == "spans please"
    docs = json.loads(a["gen_ai.retrieval.documents"])
    assert [d["content"] for d in docs] == ["otel traces spans", "spans and events"]
    assert all(d["metadata"] == {} and "id" not in d for d in docs)  # no id given, none made up
    assert "langchain.run.output" not in a  # replay rebuilds the documents from the GenAI ones


def test_custom_events_and_stream_writer(exporter: InMemorySpanExporter) -> None:
    run_case("custom_events")
    spans = exporter.get_finished_spans()
    for node, pct, written in (("sync_node", 50, "sync"), ("async_node", 100, "async")):
        span = one(spans, f"node {node}")
        events = {e.name: dict(e.attributes or {}) for e in span.events}
        assert list(events) == ["on_custom_event", "langgraph.custom"]
        assert events["on_custom_event"]["langchain.event.name"] == "progress"
        assert json.loads(events["on_custom_event"]["langchain.event.data"]) == {"pct": pct}
        assert json.loads(events["langgraph.custom"]["langgraph.custom.data"]) == {
            "written": written
        }


def test_stream_writer_output_unchanged_for_custom_mode(exporter: InMemorySpanExporter) -> None:
    graph = CASES["custom_events"].build()

    async def collect() -> list[Any]:
        return [c async for c in graph.astream({"count": 0, "log": []}, stream_mode="custom")]

    assert asyncio.run(collect()) == [{"written": "sync"}, {"written": "async"}]
    assert (
        len(
            [
                e
                for s in exporter.get_finished_spans()
                for e in s.events
                if e.name == "langgraph.custom"
            ]
        )
        == 2
    )


def test_failing_node(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(NodeFailed, match="on purpose"):
        run_case("failing")
    spans = exporter.get_finished_spans()
    assert span_tree(spans) == [("invoke_workflow LangGraph", [("node ok", []), ("node boom", [])])]
    assert one(spans, "node ok").status.status_code == StatusCode.UNSET
    for name in ("node boom", "invoke_workflow LangGraph"):
        span = one(spans, name)
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description == "NodeFailed: node failed on purpose"
        assert attrs(span)["error.type"] == "NodeFailed"
        exception = [e for e in span.events if e.name == "exception"]
        assert len(exception) == 1
        assert (exception[0].attributes or {})["exception.message"] == "node failed on purpose"
    assert_well_formed(spans)


def test_interrupt_is_not_an_error_and_resume_links_back(exporter: InMemorySpanExporter) -> None:
    case = CASES["interrupt"]
    graph = case.build()
    config = case.config("review-thread")
    first = graph.invoke(case.input, config)
    assert "__interrupt__" in first
    spans = exporter.get_finished_spans()
    root = one(spans, "invoke_workflow LangGraph")
    review = one(spans, "node review")
    assert root.status.status_code == StatusCode.UNSET
    assert review.status.status_code == StatusCode.UNSET
    assert attrs(review)["langgraph.interrupted"] is True
    assert attrs(root)["langgraph.interrupted"] is True
    (event,) = [e for e in review.events if e.name == "langgraph.interrupt"]
    ea = dict(event.attributes or {})
    assert json.loads(ea["langgraph.interrupt.value"]) == {"question": "approve?", "draft": "draft"}
    assert ea["langgraph.interrupt.id"] == first["__interrupt__"][0].id

    exporter.clear()
    second = graph.invoke(Command(resume="yes"), config)
    assert second["answer"] == "draft (yes)"
    spans = exporter.get_finished_spans()
    resumed = one(spans, "invoke_workflow LangGraph")
    assert attrs(resumed)["langgraph.resumed"] is True
    assert [link.context for link in resumed.links] == [root.context]
    assert resumed.context.trace_id != root.context.trace_id
    assert span_tree(spans) == [("invoke_workflow LangGraph", [("node review", [])])]


def test_async_nodes(exporter: InMemorySpanExporter) -> None:
    assert run_case("async_nodes")["count"] == 2
    spans = exporter.get_finished_spans()
    assert span_tree(spans) == [
        ("invoke_workflow LangGraph", [("node first", []), ("node second", [])])
    ]
    assert_well_formed(spans)


# --- call styles and concurrency ---------------------------------------------------------------
def _shape(exporter: InMemorySpanExporter) -> Any:
    tree = span_tree(exporter.get_finished_spans())
    exporter.clear()
    return tree


def test_invoke_ainvoke_stream_astream_give_the_same_tree(exporter: InMemorySpanExporter) -> None:
    case = CASES["linear"]
    graph = case.build()
    graph.invoke(case.input)
    expected = _shape(exporter)
    asyncio.run(graph.ainvoke(case.input))
    assert _shape(exporter) == expected
    list(graph.stream(case.input, stream_mode="updates"))
    assert _shape(exporter) == expected

    async def consume() -> None:
        async for _ in graph.astream(case.input, stream_mode=["values", "debug"]):
            pass

    asyncio.run(consume())
    assert _shape(exporter) == expected


def _assert_isolated(spans: Spans, thread_ids: set[str], per_thread: int) -> None:
    assert_well_formed(spans)
    traces: dict[int, set[str]] = defaultdict(set)
    for s in spans:
        traces[s.context.trace_id].add(attrs(s)["gen_ai.conversation.id"])
    assert all(len(ids) == 1 for ids in traces.values()), "a trace mixes threads"
    counts: dict[str, int] = defaultdict(int)
    for s in spans:
        if s.parent is None:
            counts[attrs(s)["gen_ai.conversation.id"]] += 1
    assert counts == dict.fromkeys(thread_ids, per_thread)


def test_many_threads_keep_parenting_correct(exporter: InMemorySpanExporter) -> None:
    graph = CASES["agent"].build  # a fresh model per thread, one compiled graph per thread
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            g = graph()
            for _ in range(3):
                g.invoke(
                    {"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": f"th-{i}"}}
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    spans = exporter.get_finished_spans()
    _assert_isolated(spans, {f"th-{i}" for i in range(16)}, per_thread=3)
    # Each run is a full agent loop: 1 root + 5 nodes + 3 chats + 3 routes + 2 tools.
    assert len(spans) == 16 * 3 * 14


def test_shared_graph_from_threads_and_fanout(exporter: InMemorySpanExporter) -> None:
    graph = CASES["fanout"].build()
    threads = [
        threading.Thread(
            target=graph.invoke,
            args=(
                {"items": ["a", "b", "c", "d"], "results": []},
                {"configurable": {"thread_id": f"f-{i}"}},
            ),
        )
        for i in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans = exporter.get_finished_spans()
    _assert_isolated(spans, {f"f-{i}" for i in range(12)}, per_thread=1)
    for root in [s for s in spans if s.parent is None]:
        workers = [
            s
            for s in spans
            if s.context.trace_id == root.context.trace_id and s.name == "node work"
        ]
        assert len(workers) == 4


def test_concurrent_asyncio_tasks(exporter: InMemorySpanExporter) -> None:
    graph = CASES["async_nodes"].build()

    async def main() -> None:
        await asyncio.gather(
            *(
                graph.ainvoke({"count": 0, "log": []}, {"configurable": {"thread_id": f"a-{i}"}})
                for i in range(32)
            )
        )

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    _assert_isolated(spans, {f"a-{i}" for i in range(32)}, per_thread=1)
    assert len(spans) == 32 * 3


def test_user_span_around_a_run_becomes_its_parent(exporter: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("app", tracer_provider=trace.get_tracer_provider())
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("request") as request:
        run_case("linear")
    spans = exporter.get_finished_spans()
    root = one(spans, "invoke_workflow LangGraph")
    assert root.parent is not None and root.parent.span_id == request.get_span_context().span_id


# --- tokens ------------------------------------------------------------------------------------
def _token_graph(text: str = "one two three four five") -> Any:
    model = FakeChatModel(responses=[answer(text)])

    def speak(s: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(s["messages"])]}

    return sequence(MessagesState, speak)


def _stream_events(span: ReadableSpan) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == "on_chat_model_stream"]


def test_invoke_is_not_switched_to_streaming_without_opt_in(
    exporter: InMemorySpanExporter,
) -> None:
    _token_graph().invoke({"messages": [HumanMessage("hi")]})
    chat = one(exporter.get_finished_spans(), "chat fake-model-1")
    assert _stream_events(chat) == []
    assert "gen_ai.request.stream" not in attrs(chat)
    assert "gen_ai.response.time_to_first_chunk" not in attrs(chat)


def test_token_capture_opt_in_streams_invoked_models(instrument_with: Any) -> None:
    exporter = instrument_with(capture_tokens=True, token_batch_size=2)
    result = _token_graph().invoke({"messages": [HumanMessage("hi")]})
    assert result["messages"][-1].content == "one two three four five"
    chat = one(exporter.get_finished_spans(), "chat fake-model-1")
    batches = _stream_events(chat)
    chunks = [c for b in batches for c in _chunks(b)]
    # Five words, plus the closing empty chunk newer langchain-core emits.
    assert len(chunks) in (5, 6)
    full, rest = divmod(len(chunks), 2)
    assert [b["langchain.event.count"] for b in batches] == [2] * full + [1] * rest
    assert "".join(c["content"] for c in chunks) == "one two three four five"
    assert all(c["type"] == "AIMessageChunk" for c in chunks)
    assert all(
        len(b["langchain.event.time_offsets_ns"]) == b["langchain.event.count"] for b in batches
    )
    a = attrs(chat)
    assert a["gen_ai.request.stream"] is True
    assert 0 <= a["gen_ai.response.time_to_first_chunk"] < 5


def test_tokens_recorded_when_the_user_streams_messages(exporter: InMemorySpanExporter) -> None:
    graph = _token_graph()
    tokens = [
        m.content
        for m, _ in graph.stream({"messages": [HumanMessage("hi")]}, stream_mode="messages")
    ]
    assert "".join(tokens) == "one two three four five"
    chat = one(exporter.get_finished_spans(), "chat fake-model-1")
    (batch,) = _stream_events(chat)
    assert batch["langchain.event.text"] == "one two three four five"  # readable as it is
    chunks = _chunks(batch)
    assert batch["langchain.event.count"] == len(chunks) in (5, 6)
    assert "".join(c["content"] for c in chunks) == "one two three four five"
    assert attrs(chat)["gen_ai.request.stream"] is True


def test_stream_events_beyond_the_limit_are_counted(instrument_with: Any) -> None:
    exporter = instrument_with(capture_tokens=True, token_batch_size=1, max_stream_events=3)
    _token_graph().invoke({"messages": [HumanMessage("hi")]})
    chat = one(exporter.get_finished_spans(), "chat fake-model-1")
    assert len(_stream_events(chat)) == 3
    chunks = 6 if _emits_closing_chunk() else 5
    assert attrs(chat)["otelstream.dropped_stream_events"] == chunks - 3


def _chunks(event: dict[str, Any]) -> list[Any]:
    """The chunks of a coalesced message-chunk span event, decoded as replay decodes them."""
    decoded = tokens.decode(
        event["langchain.event.text"],
        list(event["langchain.event.text_lengths"]),
        json.loads(event["langchain.event.chunk"]),
        json.loads(event.get("langchain.event.deltas", "{}")),
    )
    assert decoded is not None
    return decoded


def _emits_closing_chunk() -> bool:
    """Whether this langchain-core ends a stream with an extra empty ``last`` chunk."""
    model = FakeChatModel(responses=[answer("a b")])
    return len(list(model.stream("hi"))) == 3


@pytest.mark.parametrize("limit", [None, 1_000_000])
def test_a_long_answer_exports_bounded_events_while_subscribers_get_every_token(
    instrument_with: Any, limit: int | None
) -> None:
    """2,000 streamed tokens become a few coalesced span events (within the SDK's per-span
    event limit), every chunk counted and timed, while a live ``events`` subscriber receives
    every token. The events carry the text compactly, so the whole answer is exported
    uncut even under the default length limit."""
    exporter = instrument_with(max_attribute_length=limit)
    graph = _token_graph(" ".join(f"w{i}" for i in range(2_000)))
    config = {"configurable": {"thread_id": f"long-answer-{limit}"}}
    with otelstream.subscribe(thread_id=f"long-answer-{limit}") as sub:
        worker = threading.Thread(
            target=graph.invoke, args=({"messages": [HumanMessage("talk")]}, config)
        )
        worker.start()
        tokens = [e for _, e in sub if e["event"] == "on_chat_model_stream"]
        worker.join(30)
    assert len(tokens) >= 2_000
    chat = one(exporter.get_finished_spans(), "chat fake-model-1")
    events = _stream_events(chat)
    assert 2_000 // 64 <= len(events) <= 64  # default token_batch_size and max_stream_events
    assert sum(e["langchain.event.count"] for e in events) == len(tokens)
    assert all(
        len(e["langchain.event.time_offsets_ns"]) == e["langchain.event.count"] for e in events
    )
    assert "otelstream.dropped_stream_events" not in attrs(chat)
    assert "otelstream.truncated" not in attrs(chat)
    assert all(len(e["langchain.event.text"]) < 1_024 for e in events)
    text = "".join(e["langchain.event.text"] for e in events)
    assert text == "".join(t["data"]["chunk"].content for t in tokens)
    assert [c["content"] for e in events for c in _chunks(e)] == [
        t["data"]["chunk"].content for t in tokens
    ]

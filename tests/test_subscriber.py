"""The live subscriber: back-pressure, early exit, fan-out, isolation, async use, arguments,
mixed stream modes, token streaming and chain taps only when someone listens, and a graph's
own config kept."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import chains
import pytest
from graphs import CASES, FakeChatModel, long_loop, sequence
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.outputs import ChatGenerationChunk
from langgraph.errors import GraphRecursionError
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_parity import Ids, canon, norm_events
from typing_extensions import TypedDict

import otelstream
from otelstream.semconv import GEN_AI_REQUEST_STREAM, LC_RUN_INPUT

LOOP_INPUT = {"count": 0, "log": []}


def loop_config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": 10_000}


class Runner:
    """Runs ``graph.invoke`` in a thread, keeping its result or exception."""

    def __init__(self, graph: Any, input: Any, config: dict[str, Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done_at: float | None = None
        self.thread = threading.Thread(target=self._run, args=(graph, input, config))

    def _run(self, graph: Any, input: Any, config: dict[str, Any]) -> None:
        try:
            self.result = graph.invoke(input, config)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done_at = time.monotonic()

    def start(self) -> Runner:
        self.thread.start()
        return self

    def join(self, timeout: float = 20) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not finish"
        assert self.error is None, f"the run failed: {self.error!r}"


def solo_items(graph: Any, input: Any, config: dict[str, Any], modes: Any) -> list[Any]:
    """Everything a subscriber with a large buffer receives for one run."""
    thread_id = config["configurable"]["thread_id"]
    with otelstream.subscribe(thread_id=thread_id, modes=modes) as sub:
        runner = Runner(graph, input, config).start()
        items = list(sub)
        runner.join()
    assert sub.dropped == 0
    return items


# --- back-pressure ---------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_slow_consumer_never_blocks_the_run(exporter: InMemorySpanExporter) -> None:
    modes = ("events", "debug")
    total = len(solo_items(long_loop(150), LOOP_INPUT, loop_config("bp-solo"), modes))
    assert total > 500

    with otelstream.subscribe(thread_id="bp", modes=modes, max_buffer=5) as sub:
        started = time.monotonic()
        runner = Runner(long_loop(150), LOOP_INPUT, loop_config("bp")).start()
        received = [next(sub)]
        time.sleep(0.2)  # a consumer far slower than the run
        runner.join(timeout=20)  # the run finishes while the consumer is still on item one
        assert runner.result["count"] == 150
        for item in sub:  # a slow consumer, draining what was kept; it still sees the end
            received.append(item)
            time.sleep(0.01)
        run_time = runner.done_at - started  # type: ignore[operator]
    assert run_time < 10
    assert sub.dropped > 0
    assert 1 < len(received) <= 1 + 5
    assert len(received) + sub.dropped == total
    assert sub.error is None


# --- early exit ---
@pytest.mark.timeout(60)
def test_consumer_breaking_out_early(exporter: InMemorySpanExporter) -> None:
    expected = long_loop(20).invoke(LOOP_INPUT, loop_config("early-ref"))
    with otelstream.subscribe(thread_id="early", modes=("events", "debug")) as sub:
        runner = Runner(long_loop(20, delay=0.01), LOOP_INPUT, loop_config("early")).start()
        for _mode, _chunk in sub:
            break
    assert runner.thread.is_alive(), "the run should still be going when the consumer leaves"
    runner.join()
    assert runner.result == expected
    # nothing is delivered after the block: iteration ends at once, nothing is queued
    assert list(sub) == []
    assert sub.drain() == ([], True)
    assert sub.get(timeout=0) is None
    assert sub.dropped == 0


# --- two subscribers ---
@pytest.mark.timeout(60)
def test_two_subscribers_on_one_thread_see_the_same_stream(exporter: InMemorySpanExporter) -> None:
    case = CASES["agent"]
    config = case.config("two")
    modes = ("events", "debug")
    with (
        otelstream.subscribe(thread_id="two", modes=modes) as first,
        otelstream.subscribe(thread_id="two", modes=modes) as second,
    ):
        runner = Runner(case.build(), case.input, config).start()
        seen_second: list[Any] = []
        other = threading.Thread(target=lambda: seen_second.extend(second))
        other.start()
        seen_first = list(first)
        other.join(20)
        runner.join()
    assert seen_first
    assert {mode for mode, _ in seen_first} == {"events", "debug"}
    assert seen_first == seen_second


# --- isolation ---
@pytest.mark.timeout(60)
def test_concurrent_runs_are_isolated(exporter: InMemorySpanExporter) -> None:
    case = CASES["linear"]
    solo = solo_items(
        case.build(), case.input, {"configurable": {"thread_id": "iso-solo"}}, "events"
    )
    n = 50
    barrier = threading.Barrier(n)
    seen: dict[int, list[Any]] = {}
    results: dict[int, Any] = {}
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            thread_id = f"iso-{i}"
            graph = case.build()
            with otelstream.subscribe(thread_id=thread_id) as sub:
                barrier.wait(10)
                runner = Runner(
                    graph, {"count": i, "log": []}, {"configurable": {"thread_id": thread_id}}
                )
                runner.start()
                seen[i] = list(sub)
                runner.join()
                results[i] = runner.result
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, failures
    assert sorted(seen) == list(range(n))
    for i, items in seen.items():
        assert len(items) == len(solo), f"subscriber {i}: {len(items)} items, solo run {len(solo)}"
        assert all(mode == "events" for mode, _ in items)
        assert {e["metadata"]["thread_id"] for _, e in items} == {f"iso-{i}"}
        first, last = items[0][1], items[-1][1]
        assert first["event"] == "on_chain_start" and first["data"]["input"]["count"] == i
        assert last["event"] == "on_chain_end" and last["data"]["output"] == results[i]
        assert results[i]["count"] == (i + 1) * 10
        assert len({e["run_id"] for _, e in items}) == len({e["run_id"] for _, e in solo})
    runs = [{e["run_id"] for _, e in items} for items in seen.values()]
    assert len(set().union(*runs)) == sum(map(len, runs)), "a run id appears in two streams"


@pytest.mark.timeout(60)
def test_a_subscription_follows_one_run_when_two_start_at_once(
    exporter: InMemorySpanExporter,
) -> None:
    """Runs of one thread started together: each waiting subscription binds to exactly one
    of them (with tiny thread switch intervals, so the start races really interleave)."""
    case = CASES["linear"]
    graph = case.build()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_ in range(20):
            thread_id = f"twin-{round_}"
            config = {"configurable": {"thread_id": thread_id}}
            subs = [otelstream.subscribe(thread_id=thread_id) for _ in range(3)]
            barrier = threading.Barrier(4)

            def run(config: dict[str, Any] = config, barrier: threading.Barrier = barrier) -> None:
                barrier.wait(10)
                graph.invoke(case.input, config)

            runners = [threading.Thread(target=run) for _ in range(4)]
            for t in runners:
                t.start()
            for t in runners:
                t.join(30)
            for sub in subs:
                with sub:
                    items = list(sub)
                roots = {e["run_id"] for _, e in items if not e["parent_ids"]}
                assert len(roots) == 1, f"round {round_}: one subscription saw runs {roots}"
                assert items[-1][1]["event"] == "on_chain_end"
    finally:
        sys.setswitchinterval(old)


@pytest.mark.timeout(60)
def test_followers_of_a_run_see_its_parallel_tasks_in_one_order(
    exporter: InMemorySpanExporter,
) -> None:
    """Two subscriptions to one run whose tasks run in parallel threads get the same items
    in the same order (the server's recorder and a local subscriber agree)."""
    case = CASES["fanout"]
    graph = case.build()
    items = {"items": [f"i{n}" for n in range(16)], "results": []}
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_ in range(5):
            run_id = uuid.uuid4()
            config = {"configurable": {"thread_id": f"order-{round_}"}, "run_id": run_id}
            with (
                otelstream.subscribe(run_id=run_id, modes=("events", "debug")) as one,
                otelstream.subscribe(run_id=run_id, modes=("events", "debug")) as two,
            ):
                Runner(graph, items, config).start().join()
                first, second = list(one), list(two)
            assert len(first) > 100
            assert first == second, f"round {round_}"
    finally:
        sys.setswitchinterval(old)


# --- async ---
@pytest.mark.timeout(60)
async def test_async_iteration_in_the_same_loop(exporter: InMemorySpanExporter) -> None:
    case = CASES["async_nodes"]
    config = {**case.config("async-sub"), "configurable": {"thread_id": "async-sub"}}
    native = [e async for e in case.build().astream_events(case.input, config, version="v2")]
    async with otelstream.subscribe(thread_id="async-sub", modes=("events", "debug")) as sub:
        task = asyncio.create_task(case.build().ainvoke(case.input, config))
        items = [item async for item in sub]
        result = await task
    assert result == {"count": 2, "log": ["first", "second"]}
    events = [chunk for mode, chunk in items if mode == "events"]
    debug = [chunk for mode, chunk in items if mode == "debug"]
    assert norm_events(events) == norm_events(native)
    assert [d["type"] for d in debug].count("task_result") == 2


# --- arguments ---
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"modes": ("events",)},
        {"thread_id": "t", "modes": ("updates",)},
        {"thread_id": "t", "modes": ("events", "values")},
        {"thread_id": "t", "modes": ()},
        {"thread_id": "t", "max_buffer": 0},
        {"thread_id": "t", "max_buffer": -5},
        {"thread_id": "t", "max_buffer": 2.5},
        {"run_id": "00000000-0000-0000-0000-000000000001", "max_buffer": "10"},
    ],
    ids=[
        "no-ids",
        "modes-but-no-ids",
        "unknown-mode",
        "one-unknown-mode",
        "no-modes",
        "zero-buffer",
        "negative-buffer",
        "float-buffer",
        "str-buffer",
    ],
)
def test_subscribe_argument_errors(exporter: InMemorySpanExporter, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        otelstream.subscribe(**kwargs)


def test_subscribe_accepts_a_single_mode_string(exporter: InMemorySpanExporter) -> None:
    with otelstream.subscribe(thread_id="single", modes="debug") as sub:
        assert sub.modes == frozenset({"debug"})


def test_unknown_stream_modes_are_rejected_with_the_valid_ones(
    exporter: InMemorySpanExporter,
) -> None:
    """A typo is a ValueError at the call, listing the valid modes (LangGraph's own would
    yield nothing), for stream, astream and subscribe; nothing runs."""
    from typing import get_args

    from langgraph.types import StreamMode

    case = CASES["linear"]
    graph = case.build()
    calls = {
        "stream": lambda mode: otelstream.stream(graph, case.input, stream_mode=mode),
        "astream": lambda mode: otelstream.astream(graph, case.input, stream_mode=mode),
    }
    for name, call in calls.items():
        for mode in ("event", ["updates", "event"]):
            with pytest.raises(ValueError, match=r"unknown stream mode\(s\) 'event'; valid: ") as e:
                call(mode)
            valid = str(e.value).split("valid: ")[1].split(", ")
            assert sorted(valid) == sorted([*get_args(StreamMode), "events"]), (name, e.value)
    with pytest.raises(ValueError, match=r"among \['debug', 'events'\], got \['updates'\]"):
        otelstream.subscribe(thread_id="typo", modes=("events", "updates"))
    assert exporter.get_finished_spans() == ()


# --- mixed stream modes ---
def native_events(case: Any, config: dict[str, Any]) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [e async for e in case.build().astream_events(case.input, config, version="v2")]

    return asyncio.run(collect())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["linear", "agent"])
def test_stream_mixes_native_modes_with_events(exporter: InMemorySpanExporter, name: str) -> None:
    case = CASES[name]
    config = {**case.config("mixed"), "configurable": {"thread_id": "mixed"}}
    # natively, a run whose tokens are watched ("messages") streams its chat model too
    native_updates = [
        chunk
        for mode, chunk in case.build().stream(
            case.input, config, stream_mode=["updates", "messages"]
        )
        if mode == "updates"
    ]
    items = list(
        otelstream.stream(case.build(), case.input, config, stream_mode=["updates", "events"])
    )
    assert all(isinstance(item, tuple) and len(item) == 2 for item in items)
    assert {mode for mode, _ in items} == {"updates", "events"}
    updates = [chunk for mode, chunk in items if mode == "updates"]
    events = [chunk for mode, chunk in items if mode == "events"]
    assert canon(updates, Ids()) == canon(native_updates, Ids())
    assert norm_events(events) == norm_events(native_events(case, config))

    bare = list(otelstream.stream(case.build(), case.input, config, stream_mode="events"))
    assert bare and all(isinstance(e, dict) and "event" in e for e in bare)
    assert norm_events(bare) == norm_events(events)


# --- token streaming ---
@pytest.fixture
def stream_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts calls of the fake chat model's ``_stream`` (LangChain streaming it)."""
    calls: list[int] = []
    original = FakeChatModel._stream

    def counting(self: FakeChatModel, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FakeChatModel, "_stream", counting)
    yield calls


def token_span_events(exporter: InMemorySpanExporter) -> int:
    return sum(
        1
        for span in exporter.get_finished_spans()
        for ev in span.events
        if ev.name == "on_chat_model_stream"
    )


@pytest.mark.timeout(60)
def test_tokens_stream_only_to_an_events_subscriber(
    exporter: InMemorySpanExporter, stream_calls: list[int]
) -> None:
    case = CASES["chain"]  # the node calls ``pipeline.invoke`` (a chat model inside)

    # no subscriber: the model is not streamed, no token is recorded
    plain = case.build().invoke(case.input, case.config("tok-plain"))
    assert plain["answer"] == "forty two"
    assert stream_calls == []
    chat_spans = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert len(chat_spans) == 1
    assert GEN_AI_REQUEST_STREAM not in (chat_spans[0].attributes or {})
    assert token_span_events(exporter) == 0
    exporter.clear()

    # an events subscriber: the same ``invoke`` streams tokens to it
    with otelstream.subscribe(thread_id="tok-sub") as sub:
        runner = Runner(
            case.build(), case.input, {**case.config(), "configurable": {"thread_id": "tok-sub"}}
        )
        runner.start()
        items = list(sub)
        runner.join()
    assert runner.result["answer"] == "forty two"
    tokens = [e["data"]["chunk"].content for _, e in items if e["event"] == "on_chat_model_stream"]
    assert tokens[:2] == ["forty", " two"]  # then, on langchain-core >= 1, a closing "" chunk
    assert len(stream_calls) == 1
    assert token_span_events(exporter) > 0
    exporter.clear()

    # a debug-only subscriber wants no tokens: the model is not streamed
    with otelstream.subscribe(thread_id="tok-debug", modes="debug") as sub:
        runner = Runner(
            case.build(), case.input, {**case.config(), "configurable": {"thread_id": "tok-debug"}}
        )
        runner.start()
        assert list(sub)
        runner.join()
    assert len(stream_calls) == 1
    assert token_span_events(exporter) == 0

    # otelstream.astream_events reports as many token events as native astream_events
    config = case.config("tok-ae")

    async def ours() -> list[dict[str, Any]]:
        return [e async for e in otelstream.astream_events(case.build(), case.input, config)]

    ours_tokens = [e for e in asyncio.run(ours()) if e["event"] == "on_chat_model_stream"]
    native_tokens = [e for e in native_events(case, config) if e["event"] == "on_chat_model_stream"]
    native_contents = [t["data"]["chunk"].content for t in native_tokens]
    assert [t["data"]["chunk"].content for t in ours_tokens] == native_contents
    assert tokens == native_contents  # the subscriber's tokens too


# --- liveness: tokens reach the caller while the model is still streaming ----------------------
class HandshakeState(TypedDict):
    answer: str


class HandshakeModel(GenericFakeChatModel):
    """Streams its first token, then waits (bounded) until the consumer has seen it."""

    handshake: Any = None  # (event the consumer sets, list of wait results)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        seen, waited = self.handshake
        for i, chunk in enumerate(super()._stream(*args, **kwargs)):
            yield chunk
            if i == 0:
                waited.append(seen.wait(5))


def handshake_graph(seen: threading.Event, waited: list[bool]) -> Any:
    model = HandshakeModel(messages=iter(["one two three"]), handshake=(seen, waited))

    def answer(state: HandshakeState) -> dict[str, Any]:
        return {"answer": str(model.invoke("question").content)}

    return sequence(HandshakeState, answer)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["stream", "astream", "subscribe"])
def test_tokens_reach_the_caller_while_the_model_streams(
    exporter: InMemorySpanExporter, how: str
) -> None:
    """The model waits after its first token until the consumer has seen that token: without
    live delivery (tokens held until the step ends) it would wait in vain."""
    seen, waited = threading.Event(), []
    graph = handshake_graph(seen, waited)
    config = {"configurable": {"thread_id": f"live-{how}"}}
    tokens: list[str] = []

    def consume(mode: str, chunk: Any) -> None:
        if mode == "events" and chunk["event"] == "on_chat_model_stream":
            tokens.append(chunk["data"]["chunk"].content)
            seen.set()

    if how == "stream":
        for mode, chunk in otelstream.stream(graph, {}, config, stream_mode=["events", "updates"]):
            consume(mode, chunk)
    elif how == "astream":

        async def run() -> None:
            async for mode, chunk in otelstream.astream(
                graph, {}, config, stream_mode=["events", "values"]
            ):
                consume(mode, chunk)

        asyncio.run(run())
    else:
        with otelstream.subscribe(thread_id=f"live-{how}") as sub:
            runner = Runner(graph, {}, config).start()
            for mode, chunk in sub:
                consume(mode, chunk)
            runner.join()
    assert waited == [True], "the first token reached the consumer only after the step ended"
    assert "".join(tokens) == "one two three"


# --- chains outside graphs, and a graph's own config --------------------------------------------
def stream_events(exporter: InMemorySpanExporter, span_name: str) -> list[str]:
    """The names of the span events of the one span named ``span_name``."""
    (span,) = [s for s in exporter.get_finished_spans() if s.name == span_name]
    return [ev.name for ev in span.events]


@pytest.mark.timeout(60)
def test_a_streamed_chain_is_tapped_only_when_followed(exporter: InMemorySpanExporter) -> None:
    """A chain its caller streams gets the stream tap (its steps' chunks, its input) only when
    an ``events`` subscriber follows it; nobody following, or a debug-only subscriber,
    changes nothing."""
    chain, question = chains.sequence, {"question": "why?"}

    assert "".join(chain().stream(question)) == "forty two"
    assert "on_parser_stream" not in stream_events(exporter, "StrOutputParser")
    root = next(s for s in exporter.get_finished_spans() if s.name == "RunnableSequence")
    assert LC_RUN_INPUT not in (root.attributes or {})  # LangChain's placeholder: unknown
    exporter.clear()

    run_id = uuid.uuid4()
    with otelstream.subscribe(run_id=run_id, modes="debug") as sub:
        assert "".join(chain().stream(question, {"run_id": run_id})) == "forty two"
        assert list(sub) == []  # a chain has no debug stream
    assert "on_parser_stream" not in stream_events(exporter, "StrOutputParser")
    exporter.clear()

    run_id = uuid.uuid4()
    with otelstream.subscribe(run_id=run_id) as sub:
        assert "".join(chain().stream(question, {"run_id": run_id})) == "forty two"
        items = [event for _, event in sub]
    assert items[0]["event"] == "on_chain_start" and items[0]["data"] == {"input": question}
    parsed = [e["data"]["chunk"] for e in items if e["event"] == "on_parser_stream"]
    assert "".join(parsed) == "forty two"
    assert "on_parser_stream" in stream_events(exporter, "StrOutputParser")
    root = next(s for s in exporter.get_finished_spans() if s.name == "RunnableSequence")
    assert json.loads(str((root.attributes or {})[LC_RUN_INPUT])) == question


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["stream", "astream"])
def test_stream_keeps_a_graphs_own_config(exporter: InMemorySpanExporter, how: str) -> None:
    """``otelstream.stream``/``astream`` pass the caller's config as ``graph.stream`` gets it:
    the graph's own ``with_config`` values (here a recursion limit) still apply."""
    graph = long_loop(5).with_config(recursion_limit=3)
    with pytest.raises(GraphRecursionError):
        list(graph.stream({"count": 0, "log": []}, stream_mode="debug"))
    with pytest.raises(GraphRecursionError):
        if how == "stream":
            list(otelstream.stream(graph, {"count": 0, "log": []}, stream_mode=["debug", "events"]))
        else:

            async def consume() -> None:
                async for _ in otelstream.astream(
                    graph, {"count": 0, "log": []}, stream_mode=["debug", "events"]
                ):
                    pass

            asyncio.run(consume())

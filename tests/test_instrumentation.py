"""instrument()/uninstrument() lifecycle, options, content capture, and transparency.

Every test runs real LangGraph graphs against a real SDK ``TracerProvider`` with an
in-memory exporter; the only fakes are langchain-core fake chat models.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable
from typing import Annotated, Any

import pytest
import wrapt
from conftest import handler_counts, hooked, memory_provider, one
from graphs import Counter, failing, linear, sequence
from hostile import MARKER_RE
from langchain_core.callbacks import AsyncCallbackManager, CallbackManager
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.config import get_config, get_stream_writer
from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from typing_extensions import TypedDict

import otelstream
from otelstream.instrumentor import OtelStreamInstrumentor

WORKFLOW = "invoke_workflow LangGraph"
REDACTED = "[redacted]"
CONTENT_KEYS = ("langchain.run.input", "langchain.run.output")

_PROXY_TYPES = tuple(
    t
    for t in (
        getattr(wrapt, name, None)
        for name in ("ObjectProxy", "BaseObjectProxy", "FunctionWrapper", "BoundFunctionWrapper")
    )
    if isinstance(t, type)
)


pytestmark = pytest.mark.usefixtures("isolated")


# --- graphs ------------------------------------------------------------------------------------
class Text(TypedDict, total=False):
    text: str
    note: str


LINEAR_INPUT = {"count": 1, "log": []}
LINEAR_OUTPUT = {"count": 20, "log": ["a", "b", "c"]}
LINEAR_SPANS = {WORKFLOW, "node a", "node b", "node c"}


def echo_graph(extra: str = "") -> Any:
    """Copies its input text to the output (plus ``extra``) and writes it to the stream."""

    def echo(s: Text) -> dict[str, Any]:
        get_stream_writer()({"echo": s["text"]})
        return {"note": s["text"] + extra}

    return sequence(Text, echo)


def names(spans: Any) -> list[str]:
    return sorted(s.name for s in spans)


def all_string_values(spans: Any) -> list[str]:
    """Every string exported: span names, status descriptions, attributes, event attributes."""
    out: list[str] = []

    def add(attributes: Any) -> None:
        for value in (attributes or {}).values():
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, (tuple, list)):
                out.extend(v for v in value if isinstance(v, str))

    for s in spans:
        out.append(s.name)
        if s.status.description:
            out.append(s.status.description)
        add(s.attributes)
        for event in s.events:
            out.append(event.name)
            add(event.attributes)
    return out


# --- instrument() / uninstrument() -------------------------------------------------------------
def test_instrument_twice_adds_one_handler_and_one_set_of_spans() -> None:
    provider, memory = memory_provider()
    first = otelstream.instrument(tracer_provider=provider)
    other_provider, other_memory = memory_provider()
    second = otelstream.instrument(tracer_provider=other_provider)
    assert first is second
    assert first.is_instrumented_by_opentelemetry

    assert handler_counts(CallbackManager.configure()) == (1, 1)
    assert handler_counts(AsyncCallbackManager.configure()) == (1, 1)
    parent = CallbackManager.configure()
    assert handler_counts(CallbackManager.configure(inheritable_callbacks=parent)) == (1, 1)
    assert handler_counts(parent.copy()) == (1, 1)
    assert handler_counts(copy.deepcopy(parent)) == (1, 1)

    assert linear().invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    spans = memory.get_finished_spans()
    assert len(spans) == 4
    assert set(names(spans)) == LINEAR_SPANS
    assert other_memory.get_finished_spans() == ()  # the second call changed nothing

    memory.clear()
    assert linear().invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert len(memory.get_finished_spans()) == 4


def test_reinstrument_after_uninstrument_does_not_double() -> None:
    provider, old_memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    old_manager = CallbackManager.configure()
    otelstream.uninstrument()
    assert handler_counts(CallbackManager.configure()) == (0, 0)

    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    assert handler_counts(CallbackManager.configure()) == (1, 1)
    graph = linear()
    assert graph.invoke(LINEAR_INPUT, {"callbacks": old_manager}) == LINEAR_OUTPUT
    assert graph.invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    spans = memory.get_finished_spans()
    assert names(spans) == sorted([*LINEAR_SPANS, *LINEAR_SPANS])
    assert old_memory.get_finished_spans() == ()


def test_uninstrument_removes_wrapt_wrappers() -> None:
    assert _PROXY_TYPES
    originals = hooked()
    for name, func in originals.items():
        assert not isinstance(func, _PROXY_TYPES), name

    provider, _ = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    wrapped = hooked()
    for name, func in wrapped.items():
        assert isinstance(func, _PROXY_TYPES), f"{name} is not wrapped while instrumented"

    otelstream.uninstrument()
    restored = hooked()
    for name, func in restored.items():
        assert not isinstance(func, _PROXY_TYPES), f"{name} still wrapped after uninstrument()"
        assert not hasattr(func, "__wrapped__"), name
        assert func is originals[name], name
    assert not OtelStreamInstrumentor().is_instrumented_by_opentelemetry


def test_no_spans_after_uninstrument() -> None:
    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    graph = linear()
    assert graph.invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert set(names(memory.get_finished_spans())) == LINEAR_SPANS
    memory.clear()

    otelstream.uninstrument()
    assert graph.invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert linear().invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert list(linear().stream(LINEAR_INPUT))
    assert memory.get_finished_spans() == ()


async def test_no_spans_after_uninstrument_async() -> None:
    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    graph = linear()
    assert await graph.ainvoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert len(memory.get_finished_spans()) == 4
    memory.clear()
    otelstream.uninstrument()
    assert await graph.ainvoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert memory.get_finished_spans() == ()


def test_no_spans_after_uninstrument_reusing_live_config_and_manager() -> None:
    """Managers and configs created while instrumented still hold the handler: it is inert."""
    captured: dict[str, Any] = {}

    def grab(s: Counter) -> dict[str, Any]:
        captured.setdefault("config", get_config())
        return {"log": ["grab"]}

    grabber = sequence(Counter, grab)

    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    manager = CallbackManager.configure()
    async_manager = AsyncCallbackManager.configure()
    config_with_manager = {"callbacks": manager, "tags": ["reuse"]}
    assert grabber.invoke({"count": 0, "log": []}) == {"count": 0, "log": ["grab"]}
    node_config = captured["config"]
    assert handler_counts(node_config["callbacks"])[1] == 1  # the live handler was captured
    assert memory.get_finished_spans()
    memory.clear()

    otelstream.uninstrument()
    assert handler_counts(manager) == (1, 1)  # still held: must be inert
    graph = linear()
    assert graph.invoke(LINEAR_INPUT, config_with_manager) == LINEAR_OUTPUT
    assert graph.invoke(LINEAR_INPUT, {"callbacks": manager.copy()}) == LINEAR_OUTPUT
    assert graph.invoke(LINEAR_INPUT, node_config) == LINEAR_OUTPUT
    assert graph.invoke(LINEAR_INPUT, {"callbacks": async_manager}) == LINEAR_OUTPUT
    assert list(graph.stream(LINEAR_INPUT, config_with_manager, stream_mode="updates"))
    assert memory.get_finished_spans() == ()


def test_uninstrument_when_not_instrumented_is_a_noop() -> None:
    before = hooked()
    otelstream.uninstrument()
    otelstream.uninstrument()
    OtelStreamInstrumentor().uninstrument()  # the BaseInstrumentor path too
    assert hooked() == before
    assert not OtelStreamInstrumentor().is_instrumented_by_opentelemetry
    assert handler_counts(CallbackManager.configure()) == (0, 0)
    assert linear().invoke(LINEAR_INPUT) == LINEAR_OUTPUT

    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)  # still instrumentable afterwards
    assert linear().invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert len(memory.get_finished_spans()) == 4


def test_unknown_option_raises_type_error() -> None:
    before = hooked()
    with pytest.raises(TypeError, match=r"unknown otelstream option\(s\): capture_contnet"):
        otelstream.instrument(capture_contnet=False)
    with pytest.raises(TypeError) as info:
        otelstream.instrument(bogus=1, also_bogus=2)
    assert "also_bogus" in str(info.value) and "bogus" in str(info.value)
    assert not OtelStreamInstrumentor().is_instrumented_by_opentelemetry
    assert hooked() == before


def test_unknown_option_rejected_even_when_already_instrumented() -> None:
    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    with pytest.raises(TypeError, match="unknown otelstream option"):
        otelstream.instrument(nope=True)
    assert linear().invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    assert len(memory.get_finished_spans()) == 4


def test_bad_option_values_raise() -> None:
    with pytest.raises(TypeError, match="redact"):
        otelstream.instrument(redact="not callable")
    with pytest.raises(ValueError, match="max_attribute_length"):
        otelstream.instrument(max_attribute_length=0)
    assert not OtelStreamInstrumentor().is_instrumented_by_opentelemetry


# --- content capture ---------------------------------------------------------------------------
SECRET = "s3cr3t-token-123"


def _assert_redacted(spans: Any) -> None:
    with_content = [s for s in spans if any(k in (s.attributes or {}) for k in CONTENT_KEYS)]
    assert {s.name for s in with_content} >= {WORKFLOW, "node echo"}
    for s in with_content:
        for key in CONTENT_KEYS:
            assert s.attributes[key] == REDACTED, (s.name, key)
    for s in spans:
        for event in s.events:
            for key, value in (event.attributes or {}).items():
                if key.endswith((".data", ".data_list", ".value")):
                    assert value == REDACTED, (s.name, event.name, key)
    assert not any(SECRET in v for v in all_string_values(spans))


def test_capture_content_env_false_redacts(
    monkeypatch: pytest.MonkeyPatch, instrument_with: Callable[..., InMemorySpanExporter]
) -> None:
    monkeypatch.setenv("OTELSTREAM_CAPTURE_CONTENT", "false")
    memory = instrument_with()
    result = echo_graph().invoke({"text": SECRET})
    assert result == {"text": SECRET, "note": SECRET}
    spans = memory.get_finished_spans()
    _assert_redacted(spans)
    assert one(spans, "node echo").events  # the custom write is still recorded, redacted


def test_capture_content_option_false_redacts(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    memory = instrument_with(capture_content=False)
    assert echo_graph().invoke({"text": SECRET}) == {"text": SECRET, "note": SECRET}
    _assert_redacted(memory.get_finished_spans())


def test_capture_content_option_wins_over_env(
    monkeypatch: pytest.MonkeyPatch, instrument_with: Callable[..., InMemorySpanExporter]
) -> None:
    monkeypatch.setenv("OTELSTREAM_CAPTURE_CONTENT", "false")
    memory = instrument_with(capture_content=True)
    echo_graph().invoke({"text": "visible"})
    root = one(memory.get_finished_spans(), WORKFLOW)
    assert json.loads(root.attributes["langchain.run.input"]) == {"text": "visible"}


def test_content_captured_by_default(instrument_with: Callable[..., InMemorySpanExporter]) -> None:
    memory = instrument_with()
    echo_graph().invoke({"text": "hello"})
    spans = memory.get_finished_spans()
    root = one(spans, WORKFLOW)
    assert json.loads(root.attributes["langchain.run.input"]) == {"text": "hello"}
    assert json.loads(root.attributes["langchain.run.output"]) == {"text": "hello", "note": "hello"}
    node = one(spans, "node echo")
    [write] = [e for e in node.events if e.name == "langgraph.custom"]
    assert json.loads(write.attributes["langgraph.custom.data"]) == {"echo": "hello"}


def test_redact_hook_scrubs_before_attribute_is_set(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    calls: list[tuple[str, str]] = []

    def scrub(key: str, text: str) -> str:
        calls.append((key, text))
        return text.replace(SECRET, "***")

    memory = instrument_with(redact=scrub)
    result = echo_graph(extra=" and " + SECRET).invoke({"text": f"token={SECRET}"})
    assert result == {"text": f"token={SECRET}", "note": f"token={SECRET} and {SECRET}"}

    spans = memory.get_finished_spans()
    root = one(spans, WORKFLOW)
    assert json.loads(root.attributes["langchain.run.input"]) == {"text": "token=***"}
    assert json.loads(root.attributes["langchain.run.output"]) == {
        "text": "token=***",
        "note": "token=*** and ***",
    }
    node = one(spans, "node echo")
    assert json.loads(node.attributes["langchain.run.output"]) == {"note": "token=*** and ***"}
    [write] = [e for e in node.events if e.name == "langgraph.custom"]
    assert json.loads(write.attributes["langgraph.custom.data"]) == {"echo": "token=***"}
    assert not any(SECRET in v for v in all_string_values(spans))

    keys = {key for key, _ in calls}
    assert {"input", "output", "custom"} <= keys
    for _, text in calls:
        json.loads(text)  # the hook sees the JSON form of the payload
    # The hook sees the original text: scrubbing happens inside otelstream, before export.
    assert any(SECRET in text for _, text in calls)


def test_redact_hook_sees_metadata(instrument_with: Callable[..., InMemorySpanExporter]) -> None:
    """``Settings.redact`` documents ``"metadata"`` among the keys it scrubs."""
    keys: set[str] = set()

    def scrub(key: str, text: str) -> str:
        keys.add(key)
        return text.replace(SECRET, "***")

    memory = instrument_with(redact=scrub)
    config = {"metadata": {"api_key": SECRET}}
    assert echo_graph().invoke({"text": "x"}, config) == {"text": "x", "note": "x"}
    spans = memory.get_finished_spans()
    root = one(spans, WORKFLOW)
    assert json.loads(root.attributes["langchain.run.metadata"])["api_key"] == "***"
    assert not any(SECRET in v for v in all_string_values(spans))
    assert "metadata" in keys


def test_redact_hook_that_raises_gives_redacted_and_run_goes_on(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    def broken(key: str, text: str) -> str:
        raise RuntimeError("redactor exploded")

    failures_before = otelstream.failure_counts().get("redaction hook", 0)
    memory = instrument_with(redact=broken)
    assert echo_graph().invoke({"text": SECRET}) == {"text": SECRET, "note": SECRET}
    assert linear().invoke(LINEAR_INPUT) == LINEAR_OUTPUT
    spans = memory.get_finished_spans()
    assert set(names(spans)) >= {WORKFLOW, "node echo", *LINEAR_SPANS}
    for s in spans:
        assert s.status.status_code != StatusCode.ERROR, s.name
        for key in CONTENT_KEYS:
            if key in (s.attributes or {}):
                assert s.attributes[key] == REDACTED, (s.name, key)
    assert not any(SECRET in v for v in all_string_values(spans))
    assert otelstream.failure_counts().get("redaction hook", 0) > failures_before


def test_max_attribute_length_truncates_with_marker(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    limit = 200
    memory = instrument_with(max_attribute_length=limit)
    long_text = "".join(chr(ord("a") + i % 26) for i in range(1_000))
    assert echo_graph().invoke({"text": long_text}) == {"text": long_text, "note": long_text}
    spans = memory.get_finished_spans()
    root = one(spans, WORKFLOW)
    full_input = json.dumps({"text": long_text}, separators=(",", ":"))
    value = root.attributes["langchain.run.input"]
    assert len(value) <= limit
    match = MARKER_RE.search(value)
    assert match is not None, value[-40:]
    kept = value[: match.start()]
    assert full_input.startswith(kept)
    assert int(match.group(1)) == len(full_input) - len(kept)
    assert set(root.attributes["otelstream.truncated"]) >= {"input", "output"}

    node = one(spans, "node echo")
    assert set(node.attributes["otelstream.truncated"]) >= {"input", "output", "custom"}
    for s in spans:
        for v in all_string_values([s]):
            assert len(v) <= limit


def test_max_attribute_length_from_env(
    monkeypatch: pytest.MonkeyPatch, instrument_with: Callable[..., InMemorySpanExporter]
) -> None:
    monkeypatch.setenv("OTELSTREAM_MAX_ATTRIBUTE_LENGTH", "100")
    memory = instrument_with()
    echo_graph().invoke({"text": "y" * 500})
    root = one(memory.get_finished_spans(), WORKFLOW)
    value = root.attributes["langchain.run.input"]
    assert len(value) <= 100
    assert MARKER_RE.search(value)
    assert "input" in root.attributes["otelstream.truncated"]


def test_small_max_attribute_length_is_respected_or_rejected(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    """A limit shorter than the truncation marker cannot be honoured: reject it, or keep to it
    (the ``OTELSTREAM_MAX_ATTRIBUTE_LENGTH`` environment variable is clamped to >= 64)."""
    try:
        memory = instrument_with(max_attribute_length=10)
    except ValueError:
        return
    echo_graph().invoke({"text": "z" * 300})
    for s in memory.get_finished_spans():
        for key in CONTENT_KEYS:
            value = (s.attributes or {}).get(key)
            if value is not None:
                assert len(value) <= 10, (s.name, key, value)


def test_error_attributes_are_bounded(instrument_with: Callable[..., InMemorySpanExporter]) -> None:
    """Every string attribute, including the recorded exception's, respects the limit."""
    limit = 200
    memory = instrument_with(max_attribute_length=limit)
    with pytest.raises(Boom):
        failing(Boom("m" * 1_000)).invoke({"count": 0, "log": []})
    spans = memory.get_finished_spans()
    node = one(spans, "node boom")
    assert node.status.status_code == StatusCode.ERROR
    assert len(node.status.description or "") <= limit
    for s in spans:
        for value in all_string_values([s]):
            assert len(value) <= limit, (s.name, value[:60], len(value))


def test_short_content_is_not_marked_truncated(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    memory = instrument_with(max_attribute_length=10_000)
    echo_graph().invoke({"text": "short"})
    for s in memory.get_finished_spans():
        assert "otelstream.truncated" not in (s.attributes or {}), s.name


# --- transparency: the graph behaves exactly as without instrumentation ------------------------
class Boom(RuntimeError):
    pass


def test_user_exception_propagates_unchanged(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    plain_error = Boom("kaboom 1")
    with pytest.raises(Boom) as plain:
        failing(plain_error).invoke({"count": 0, "log": []})
    assert plain.value is plain_error

    memory = instrument_with()
    error = Boom("kaboom 2")
    with pytest.raises(Boom) as info:
        failing(error).invoke({"count": 0, "log": []})
    assert info.value is error
    assert str(info.value) == "kaboom 2"

    spans = memory.get_finished_spans()
    root = one(spans, WORKFLOW)
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes["error.type"] == "Boom"
    node = one(spans, "node boom")
    assert node.status.status_code == StatusCode.ERROR
    assert any(e.name == "exception" for e in node.events)


async def test_user_exception_propagates_unchanged_async(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    memory = instrument_with()
    error = Boom("async kaboom")
    with pytest.raises(Boom) as info:
        await failing(error).ainvoke({"count": 0, "log": []})
    assert info.value is error
    with pytest.raises(Boom):
        async for _ in failing(Boom("again")).astream({"count": 0, "log": []}):
            pass
    roots = [s for s in memory.get_finished_spans() if s.name == WORKFLOW]
    assert len(roots) == 2
    assert all(r.status.status_code == StatusCode.ERROR for r in roots)


class Chat(TypedDict):
    messages: Annotated[list[BaseMessage], operator.add]
    steps: Annotated[list[str], operator.add]
    tags: set[str]


def rich_graph() -> Any:
    """Nodes, a subgraph, a fake chat model, custom writes, and a conditional loop."""
    model = GenericFakeChatModel(
        messages=iter([AIMessage(content="hello there friend", id="ai-1")] * 10)
    )

    def inner(s: Chat) -> dict[str, Any]:
        get_stream_writer()({"inner": len(s["steps"])})
        return {"steps": ["inner"]}

    def think(s: Chat) -> dict[str, Any]:
        writer = get_stream_writer()
        writer({"thinking": len(s["steps"])})
        reply = model.invoke(s["messages"])
        writer("plain string write")
        return {"messages": [reply], "steps": ["think"], "tags": {*s["tags"], "t"}}

    def route(s: Chat) -> str:
        return "think" if s["steps"].count("think") < 2 else "sub"

    g = StateGraph(Chat)
    g.add_node("think", think)
    g.add_node("sub", sequence(Chat, inner, name="inner_graph"))
    g.add_edge(START, "think")
    g.add_conditional_edges("think", route, ["think", "sub"])
    g.add_edge("sub", END)
    return g.compile()


RICH_INPUT = {"messages": [HumanMessage("hi", id="h-1")], "steps": [], "tags": {"start"}}
STREAM_MODES = ["updates", "values", "custom"]


def run_rich() -> tuple[Any, list[Any], list[Any]]:
    result = rich_graph().invoke(RICH_INPUT)
    streamed = list(rich_graph().stream(RICH_INPUT, stream_mode=STREAM_MODES))
    with_subgraphs = [
        # a subgraph's namespace holds its task id, random per run: keep the node name
        (tuple(part.split(":")[0] for part in namespace), mode, payload)
        for namespace, mode, payload in rich_graph().stream(
            RICH_INPUT, stream_mode=STREAM_MODES, subgraphs=True
        )
    ]
    assert any(namespace == ("sub",) for namespace, _, _ in with_subgraphs)
    return result, streamed, with_subgraphs


async def arun_rich() -> tuple[Any, list[Any]]:
    result = await rich_graph().ainvoke(RICH_INPUT)
    streamed = [c async for c in rich_graph().astream(RICH_INPUT, stream_mode=STREAM_MODES)]
    return result, streamed


def test_outputs_identical_with_and_without_instrumentation(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    plain = run_rich()
    assert plain[0]["steps"][-1] == "inner"
    assert plain[0]["steps"].count("think") >= 2
    assert plain[0]["messages"][-1].content == "hello there friend"
    assert ("custom", {"thinking": 0}) in plain[1]

    memory = instrument_with()
    traced = run_rich()
    assert traced == plain
    assert len([s for s in memory.get_finished_spans() if s.name == WORKFLOW]) == 3


def test_outputs_identical_with_capture_tokens(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    plain = run_rich()
    memory = instrument_with(capture_tokens=True)
    assert run_rich() == plain
    chats = [s for s in memory.get_finished_spans() if s.name.startswith("chat")]
    assert chats
    assert any(any(e.name == "on_chat_model_stream" for e in s.events) for s in chats)


async def test_async_outputs_identical_with_and_without_instrumentation(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    plain = await arun_rich()
    instrument_with()
    assert await arun_rich() == plain


def test_outputs_identical_after_uninstrument(
    instrument_with: Callable[..., InMemorySpanExporter],
) -> None:
    plain = run_rich()
    instrument_with()
    run_rich()
    otelstream.uninstrument()
    assert run_rich() == plain


# --- OpenTelemetry's suppression key --------------------------------------------------------
def test_nothing_is_recorded_inside_suppress_instrumentation() -> None:
    """Inside ``suppress_instrumentation()`` (as the contrib instrumentations honour it) a
    graph runs as usual and otelstream records no span, no metric and no stream item; the
    same run outside it is recorded in full."""
    from graphs import CASES
    from opentelemetry.instrumentation.utils import suppress_instrumentation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    provider, memory = memory_provider()
    reader = InMemoryMetricReader()
    otelstream.instrument(
        tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    case = CASES["agent"]

    def run_followed(thread_id: str) -> tuple[Any, list[Any], bool]:
        with otelstream.subscribe(thread_id=thread_id, modes=("events", "debug")) as sub:
            result = case.build().invoke(case.input, case.config(thread_id))
            items, ended = sub.drain()
        return result, items, ended

    with suppress_instrumentation():
        quiet, items, ended = run_followed("quiet")
    assert memory.get_finished_spans() == ()
    assert reader.get_metrics_data() is None or not any(
        sm.metrics
        for rm in reader.get_metrics_data().resource_metrics  # type: ignore[union-attr]
        for sm in rm.scope_metrics
    )
    assert (items, ended) == ([], False), "a suppressed run reached a subscriber"

    loud, items, ended = run_followed("loud")
    assert loud["messages"][-1].content == quiet["messages"][-1].content
    assert len(memory.get_finished_spans()) > 5
    assert ended and {mode for mode, _ in items} == {"events", "debug"}
    assert reader.get_metrics_data() is not None

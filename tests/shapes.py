"""More shapes users build, beside the graphs of ``graphs.py``: LCEL chains outside any graph
(``chains.py``), the functional API, the prebuilt agent (parallel tool calls, a failing
tool), tools returning ``Command``, ``Command(goto=...)``, ``Send`` map-reduce to subgraphs
and to models, nested subgraphs, a subgraph a node invokes itself, interrupt and resume (in a
subgraph too), retries, batches and chains streamed inside nodes.

Each is a ``Case`` like the corpus's; only chat models are fake.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import warnings
from importlib.metadata import version
from typing import Annotated, Any

from chains import CHAINS, answering
from graphs import (
    Case,
    Counter,
    FakeChatModel,
    TextState,
    add,
    answer,
    ask_tool,
    divide,
    sequence,
)
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent
from langgraph.types import Command, RetryPolicy, Send, interrupt
from packaging.version import Version
from typing_extensions import TypedDict


# --- the functional API -------------------------------------------------------------------------
# Tasks at module level: LangGraph 0.6 misreads a nested task's postponed annotations.
@task
def double(x: int) -> int:
    return x * 2


@task
def total(values: list[int]) -> int:
    return sum(values)


def functional() -> Any:
    @entrypoint(checkpointer=InMemorySaver())
    def workflow(n: int) -> dict[str, int]:
        futures = [double(i) for i in range(n)]
        return {"total": total([f.result() for f in futures]).result()}

    return workflow


def functional_async() -> Any:
    """An async entrypoint whose two tasks (one calling a chat model) run in parallel."""
    model = FakeChatModel(responses=[answer("a short poem")])

    @task
    async def write(topic: str) -> str:
        message = await model.ainvoke([HumanMessage(f"write about {topic}")])
        return str(message.content)

    @task
    async def title(topic: str) -> str:
        await asyncio.sleep(0)
        return topic.title()

    @entrypoint()
    async def poet(topic: str) -> dict[str, str]:
        text, heading = write(topic), title(topic)
        return {"title": await heading, "text": await text}

    return poet


# --- agents -------------------------------------------------------------------------------------
@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def _parallel_calls() -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {"name": "add", "args": {"a": 1, "b": 2}, "id": "call_add"},
            {"name": "multiply", "args": {"a": 3, "b": 4}, "id": "call_mul"},
        ],
    )


def react_agent() -> Any:
    """``create_react_agent`` with two tool calls in one model turn (run in parallel)."""
    model = FakeChatModel(responses=[_parallel_calls(), answer("3 and 12")])
    with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.0, still served
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_react_agent(model, [add, multiply], checkpointer=InMemorySaver())


@tool
def remember(fact: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Store a fact in the graph state."""
    message = ToolMessage(f"noted: {fact}", tool_call_id=tool_call_id)
    return Command(update={"facts": [fact], "messages": [message]})


class FactState(MessagesState):
    facts: Annotated[list[str], operator.add]


def tool_command() -> Any:
    """A tool that updates the graph state with a ``Command``."""
    model = FakeChatModel(
        responses=[ask_tool("remember", "call_fact", fact="sky is blue"), answer("noted")]
    )

    def call_model(s: FactState) -> dict[str, Any]:
        return {"messages": [model.invoke(s["messages"])]}

    def route(s: FactState) -> str:
        return "tools" if getattr(s["messages"][-1], "tool_calls", None) else END

    g = StateGraph(FactState)
    g.add_node("model", call_model)
    g.add_node("tools", ToolNode([remember]))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", route, ["tools", END])
    g.add_edge("tools", "model")
    return g.compile()


# --- control flow -------------------------------------------------------------------------------
def command_goto() -> Any:
    """Nodes that route with ``Command(goto=...)`` instead of edges."""

    def triage(s: Counter) -> Command[Any]:
        return Command(goto="big" if s["count"] > 5 else "small", update={"log": ["triage"]})

    def small(s: Counter) -> Command[Any]:
        return Command(goto="finish", update={"count": s["count"] + 10, "log": ["small"]})

    def big(s: Counter) -> dict[str, Any]:
        return {"log": ["big"]}

    def finish(s: Counter) -> dict[str, Any]:
        return {"log": ["finish"]}

    g = StateGraph(Counter)
    g.add_node("triage", triage, destinations=("small", "big"))
    g.add_node("small", small, destinations=("finish",))
    g.add_node("big", big)
    g.add_node("finish", finish)
    g.add_edge(START, "triage")
    g.add_edge("finish", END)
    g.add_edge("big", END)
    return g.compile()


class Essay(TypedDict):
    topics: list[str]
    drafts: Annotated[list[str], operator.add]


class Section(TypedDict):
    topic: str
    drafts: Annotated[list[str], operator.add]


def send_subgraphs() -> Any:
    """Map-reduce: ``Send`` one task per topic to a compiled subgraph, then a reduce node."""

    def outline(s: Section) -> dict[str, Any]:
        return {"drafts": [f"outline of {s['topic']}"]}

    def write(s: Section) -> dict[str, Any]:
        return {"drafts": [f"text on {s['topic']}"]}

    section = sequence(Section, outline, write, name="section_writer")

    def plan(s: Essay) -> dict[str, Any]:
        return {}

    def fan_out(s: Essay) -> list[Send]:
        return [Send("section", {"topic": t, "drafts": []}) for t in s["topics"]]

    def reduce(s: Essay) -> dict[str, Any]:
        return {"drafts": [f"{len(s['drafts'])} parts"]}

    g = StateGraph(Essay)
    g.add_node("plan", plan)
    g.add_node("section", section)
    g.add_node("reduce", reduce)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", fan_out, ["section"])
    g.add_edge("section", "reduce")
    g.add_edge("reduce", END)
    return g.compile()


def nested_subgraphs() -> Any:
    """A subgraph inside a subgraph (two levels), the innermost calling a chat model."""
    model = FakeChatModel(responses=[answer("deep answer")])

    def deepest(s: TextState) -> dict[str, Any]:
        return {"answer": str(model.invoke(s["question"]).content)}

    def middle(s: TextState) -> dict[str, Any]:
        return {"question": s["question"] + "?"}

    level2 = sequence(TextState, deepest, name="level2")
    level1 = sequence(TextState, middle, ("level2", level2), name="level1")
    return sequence(TextState, ("level1", level1))


def approval() -> Any:
    """A node that asks a human (``interrupt``); the compared run resumes it."""

    def draft(s: TextState) -> dict[str, Any]:
        return {"answer": "draft"}

    def review(s: TextState) -> dict[str, Any]:
        verdict = interrupt({"question": "approve?", "draft": s["answer"]})
        return {"answer": f"{s['answer']} ({verdict})"}

    def publish(s: TextState) -> dict[str, Any]:
        return {"answer": s["answer"].upper()}

    return sequence(TextState, draft, review, publish, checkpointer=InMemorySaver())


def interrupt_first(graph: Any, config: dict[str, Any]) -> None:
    """Run the graph up to its interrupt, so the compared run resumes it."""
    graph.invoke({"question": "q", "answer": ""}, config)


class Flaky(ConnectionError):
    """A transient failure (LangGraph's default retry policy retries connection errors)."""


def retried() -> Any:
    """A node that fails once and succeeds on its retry (``RetryPolicy``)."""
    attempts: list[int] = []

    def fetch(s: Counter) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise Flaky("first attempt fails")
        return {"count": len(attempts), "log": ["fetched"]}

    g = StateGraph(Counter)
    g.add_node("fetch", fetch, retry_policy=RetryPolicy(initial_interval=0.001, jitter=False))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", END)
    return g.compile()


def streaming_node() -> Any:
    """An async node that streams a chain itself and returns the joined text."""
    pipeline = answering("streamed inside")

    async def respond(s: TextState) -> dict[str, Any]:
        parts = [part async for part in pipeline.astream({"question": s["question"]})]
        await asyncio.sleep(0)
        return {"answer": "".join(parts)}

    return sequence(TextState, respond)


def failing_tool_agent() -> Any:
    """The prebuilt agent whose tool raises, and its ``ToolNode`` re-raises."""
    model = FakeChatModel(responses=[ask_tool("divide", "call_div", a=1, b=0), answer("no")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_react_agent(model, ToolNode([divide], handle_tool_errors=False))


class Topics(TypedDict):
    topics: list[str]
    notes: Annotated[list[str], operator.add]


def send_models(asynchronous: bool = False) -> Any:
    """``Send`` one task per topic, each calling a chat model: the tokens of parallel calls
    (in threads, or with ``asynchronous`` nodes on one event loop)."""

    def fan_out(s: Topics) -> list[Send]:
        return [Send("note", {"topics": [t], "notes": []}) for t in s["topics"]]

    def model(s: Topics) -> Any:
        return FakeChatModel(responses=[answer(f"about {s['topics'][0]} things")])

    def note(s: Topics) -> dict[str, Any]:
        return {"notes": [str(model(s).invoke(s["topics"][0]).content)]}

    async def anote(s: Topics) -> dict[str, Any]:
        return {"notes": [str((await model(s).ainvoke(s["topics"][0])).content)]}

    g = StateGraph(Topics)
    g.add_node("plan", lambda s: {})
    g.add_node("note", anote if asynchronous else note)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", fan_out, ["note"])
    g.add_edge("note", END)
    return g.compile()


def _counter_subgraph() -> Any:
    inner = ("inner", lambda s: {"count": s["count"] + 1, "log": ["inner"]})
    return sequence(Counter, inner, name="called")


def invoked_subgraph() -> Any:
    """A node that invokes a subgraph itself (different state: it maps in and out)."""
    called = _counter_subgraph()

    def outer(s: Counter) -> dict[str, Any]:
        result = called.invoke({"count": s["count"], "log": []})
        return {"count": result["count"], "log": ["outer"]}

    return sequence(Counter, outer)


def invoked_subgraph_async() -> Any:
    """An async node that awaits a subgraph itself."""
    called = _counter_subgraph()

    async def outer(s: Counter) -> dict[str, Any]:
        result = await called.ainvoke({"count": s["count"], "log": []})
        return {"count": result["count"], "log": ["outer"]}

    return sequence(Counter, outer)


def subgraph_approval() -> Any:
    """An ``interrupt`` inside a subgraph; the compared run resumes it."""

    def ask(s: TextState) -> dict[str, Any]:
        return {"answer": str(interrupt("ok?"))}

    asker = sequence(TextState, ask, name="asker")
    return sequence(TextState, ("sub", asker), checkpointer=InMemorySaver())


def breakpoint_graph() -> Any:
    """A static breakpoint (``interrupt_before``); the resumed run continues with ``None``."""
    return sequence(
        Counter,
        ("draft", lambda s: {"log": ["draft"]}),
        ("send", lambda s: {"log": ["send"]}),
        checkpointer=InMemorySaver(),
        interrupt_before=["send"],
    )


def to_breakpoint(graph: Any, config: dict[str, Any]) -> None:
    graph.invoke({"count": 0, "log": []}, config)


def streaming_node_sync() -> Any:
    """A sync node that streams a chain itself."""
    pipeline = answering("streamed in sync")

    def respond(s: TextState) -> dict[str, Any]:
        return {"answer": "".join(pipeline.stream({"question": s["question"]}))}

    return sequence(TextState, respond)


def batched(runnable: Any, input: Any, config: dict[str, Any]) -> None:
    """Start the followed run as one input of a ``batch`` (beside another run)."""
    other = {**config, "configurable": {**config["configurable"], "thread_id": "neighbour"}}
    runnable.batch([input, input], [config, other])


_Q = {"question": "what colour is the sky"}
_SYNC_TASKS_BUG = (
    "LangGraph 0.6's own astream_events gives every sync @task the result None "
    "(langgraph#4084): nothing native to compare with"
    if Version(version("langgraph")) < Version("1.0")
    else None
)

_TEXT = {"question": "q", "answer": ""}


def invoked_subgraph_node_chunks(native: list[Any], ours: list[Any]) -> list[Any]:
    """A graph invoked synchronously reports the node outputs (``on_chain_stream``) of a
    subgraph that one of its nodes invokes itself, which ``astream_events`` does not stream
    (it streams those of a subgraph added as a node): at run time the two cannot be told
    apart. Those chunks are the subgraph's nodes', three levels down, and the only ones."""

    def inner_chunk(event: dict[str, Any]) -> bool:
        return event["event"] == "on_chain_stream" and len(event["parent_ids"]) == 3

    extra = [e for e in ours if inner_chunk(e)]
    inner_nodes = [e for e in ours if e["event"] == "on_chain_start" and len(e["parent_ids"]) == 3]
    assert extra and len(extra) == len(inner_nodes), (len(extra), len(inner_nodes))
    assert not any(inner_chunk(e) for e in native)
    return [e for e in ours if not inner_chunk(e)]


SHAPES: list[Case] = [
    *CHAINS,
    Case("functional", functional, 3, True, parallel=True, native_bug=_SYNC_TASKS_BUG),
    Case("functional_async", functional_async, "the sea", is_async=True, parallel=True),
    Case(
        "react_agent",
        react_agent,
        {"messages": [HumanMessage("1+2, 3*4?", id="h1")]},
        True,
        parallel=True,
    ),
    Case(
        "failing_tool_agent",
        failing_tool_agent,
        {"messages": [HumanMessage("1/0", id="h1")]},
        raises=ZeroDivisionError,
    ),
    Case("tool_command", tool_command, {"messages": [HumanMessage("remember", id="h1")]}),
    Case("command_goto", command_goto, {"count": 1, "log": []}),
    Case("send_subgraphs", send_subgraphs, {"topics": ["a", "b"], "drafts": []}, parallel=True),
    Case("send_models", send_models, {"topics": ["x", "y", "z"], "notes": []}, parallel=True),
    Case(
        "send_models_async",
        functools.partial(send_models, asynchronous=True),
        {"topics": ["x", "y", "z"], "notes": []},
        is_async=True,
        parallel=True,
    ),
    Case("nested_subgraphs", nested_subgraphs, {"question": "deep", "answer": ""}),
    Case(
        "invoked_subgraph",
        invoked_subgraph,
        {"count": 0, "log": []},
        known_difference=invoked_subgraph_node_chunks,
    ),
    Case("invoked_subgraph_async", invoked_subgraph_async, {"count": 0, "log": []}, is_async=True),
    Case("resume", approval, Command(resume="approved"), True, before=interrupt_first),
    Case("resume_subgraph", subgraph_approval, Command(resume="yes"), True, before=interrupt_first),
    Case("interrupt_subgraph", subgraph_approval, _TEXT, True),
    Case("breakpoint", breakpoint_graph, {"count": 0, "log": []}, True),
    Case("breakpoint_resume", breakpoint_graph, None, True, before=to_breakpoint),
    Case("retried", retried, {"count": 0, "log": []}),
    Case("streaming_node", streaming_node, _TEXT, is_async=True),
    Case("streaming_node_sync", streaming_node_sync, _TEXT),
    Case("batch", command_goto, {"count": 7, "log": []}, start=batched),
]

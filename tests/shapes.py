"""More shapes users build, beside the graphs of ``graphs.py``: LCEL chains outside any graph,
the functional API, the prebuilt agent, ``Command``, ``Send`` to subgraphs, nested subgraphs,
interrupt and resume, retries, fallbacks, batches and streaming inside nodes.

Each is a ``Case`` like the corpus's; only chat models are fake.
"""

from __future__ import annotations

import asyncio
import operator
import warnings
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version
from typing import Annotated, Any

from graphs import Case, Counter, FakeChatModel, TextState, add, answer, ask_tool
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableGenerator, RunnableLambda, RunnableParallel
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent
from langgraph.types import Command, RetryPolicy, Send, interrupt
from packaging.version import Version
from typing_extensions import TypedDict


def _prompt() -> Any:
    return ChatPromptTemplate.from_messages([("human", "Q: {question}")])


# --- LCEL chains, outside any graph -------------------------------------------------------------
def lcel_chain() -> Any:
    return _prompt() | FakeChatModel(responses=[answer("forty two")]) | StrOutputParser()


def lcel_parallel() -> Any:
    """A ``RunnableParallel`` inside a chain: the answer and the question side by side."""
    answer_chain = _prompt() | FakeChatModel(responses=[answer("blue sky")]) | StrOutputParser()
    both = RunnableParallel(answer=answer_chain, question=RunnableLambda(lambda d: d["question"]))
    return both | RunnableLambda(lambda d: f"{d['question']} -> {d['answer']}", name="format")


def lcel_generator() -> Any:
    """A chain ending in an async generator that transforms the streamed tokens."""

    async def shout(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    model = FakeChatModel(responses=[answer("quiet words here")])
    return _prompt() | model | StrOutputParser() | RunnableGenerator(shout, name="shout")


def lcel_sync_generator() -> Any:
    """A generator step (sync, with its async twin) between the model and a lambda."""

    def words(chunks: Iterator[Any]) -> Iterator[str]:
        for chunk in chunks:
            yield from str(chunk.content).split()

    async def awords(chunks: AsyncIterator[Any]) -> AsyncIterator[str]:
        async for chunk in chunks:
            for word in str(chunk.content).split():
                yield word

    model = FakeChatModel(responses=[answer("one two three")])
    split = RunnableGenerator(words, awords, name="words")
    return _prompt() | model | split | RunnableLambda(str.title)


class ModelDown(RuntimeError):
    pass


def lcel_fallbacks() -> Any:
    """A model whose provider is down, with a fallback model, inside a chain."""

    def down(_: Any) -> Any:
        raise ModelDown("primary model unavailable")

    primary = RunnableLambda(down, name="primary")
    backup = FakeChatModel(responses=[answer("from the backup")], model_name="backup-model")
    return _prompt() | primary.with_fallbacks([backup]) | StrOutputParser()


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

    section = StateGraph(Section)
    section.add_node("outline", outline)
    section.add_node("write", write)
    section.add_edge(START, "outline")
    section.add_edge("outline", "write")
    section.add_edge("write", END)

    def plan(s: Essay) -> dict[str, Any]:
        return {}

    def fan_out(s: Essay) -> list[Send]:
        return [Send("section", {"topic": t, "drafts": []}) for t in s["topics"]]

    def reduce(s: Essay) -> dict[str, Any]:
        return {"drafts": [f"{len(s['drafts'])} parts"]}

    g = StateGraph(Essay)
    g.add_node("plan", plan)
    g.add_node("section", section.compile(name="section_writer"))
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

    level2 = StateGraph(TextState)
    level2.add_node("deepest", deepest)
    level2.add_edge(START, "deepest")
    level2.add_edge("deepest", END)

    def middle(s: TextState) -> dict[str, Any]:
        return {"question": s["question"] + "?"}

    level1 = StateGraph(TextState)
    level1.add_node("middle", middle)
    level1.add_node("level2", level2.compile(name="level2"))
    level1.add_edge(START, "middle")
    level1.add_edge("middle", "level2")
    level1.add_edge("level2", END)

    g = StateGraph(TextState)
    g.add_node("level1", level1.compile(name="level1"))
    g.add_edge(START, "level1")
    g.add_edge("level1", END)
    return g.compile()


def approval() -> Any:
    """A node that asks a human (``interrupt``); the compared run resumes it."""

    def draft(s: TextState) -> dict[str, Any]:
        return {"answer": "draft"}

    def review(s: TextState) -> dict[str, Any]:
        verdict = interrupt({"question": "approve?", "draft": s["answer"]})
        return {"answer": f"{s['answer']} ({verdict})"}

    def publish(s: TextState) -> dict[str, Any]:
        return {"answer": s["answer"].upper()}

    g = StateGraph(TextState)
    g.add_node("draft", draft)
    g.add_node("review", review)
    g.add_node("publish", publish)
    g.add_edge(START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", "publish")
    g.add_edge("publish", END)
    return g.compile(checkpointer=InMemorySaver())


def interrupt_first(graph: Any, config: dict[str, Any]) -> None:
    """Run ``approval`` up to its interrupt, so the compared run resumes it."""
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
    pipeline = _prompt() | FakeChatModel(responses=[answer("streamed inside")]) | StrOutputParser()

    async def respond(s: TextState) -> dict[str, Any]:
        parts = [part async for part in pipeline.astream({"question": s["question"]})]
        await asyncio.sleep(0)
        return {"answer": "".join(parts)}

    g = StateGraph(TextState)
    g.add_node("respond", respond)
    g.add_edge(START, "respond")
    g.add_edge("respond", END)
    return g.compile()


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

SHAPES: list[Case] = [
    Case("lcel_chain", lcel_chain, _Q, graph=False),
    Case("lcel_chain_async", lcel_chain, _Q, graph=False, is_async=True),
    Case("lcel_parallel", lcel_parallel, _Q, graph=False, parallel=True),
    Case("lcel_generator", lcel_generator, _Q, graph=False, is_async=True),
    Case("lcel_sync_generator", lcel_sync_generator, _Q, graph=False),
    Case("lcel_fallbacks", lcel_fallbacks, _Q, graph=False),
    Case("functional", functional, 3, True, parallel=True, native_bug=_SYNC_TASKS_BUG),
    Case("functional_async", functional_async, "the sea", is_async=True, parallel=True),
    Case(
        "react_agent",
        react_agent,
        {"messages": [HumanMessage("1+2, 3*4?", id="h1")]},
        True,
        parallel=True,
    ),
    Case("tool_command", tool_command, {"messages": [HumanMessage("remember", id="h1")]}),
    Case("command_goto", command_goto, {"count": 1, "log": []}),
    Case("send_subgraphs", send_subgraphs, {"topics": ["a", "b"], "drafts": []}, parallel=True),
    Case("nested_subgraphs", nested_subgraphs, {"question": "deep", "answer": ""}),
    Case("resume", approval, Command(resume="approved"), True, before=interrupt_first),
    Case("retried", retried, {"count": 0, "log": []}),
    Case("streaming_node", streaming_node, {"question": "q", "answer": ""}, is_async=True),
    Case("batch", command_goto, {"count": 7, "log": []}, start=batched),
]

"""The corpus of real LangGraph graphs the tests run (fake chat models are the only fake).

Each ``Case`` builds a fresh graph, so stateful fake models start over for every run.
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.callbacks import (
    CallbackManagerForLLMRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Send, interrupt
from typing_extensions import TypedDict


class FakeChatModel(BaseChatModel):
    """A scripted chat model that streams word by word and can ask for tools.

    Unlike ``GenericFakeChatModel`` it keeps tool calls when streaming (as tool call
    chunks) and reports token usage, like a provider model.
    """

    responses: list[AIMessage]
    model_name: str = "fake-model-1"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeChatModel:
        return self

    def _next(self) -> AIMessage:
        message = self.responses[self.calls % len(self.responses)]
        self.calls += 1
        return message

    @staticmethod
    def _usage(message: AIMessage) -> dict[str, int]:
        out = max(1, len(str(message.content).split()))
        return {"input_tokens": 7, "output_tokens": out, "total_tokens": 7 + out}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._next()
        full = AIMessage(
            content=message.content,
            tool_calls=message.tool_calls,
            usage_metadata=self._usage(message),  # type: ignore[arg-type]
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=full)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next()
        words = str(message.content).split(" ") if message.content else []
        pieces: list[AIMessageChunk] = [
            AIMessageChunk(content=w if i == 0 else " " + w) for i, w in enumerate(words)
        ]
        for i, call in enumerate(message.tool_calls):
            import json

            pieces.append(
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": call["name"],
                            "args": json.dumps(call["args"]),
                            "id": call["id"],
                            "index": i,
                        }
                    ],
                )
            )
        pieces[-1] = pieces[-1].model_copy(
            update={
                "usage_metadata": self._usage(message),
                "response_metadata": {"model_name": self.model_name, "finish_reason": "stop"},
            }
        )
        for piece in pieces:
            chunk = ChatGenerationChunk(message=piece)
            if run_manager:
                run_manager.on_llm_new_token(str(piece.content), chunk=chunk)
            yield chunk


def answer(text: str) -> AIMessage:
    return AIMessage(content=text)


def ask_tool(name: str, call_id: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


# --- state types -------------------------------------------------------------------------------
class Counter(TypedDict):
    count: int
    log: Annotated[list[str], operator.add]


class FanState(TypedDict):
    items: list[str]
    results: Annotated[list[str], operator.add]


class TextState(TypedDict):
    question: str
    answer: str


# --- builders ----------------------------------------------------------------------------------
def sequence(state: Any, *nodes: Any, **compile_options: Any) -> Any:
    """A compiled graph running ``nodes`` one after another, from START to END. A function is
    a node named after itself; a ``(name, runnable)`` pair (a compiled subgraph, a lambda)
    is a node with that name. ``compile_options`` go to ``compile`` (``name``, ``checkpointer``)."""
    g = StateGraph(state)
    previous = START
    for node in nodes:
        name, action = node if isinstance(node, tuple) else (node.__name__, node)
        g.add_node(name, action)
        g.add_edge(previous, name)
        previous = name
    g.add_edge(previous, END)
    return g.compile(**compile_options)


def tool_loop(model: FakeChatModel, tools: ToolNode, **compile_options: Any) -> Any:
    """The tool-calling loop: node ``model`` asks, node ``tools`` answers, until the model
    replies without tool calls."""
    bound = model.bind_tools(list(tools.tools_by_name.values()))

    def call_model(s: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(s["messages"])]}

    def route(s: MessagesState) -> str:
        last = s["messages"][-1]
        return "tools" if getattr(last, "tool_calls", None) else END

    g = StateGraph(MessagesState)
    g.add_node("model", call_model)
    g.add_node("tools", tools)
    g.add_edge(START, "model")
    g.add_conditional_edges("model", route, ["tools", END])
    g.add_edge("tools", "model")
    return g.compile(**compile_options)


# --- graphs ------------------------------------------------------------------------------------
def linear() -> Any:
    def a(s: Counter) -> dict[str, Any]:
        return {"count": s["count"] + 1, "log": ["a"]}

    def b(s: Counter) -> dict[str, Any]:
        return {"count": s["count"] * 10, "log": ["b"]}

    def c(s: Counter) -> dict[str, Any]:
        return {"log": ["c"]}

    return sequence(Counter, a, b, c)


def loop() -> Any:
    def step(s: Counter) -> dict[str, Any]:
        return {"count": s["count"] + 1, "log": [f"step{s['count']}"]}

    def route(s: Counter) -> str:
        return "step" if s["count"] < 3 else END

    g = StateGraph(Counter)
    g.add_node("step", step)
    g.add_edge(START, "step")
    g.add_conditional_edges("step", route, ["step", END])
    return g.compile()


def fanout() -> Any:
    def plan(s: FanState) -> dict[str, Any]:
        return {}

    def fan(s: FanState) -> list[Send]:
        return [Send("work", {"items": [item], "results": []}) for item in s["items"]]

    def work(s: FanState) -> dict[str, Any]:
        return {"results": [s["items"][0].upper()]}

    def join(s: FanState) -> dict[str, Any]:
        return {"results": ["joined"]}

    g = StateGraph(FanState)
    g.add_node("plan", plan)
    g.add_node("work", work)
    g.add_node("join", join)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", fan, ["work"])
    g.add_edge("work", "join")
    g.add_edge("join", END)
    return g.compile()


def subgraph() -> Any:
    def inner(s: Counter) -> dict[str, Any]:
        return {"count": s["count"] + 100, "log": ["inner"]}

    def outer(s: Counter) -> dict[str, Any]:
        return {"log": ["outer"]}

    return sequence(Counter, outer, ("sub", sequence(Counter, inner, name="inner_graph")))


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent() -> Any:
    model = FakeChatModel(
        responses=[
            ask_tool("add", "call_1", a=1, b=2),
            ask_tool("add", "call_2", a=3, b=4),
            answer("the sums are 3 and 7"),
        ]
    )
    return tool_loop(model, ToolNode([add]), checkpointer=InMemorySaver())


@tool
def divide(a: int, b: int) -> float:
    """Divide two integers."""
    return a / b


def tool_error() -> Any:
    """A tool that raises; the ``ToolNode`` turns the error into a ToolMessage."""
    model = FakeChatModel(
        responses=[ask_tool("divide", "call_1", a=1, b=0), answer("cannot divide by zero")]
    )
    return tool_loop(model, ToolNode([divide], handle_tool_errors=True))


def chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("human", "Q: {question}")])
    model = FakeChatModel(responses=[answer("forty two")])
    pipeline = prompt | model | StrOutputParser()

    def respond(s: TextState) -> dict[str, Any]:
        return {"answer": pipeline.invoke({"question": s["question"]})}

    return sequence(TextState, respond)


class KeywordRetriever(BaseRetriever):
    """Returns the stored documents that share a word with the query."""

    docs: list[str]

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        words = set(query.lower().split())
        return [Document(page_content=d) for d in self.docs if words & set(d.lower().split())]


def retriever() -> Any:
    store = KeywordRetriever(docs=["otel traces spans", "langgraph nodes", "spans and events"])

    def search(s: TextState) -> dict[str, Any]:
        found = store.invoke(s["question"])
        return {"answer": " | ".join(d.page_content for d in found)}

    return sequence(TextState, search)


def custom_events() -> Any:
    def sync_node(s: Counter) -> dict[str, Any]:
        dispatch_custom_event("progress", {"pct": 50})
        get_stream_writer()({"written": "sync"})
        return {"log": ["sync"]}

    async def async_node(s: Counter) -> dict[str, Any]:
        await adispatch_custom_event("progress", {"pct": 100})
        get_stream_writer()({"written": "async"})
        return {"log": ["async"]}

    return sequence(Counter, sync_node, async_node)


class NodeFailed(RuntimeError):
    pass


def failing(error: BaseException | None = None) -> Any:
    """Node ``ok``, then node ``boom`` raising ``error`` (by default a ``NodeFailed``)."""

    def ok(s: Counter) -> dict[str, Any]:
        return {"log": ["ok"]}

    def boom(s: Counter) -> dict[str, Any]:
        raise error if error is not None else NodeFailed("node failed on purpose")

    return sequence(Counter, ok, boom)


def interrupting() -> Any:
    def draft(s: TextState) -> dict[str, Any]:
        return {"answer": "draft"}

    def review(s: TextState) -> dict[str, Any]:
        verdict = interrupt({"question": "approve?", "draft": s["answer"]})
        return {"answer": f"{s['answer']} ({verdict})"}

    return sequence(TextState, draft, review, checkpointer=InMemorySaver())


def async_nodes() -> Any:
    async def first(s: Counter) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"count": s["count"] + 1, "log": ["first"]}

    async def second(s: Counter) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"count": s["count"] + 1, "log": ["second"]}

    return sequence(Counter, first, second)


class Steps(TypedDict):
    """The state of ``long_loop``."""

    count: int
    log: Annotated[list[str], operator.add]


def long_loop(steps: int, delay: float = 0.0) -> Any:
    """A one-node loop running ``steps`` times (many events, optionally slow)."""

    def step(s: Steps) -> dict[str, Any]:
        if delay:
            time.sleep(delay)
        return {"count": s["count"] + 1, "log": [str(s["count"])]}

    def route(s: Steps) -> str:
        return "step" if s["count"] < steps else END

    g = StateGraph(Steps)
    g.add_node("step", step)
    g.add_edge(START, "step")
    g.add_conditional_edges("step", route, ["step", END])
    return g.compile()


@dataclass
class Case:
    """One corpus entry: how to build the graph, what to feed it, how it must end."""

    name: str
    build: Callable[[], Any]
    input: Any
    needs_thread: bool = False
    is_async: bool = False
    raises: type[BaseException] | None = None
    tags: list[str] = field(default_factory=list)
    graph: bool = True
    """A LangGraph graph (with a ``debug`` stream), or an LCEL chain (``events`` only)."""
    parallel: bool = False
    """Runs in parallel branches: its streams are compared run by run, not in global order."""
    before: Callable[[Any, dict[str, Any]], None] | None = None
    """Called with the fresh graph and the config before the run (to reach an interrupt)."""
    start: Callable[[Any, Any, dict[str, Any]], Any] | None = None
    """How ``run`` starts it instead of ``invoke``/``stream`` (e.g. in a batch)."""
    native_bug: str | None = None
    """Why the installed LangGraph's own streams cannot serve as the reference (skipped)."""
    known_difference: Callable[[list[Any], list[Any]], list[Any]] | None = None
    """How a subscription's ``events`` are known to differ from ``astream_events``'s
    (README, "Live streams"): called with the native and the subscribed events, it asserts
    that exact difference and returns the subscribed events without it, which must then
    equal the native ones."""

    def config(self, thread_id: str = "t-1") -> dict[str, Any]:
        configurable = {"thread_id": thread_id} if self.needs_thread else {}
        return {"configurable": configurable, "tags": ["corpus"], "metadata": {"case": self.name}}

    def run(self, config: dict[str, Any] | None = None, runnable: Any = None) -> Any:
        """Run the case as its users do, nobody reading its streams: a graph is invoked
        (``ainvoke`` for async cases), a chain streamed (its chunks are returned), or as its
        ``start`` says. ``runnable`` is a freshly built one by default, ``config``
        ``self.config()``; returns its output."""
        runnable = self.build() if runnable is None else runnable
        config = self.config() if config is None else config
        if self.start is not None:
            return self.start(runnable, self.input, config)
        if self.graph:
            if self.is_async:
                return asyncio.run(runnable.ainvoke(self.input, config))
            return runnable.invoke(self.input, config)
        if self.is_async:

            async def chunks() -> list[Any]:
                return [chunk async for chunk in runnable.astream(self.input, config)]

            return asyncio.run(chunks())
        return list(runnable.stream(self.input, config))

    def run_to_end(self, config: dict[str, Any] | None = None) -> Any:
        """``run``, returning rather than raising the error the case is meant to raise."""
        try:
            return self.run(config)
        except Exception as error:
            if self.raises is None or not isinstance(error, self.raises):
                raise
            return error


CORPUS: list[Case] = [
    Case("linear", linear, {"count": 1, "log": []}),
    Case("loop", loop, {"count": 0, "log": []}),
    Case("fanout", fanout, {"items": ["x", "y", "z"], "results": []}, parallel=True),
    Case("subgraph", subgraph, {"count": 0, "log": []}),
    Case("agent", agent, {"messages": [HumanMessage("add 1+2 and 3+4", id="h1")]}, True),
    Case("tool_error", tool_error, {"messages": [HumanMessage("1/0?", id="h1")]}),
    Case("chain", chain, {"question": "meaning of life?", "answer": ""}),
    Case("retriever", retriever, {"question": "spans please", "answer": ""}),
    Case("custom_events", custom_events, {"count": 0, "log": []}, is_async=True),
    Case("failing", failing, {"count": 0, "log": []}, raises=NodeFailed),
    Case("interrupt", interrupting, {"question": "q", "answer": ""}, True),
    Case("async_nodes", async_nodes, {"count": 0, "log": []}, is_async=True),
]

CASES = {case.name: case for case in CORPUS}

"""Benchmark workloads: deterministic, offline LangGraph graphs with fake chat models.

Each workload builds its graph once and is then run many times. ``units`` is what overhead
is divided by: node executions per run, or streamed tokens for the ``tokens`` workload.

The graphs and the fake chat model are the benchmark's own, not ``tests/graphs.py``: numbers
stay comparable from run to run only if a change to the test corpus cannot change the work
measured, and the benchmark runs where the tests are not (a peer's virtualenv, ``--python``).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

CHAIN_NODES = 10
FANOUT_WIDTH = 16
STREAM_TOKENS = 1_000
_USAGE = {"input_tokens": 7, "output_tokens": 1, "total_tokens": 8}
_META = {"model_name": "bench-model", "finish_reason": "stop"}


class ScriptedChatModel(BaseChatModel):
    """A fake chat model: streams ``tokens`` pieces, or asks for ``add`` until two tool results.

    It is stateless (the reply depends only on the messages), so runs never drift apart.
    """

    tokens: int = 0
    model_name: str = "bench-model"

    @property
    def _llm_type(self) -> str:
        return "bench-fake-chat"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        done = sum(isinstance(m, ToolMessage) for m in messages)
        if self.tokens:
            return AIMessage(content="".join(_pieces(self.tokens)))
        if done < 2:
            call = {"name": "add", "args": {"a": done, "b": 2}, "id": f"call_{done}"}
            return AIMessage(content="", tool_calls=[call])
        return AIMessage(content="the sums are 2 and 3")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages)
        message = AIMessage(
            content=reply.content,
            tool_calls=reply.tool_calls,
            usage_metadata=_USAGE,  # type: ignore[arg-type]
            response_metadata=_META,
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.tokens:
            pieces = [AIMessageChunk(content=p) for p in _pieces(self.tokens)]
        else:
            reply = self._reply(messages)
            pieces = [AIMessageChunk(content=str(reply.content))]
            for i, call in enumerate(reply.tool_calls):
                chunk = {"name": call["name"], "args": str(call["args"]).replace("'", '"')}
                pieces.append(
                    AIMessageChunk(
                        content="", tool_call_chunks=[{**chunk, "id": call["id"], "index": i}]
                    )
                )
        pieces[-1] = pieces[-1].model_copy(
            update={"usage_metadata": _USAGE, "response_metadata": _META}
        )
        for piece in pieces:  # langchain-core reports each chunk to the callbacks itself
            yield ChatGenerationChunk(message=piece)


_PIECE_CACHE: dict[int, list[str]] = {}


def _pieces(n: int) -> list[str]:
    """``n`` short word pieces, the same every time."""
    if n not in _PIECE_CACHE:
        words = ["lorem", "ipsum", "dolor", "sit", "amet"]
        _PIECE_CACHE[n] = [(" " if i else "") + words[i % len(words)] for i in range(n)]
    return _PIECE_CACHE[n]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Count(TypedDict):
    n: int


class Fan(TypedDict, total=False):
    n: int
    w: Annotated[int, operator.add]
    done: int


class Text(TypedDict, total=False):
    question: str
    answer: str


def chain_graph() -> Any:
    """``CHAIN_NODES`` trivial nodes in a line."""

    def step(s: Count) -> dict[str, Any]:
        return {"n": s["n"] + 1}

    g = StateGraph(Count)
    names = [f"n{i}" for i in range(CHAIN_NODES)]
    for name in names:
        g.add_node(name, step)
    for a, b in zip([START, *names], [*names, END], strict=True):
        g.add_edge(a, b)
    return g.compile()


def fanout_graph() -> Any:
    """One node fanning out to ``FANOUT_WIDTH`` parallel nodes, then a join."""

    def plan(s: Fan) -> dict[str, Any]:
        return {"n": s.get("n", 0) + 1}

    def work(s: Fan) -> dict[str, Any]:
        return {"w": 1}

    def join(s: Fan) -> dict[str, Any]:
        return {"done": s.get("w", 0)}

    g = StateGraph(Fan)
    g.add_node("plan", plan)
    g.add_node("join", join)
    g.add_edge(START, "plan")
    workers = [f"w{i}" for i in range(FANOUT_WIDTH)]
    for name in workers:
        g.add_node(name, work)
        g.add_edge("plan", name)
    g.add_edge(workers, "join")
    g.add_edge("join", END)
    return g.compile()


def tokens_graph() -> Any:
    """One node whose chat model streams ``STREAM_TOKENS`` tokens (the node streams it)."""
    model = ScriptedChatModel(tokens=STREAM_TOKENS)

    def generate(s: Text) -> dict[str, Any]:
        parts = [str(chunk.content) for chunk in model.stream(s["question"])]
        return {"answer": "".join(parts)}

    g = StateGraph(Text)
    g.add_node("generate", generate)
    g.add_edge(START, "generate")
    g.add_edge("generate", END)
    return g.compile()


def agent_graph() -> Any:
    """A tool-calling loop with a checkpointer: the model asks for ``add`` twice, then answers."""
    model = ScriptedChatModel().bind_tools([add])

    def call_model(s: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(s["messages"])]}

    def route(s: MessagesState) -> str:
        return "tools" if getattr(s["messages"][-1], "tool_calls", None) else END

    g = StateGraph(MessagesState)
    g.add_node("model", call_model)
    g.add_node("tools", ToolNode([add]))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", route, ["tools", END])
    g.add_edge("tools", "model")
    return g.compile(checkpointer=InMemorySaver())


@dataclass
class Workload:
    """A built graph, how to feed it, and what one run amounts to."""

    name: str
    graph: Any
    make_input: Callable[[], Any]
    units: int
    unit: str
    node_runs: int
    check: Callable[[Any], bool]
    threads: bool = False
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def config(self) -> dict[str, Any]:
        """A fresh config; a fresh thread for checkpointed graphs."""
        if self.threads:
            return {"configurable": {"thread_id": f"bench-{next(self._ids)}"}}
        return {}

    def done(self, config: dict[str, Any]) -> None:
        """Forget the run's checkpoints, so memory reflects instrumentation, not history."""
        if self.threads:
            self.graph.checkpointer.delete_thread(config["configurable"]["thread_id"])


def _agent_ok(out: Any) -> bool:
    messages = out["messages"] if isinstance(out, dict) else []
    return len(messages) == 6 and messages[-1].content == "the sums are 2 and 3"


BUILDERS: dict[str, Callable[[], Workload]] = {
    "chain": lambda: Workload(
        "chain",
        chain_graph(),
        lambda: {"n": 0},
        CHAIN_NODES,
        "node",
        CHAIN_NODES,
        lambda out: out == {"n": CHAIN_NODES},
    ),
    "fanout": lambda: Workload(
        "fanout",
        fanout_graph(),
        lambda: {"n": 0},
        FANOUT_WIDTH + 2,
        "node",
        FANOUT_WIDTH + 2,
        lambda out: out.get("done") == FANOUT_WIDTH,
    ),
    "tokens": lambda: Workload(
        "tokens",
        tokens_graph(),
        lambda: {"question": "stream please"},
        STREAM_TOKENS,
        "token",
        1,
        lambda out: len(out.get("answer", "")) > STREAM_TOKENS,
    ),
    "agent": lambda: Workload(
        "agent",
        agent_graph(),
        lambda: {"messages": [HumanMessage("add twice please")]},
        5,
        "node",
        5,
        _agent_ok,
        threads=True,
    ),
}
WORKLOADS = tuple(BUILDERS)

"""``otelstream demo``: a small agent, traced offline, printed as a trace tree.

The first thing to run: only langgraph and langchain-core are needed (the chat model plays a
script: no network, no key), and every run gives the same tree: a streamed model call asking
for a tool, the tool run by a ``ToolNode``, a streamed answer, a subgraph used as a node.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

import otelstream
from otelstream.cli.console import ConsoleTreeExporter, render_tree
from otelstream.cli.printers import PrettyPrinter
from otelstream.export.otlp_file import (
    OtlpJsonFileMetricExporter,
    OtlpJsonFileSpanExporter,
    default_path,
)

QUESTION = "What is the weather in Paris?"
THREAD_ID = "demo-thread-1"
LIVE_MODES = ["events", "debug"]


class ScriptedChatModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` that behaves like a provider model where tracing looks:
    tools bind, tool calls survive streaming, text streams word by word, usage is reported."""

    model_name: str = "scripted-chat-1"
    token_delay: float = 0.03
    """Seconds between streamed tokens, so the demo's tokens visibly arrive one by one."""

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        reply = result.generations[0].message
        assert isinstance(reply, AIMessage)
        n_in = sum(len(str(m.content).split()) for m in messages)  # a word is a token here
        n_out = max(1, len(str(reply.content).split()))
        reply.usage_metadata = UsageMetadata(  # type: ignore[typeddict-item]  # core 1.8 stubs
            input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out
        )
        finish = "tool_calls" if reply.tool_calls else "stop"
        reply.response_metadata = {"model_name": self.model_name, "finish_reason": finish}
        return result

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._generate(messages, stop=stop, **kwargs).generations[0].message
        assert isinstance(reply, AIMessage)
        words = str(reply.content).split()
        pieces = [AIMessageChunk(content=w if i == 0 else f" {w}") for i, w in enumerate(words)]
        for i, call in enumerate(reply.tool_calls):
            args = json.dumps(call["args"])
            chunk = tool_call_chunk(name=call["name"], args=args, id=call["id"], index=i)
            pieces.append(AIMessageChunk(content="", tool_call_chunks=[chunk]))
        last = pieces[-1]
        last.usage_metadata, last.response_metadata = reply.usage_metadata, reply.response_metadata
        for piece in pieces:
            time.sleep(self.token_delay)
            generation = ChatGenerationChunk(message=piece)
            if run_manager is not None:
                run_manager.on_llm_new_token(str(piece.content), chunk=generation)
            yield generation


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"18 C and sunny in {city}"


class DemoState(MessagesState):
    summary: str


def build_summarizer() -> Any:
    """A two-step subgraph, compiled on its own and used as one node of the agent."""

    def draft(state: DemoState) -> dict[str, Any]:
        return {"summary": str(state["messages"][-1].content)}

    def polish(state: DemoState) -> dict[str, Any]:
        return {"summary": f"Summary: {state['summary']}"}

    graph = StateGraph(DemoState).add_sequence([draft, polish])
    graph.add_edge(START, "draft")
    graph.add_edge("polish", END)
    return graph.compile(name="summarize")


def build_demo_graph() -> Any:
    """The demo agent: model -> tools -> model -> summarize subgraph. Fresh script each call."""
    script: list[AIMessage | str] = [
        AIMessage(
            content="",
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
        ),
        "It is 18 C and sunny in Paris today.",
    ]
    chat = ScriptedChatModel(messages=iter(script)).bind_tools([get_weather])

    def agent(state: DemoState) -> dict[str, Any]:
        return {"messages": [chat.invoke(state["messages"])]}

    def route(state: DemoState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else "summarize"

    graph = StateGraph(DemoState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_node("summarize", build_summarizer())
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", "summarize"])
    graph.add_edge("tools", "agent")
    graph.add_edge("summarize", END)
    return graph.compile(checkpointer=InMemorySaver(), name="weather_agent")


def run_demo(stream: TextIO | None = None) -> int:
    """Run the demo agent once, printing its live ``events`` and ``debug`` streams, then its
    trace as a tree; 0 when all went well."""
    out = sys.stdout if stream is None else stream
    if otelstream.OtelStreamInstrumentor().is_instrumented_by_opentelemetry:
        # instrument() would keep the existing provider and the demo would print nothing.
        print("otelstream demo: otelstream is already instrumented here; run it alone", file=out)
        return 1
    graph = build_demo_graph()
    config: RunnableConfig = {"configurable": {"thread_id": THREAD_ID}}
    failures_before = sum(otelstream.failure_counts().values())
    # The embedded default, as for an app with no OTLP endpoint: an OTLP/JSON file.
    path = default_path()
    resource = Resource.create({"service.name": "otelstream-demo"})
    exporter = ConsoleTreeExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(BatchSpanProcessor(OtlpJsonFileSpanExporter(path)))
    reader = PeriodicExportingMetricReader(OtlpJsonFileMetricExporter(path))
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    otelstream.instrument(tracer_provider=provider, meter_provider=meter_provider)
    print(f"question: {QUESTION}\n", file=out)
    print(f"live streams: otelstream.stream(graph, ..., stream_mode={LIVE_MODES})", file=out)
    error: Exception | None = None
    try:
        printer = PrettyPrinter(out)
        inputs = {"messages": [HumanMessage(QUESTION)]}
        for mode, chunk in otelstream.stream(graph, inputs, config, stream_mode=LIVE_MODES):
            printer.show(mode, chunk)
        printer.end_line()
        values = graph.get_state(config).values
        print(f"\nanswer:   {values['messages'][-1].content}", file=out)
        print(f"summary:  {values['summary']}", file=out)
    except Exception as exc:  # still show the trace: it records the failure
        error = exc
        print(f"\nerror:    {type(exc).__name__}: {exc}", file=out)
    finally:
        otelstream.uninstrument()
        provider.shutdown()
        meter_provider.shutdown()
    spans = exporter.spans
    print(f"\ntrace ({len(spans)} spans):\n{render_tree(spans)}", file=out)
    print(f"\ntraces and metrics appended to {path} (OTLP/JSON)", file=out)
    failures = sum(otelstream.failure_counts().values()) - failures_before
    if failures:
        print(f"\notelstream had {failures} internal failure(s), see the log above", file=out)
    return 0 if error is None and not failures else 1

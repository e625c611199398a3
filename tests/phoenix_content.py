"""A tool-calling agent with a subgraph, exported to a real Arize Phoenix and read back.

Shared by ``test_phoenix_content.py`` (which asserts what Phoenix made of the spans, through
its API and its UI) and ``python -m phoenix_content`` (run from ``tests/``, see ``main``),
which takes the README's screenshot of the trace in Phoenix's UI with headless Chromium.

The model is ``graphs.FakeChatModel`` (the only fake) binding its tools the way provider
models do (``tools=`` in the request, so the chat span gets ``gen_ai.tool.definitions``);
the agent loop (model, ``ToolNode``) is a subgraph of the outer graph, and the model is
prompted with a system message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from graphs import FakeChatModel, add, answer, ask_tool
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

SYSTEM = "You are a calculator. Use the add tool."
QUESTION = "What is 1 + 2?"
ANSWER = "1 + 2 = 3"


class ToolBindingModel(FakeChatModel):
    """``FakeChatModel`` whose ``bind_tools`` sends the tools with the request, as a
    provider's chat model does (they appear in the run's ``invocation_params``)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools])


def agent_graph() -> Any:
    """``LangGraph`` -> node ``calculator`` (a subgraph: model <-> tools) -> END."""
    model = ToolBindingModel(
        responses=[ask_tool("add", "call_1", a=1, b=2), answer(ANSWER)]
    ).bind_tools([add])

    def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke([SystemMessage(SYSTEM), *state["messages"]])]}

    def route(state: MessagesState) -> str:
        return "tools" if getattr(state["messages"][-1], "tool_calls", None) else END

    inner = StateGraph(MessagesState)
    inner.add_node("model", call_model)
    inner.add_node("tools", ToolNode([add]))
    inner.add_edge(START, "model")
    inner.add_conditional_edges("model", route, ["tools", END])
    inner.add_edge("tools", "model")

    outer = StateGraph(MessagesState)
    outer.add_node("calculator", inner.compile(name="calculator"))
    outer.add_edge(START, "calculator")
    outer.add_edge("calculator", END)
    return outer.compile(checkpointer=InMemorySaver())


def agent_input() -> dict[str, Any]:
    return {"messages": [HumanMessage(QUESTION, id="question")]}


# --- reading Phoenix back ----------------------------------------------------------------------
SPANS_QUERY = """
query ($name: String!) {
  projects(filter: {col: name, value: $name}) { edges { node { id name
    spans(first: 1000) { edges { node {
      id name spanKind parentId
      context { traceId spanId }
      input { value mimeType } output { value mimeType }
      tokenCountPrompt tokenCountCompletion tokenCountTotal
      attributes
    } } }
  } } }
}
"""


def graphql(base_url: str, query: str, variables: dict[str, Any]) -> Any:
    """A query against Phoenix's own GraphQL API (``POST /graphql``)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"{base_url}/graphql", body, {"Content-Type": "application/json"}, method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=20) as response:
        answer_ = json.loads(response.read())
    if answer_.get("errors"):
        raise AssertionError(f"GraphQL errors: {answer_['errors']}")
    return answer_["data"]


def project_spans(base_url: str, project: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The project's global id and its spans as Phoenix parsed them (``attributes`` loaded)."""
    data = graphql(base_url, SPANS_QUERY, {"name": project})
    edges = data["projects"]["edges"]
    if not edges:
        return None, []
    node = edges[0]["node"]
    spans = [edge["node"] for edge in node["spans"]["edges"]]
    for span in spans:
        span["attributes"] = json.loads(span["attributes"] or "{}")
    return node["id"], spans


def wait_for_project_spans(
    base_url: str, project: str, count: int, timeout: float = 20.0
) -> tuple[str | None, list[dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    while True:
        project_id, spans = project_spans(base_url, project)
        if len(spans) >= count or time.monotonic() > deadline:
            return project_id, spans
        time.sleep(0.3)


# --- the screenshot --------------------------------------------------------------------------
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


APT_PACKAGES = ("chromium", "fonts-dejavu-core")


def chromium() -> str:
    """Debian's ``chromium``, installed with apt when missing (``.ci/run`` calls this once per
    run, in its "test servers and tools" section)."""
    found = shutil.which("chromium")
    if found is not None:
        return found
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES]
    if subprocess.run(install, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, timeout=900)
        subprocess.run(install, check=True, capture_output=True, timeout=900)
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError(f"chromium is missing after apt-get install {' '.join(APT_PACKAGES)}")
    return found


def _chromium(url: str, *args: str, size: tuple[int, int] = (1400, 860)) -> str:
    """Headless Chromium on ``url`` (a fresh profile; no network but the page's own), after
    the page's scripts ran; its standard output."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "--virtual-time-budget=20000",
                *args,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=180,
        )
    return done.stdout


def rendered_page(url: str) -> str:
    """The page's DOM as Phoenix's UI rendered it."""
    return _chromium(url, "--dump-dom")


def screenshot(url: str, out: Path) -> Path:
    """A PNG of the page as Phoenix's UI rendered it."""
    _chromium(url, f"--screenshot={out}")
    return out


def trace_url(base_url: str, project_id: str, spans: list[dict[str, Any]]) -> str:
    """The UI's page of the trace, with the chat span that answered selected."""
    root = next(s for s in spans if s["parentId"] is None)
    chat = max(
        (s for s in spans if s["spanKind"] == "llm"),
        key=lambda s: len(s["attributes"].get("llm", {}).get("input_messages", [])),
    )
    return (
        f"{base_url}/projects/{project_id}/traces/{root['context']['traceId']}"
        f"?selectedSpanNodeId={chat['id']}"
    )


def main() -> None:  # pragma: no cover - the README screenshot, run by hand
    """Start Phoenix, trace the agent into it (OpenInference flavour) and screenshot the
    trace: ``cd tests && python -m phoenix_content screenshots/phoenix-trace.png``."""
    import backends
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    import otelstream

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "phoenix-trace.png").resolve()
    with tempfile.TemporaryDirectory() as work:
        phoenix = backends.start_phoenix(Path(work))
        try:
            project = "otelstream-demo"
            provider = TracerProvider(
                resource=Resource.create({"openinference.project.name": project})
            )
            provider.add_span_processor(
                SimpleSpanProcessor(OTLPSpanExporter(endpoint=phoenix.http_traces_endpoint))
            )
            otelstream.instrument(tracer_provider=provider, openinference=True, capture_tokens=True)
            agent_graph().invoke(agent_input(), {"configurable": {"thread_id": "demo"}})
            provider.force_flush()
            project_id, spans = wait_for_project_spans(phoenix.base_url, project, 11)
            assert project_id is not None
            print(screenshot(trace_url(phoenix.base_url, project_id, spans), out))
        finally:
            phoenix.server.stop()


if __name__ == "__main__":
    main()

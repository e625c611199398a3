"""Zero-code: ``opentelemetry-instrument python app.py`` traces LangGraph runs via otelstream.

The real ``opentelemetry-instrument`` command runs an app script in a subprocess with the
console span exporter; its stdout (one JSON object per span) is parsed and checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
INSTRUMENT = BIN / "opentelemetry-instrument"

# The app is what a user writes: LangGraph and nothing of otelstream's tests (no import of
# tests/graphs.py), so that it shows `opentelemetry-instrument` needs nothing else. It stays
# self-contained on purpose; its two-node graph repeats the shape of graphs.sequence().
APP = textwrap.dedent(
    """
    import asyncio
    import json
    import sys
    from typing import TypedDict

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, StateGraph
    from opentelemetry import trace

    from otelstream.instrumentor import OtelStreamInstrumentor


    class State(TypedDict):
        n: int
        reply: str


    model = GenericFakeChatModel(messages=iter([AIMessage(content="pong")] * 4))


    def a(s: State) -> dict:
        return {"n": s["n"] + 1}


    def b(s: State) -> dict:
        return {"n": s["n"] * 10, "reply": model.invoke("ping").content}


    g = StateGraph(State)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    graph = g.compile()

    # A span of the app's own, to prove the exporter works whatever otelstream does.
    with trace.get_tracer("zc-app").start_as_current_span("app-control"):
        pass

    sync_result = graph.invoke({"n": 1, "reply": ""})
    async_result = asyncio.run(graph.ainvoke({"n": 2, "reply": ""}))
    print(
        "APP-RESULT "
        + json.dumps(
            {
                "sync": sync_result,
                "async": async_result,
                "instrumented": OtelStreamInstrumentor().is_instrumented_by_opentelemetry,
                "tracer_provider": type(trace.get_tracer_provider()).__name__,
            }
        ),
        file=sys.stderr,
    )
    """
)


def parse_console_spans(stdout: str) -> list[dict[str, Any]]:
    """The console exporter prints one (indented) JSON object per span, back to back."""
    decoder = json.JSONDecoder()
    spans: list[dict[str, Any]] = []
    i = 0
    while i < len(stdout):
        if stdout[i].isspace():
            i += 1
            continue
        obj, i = decoder.raw_decode(stdout, i)
        assert isinstance(obj, dict) and "context" in obj, obj
        spans.append(obj)
    return spans


def run_app(tmp_path: Path, **extra_env: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    assert INSTRUMENT.exists(), f"{INSTRUMENT} missing: is opentelemetry-instrumentation installed?"
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "OTELSTREAM_")) and k != "PYTHONPATH"
    }
    env.update(
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="zc-test",
        PYTHONUNBUFFERED="1",
        **extra_env,
    )
    proc = subprocess.run(
        [str(INSTRUMENT), sys.executable, str(app)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("APP-RESULT ")]
    info = json.loads(line.removeprefix("APP-RESULT "))
    assert info["sync"] == {"n": 20, "reply": "pong"}
    assert info["async"] == {"n": 30, "reply": "pong"}
    return parse_console_spans(proc.stdout), info, proc.stderr


def is_otelstream(span: dict[str, Any]) -> bool:
    return span.get("instrumentation_scope", {}).get("name") == "otelstream" or (
        "langchain.run.id" in (span.get("attributes") or {})
    )


def test_opentelemetry_instrument_traces_graph_runs(tmp_path: Path) -> None:
    spans, info, stderr = run_app(tmp_path)
    assert info["instrumented"] is True, "the otelstream entry point was not loaded"
    names = sorted(s["name"] for s in spans)
    assert "app-control" in names, (
        "no spans exported at all: opentelemetry-instrument configured no SDK "
        f"(tracer provider in the app: {info['tracer_provider']}); is an "
        "opentelemetry_configurator/opentelemetry_distro entry point installed? "
        f"stdout spans: {names}; stderr: {stderr[-2000:]}"
    )
    for s in spans:
        assert s["resource"]["attributes"]["service.name"] == "zc-test"

    roots = [s for s in spans if s["name"] == "invoke_workflow LangGraph"]
    assert len(roots) == 2, names  # one per graph run (invoke and ainvoke)
    assert len({r["context"]["trace_id"] for r in roots}) == 2  # one trace per run
    expected_inputs = [{"n": 1, "reply": ""}, {"n": 2, "reply": ""}]
    seen_inputs = []
    for root in roots:
        assert root["parent_id"] is None
        attrs = root["attributes"]
        assert attrs["gen_ai.operation.name"] == "invoke_workflow"
        assert attrs["gen_ai.workflow.name"] == "LangGraph"
        seen_inputs.append(json.loads(attrs["langchain.run.input"]))
        trace_id, span_id = root["context"]["trace_id"], root["context"]["span_id"]
        in_trace = [s for s in spans if s["context"]["trace_id"] == trace_id]
        by_name = {s["name"]: s for s in in_trace}
        assert len(by_name) == len(in_trace) == 4, sorted(by_name)
        for node in ("node a", "node b"):
            assert node in by_name, (node, sorted(by_name))
            assert by_name[node]["parent_id"] == span_id, node
            assert by_name[node]["attributes"]["langgraph.node"] == node.split()[1]
        chats = [s for s in in_trace if s["name"].startswith("chat")]
        assert len(chats) == 1, sorted(by_name)
        assert chats[0]["parent_id"] == by_name["node b"]["context"]["span_id"]
        assert chats[0]["kind"] == "SpanKind.CLIENT"
        # Every span of the trace hangs off the workflow span.
        ids = {s["context"]["span_id"] for s in in_trace}
        for s in in_trace:
            assert s is root or s["parent_id"] in ids, s["name"]
    assert sorted(seen_inputs, key=lambda d: d["n"]) == expected_inputs

    control = next(s for s in spans if s["name"] == "app-control")
    assert control["context"]["trace_id"] not in {r["context"]["trace_id"] for r in roots}


@pytest.mark.parametrize("disabled", ["otelstream", "requests, otelstream"])
def test_disabled_instrumentation_records_nothing(tmp_path: Path, disabled: str) -> None:
    spans, info, stderr = run_app(tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=disabled)
    assert info["instrumented"] is False
    names = sorted(s["name"] for s in spans)
    assert "app-control" in names, (
        "the exporter exported nothing, so the absence of otelstream spans proves nothing "
        f"(tracer provider in the app: {info['tracer_provider']}); stderr: {stderr[-2000:]}"
    )
    assert [s["name"] for s in spans if is_otelstream(s)] == []
    assert names == ["app-control"]

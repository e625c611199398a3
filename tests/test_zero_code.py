"""Zero-code: ``opentelemetry-instrument python app.py`` traces LangGraph runs via otelstream.

The real ``opentelemetry-instrument`` command runs an app script in a subprocess, with the
console span exporter (its stdout, one JSON object per span, is parsed and checked), or with
no configuration at all (otelstream's distro and configurator: the OTLP/JSON file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from backends import ensure_opentelemetry_distro
from otlp_receiver import OtlpReceiver

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
    import time
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
                "finished_at": time.time(),  # the app's last statement: exit starts here
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


# --- no configuration: otelstream's distro and configurator -------------------------------------
def launch(
    tmp_path: Path, *, instrumented: bool = True, app_source: str = APP, **extra_env: str
) -> tuple[subprocess.CompletedProcess[str], float, list[str]]:
    """Run the app (under ``opentelemetry-instrument`` or not) with no ``OTEL_*`` setting but
    ``extra_env``, its state directory in ``tmp_path``; the process, the seconds it took to
    exit after the app's last statement (``APP``'s report; else 0), and its stderr lines other
    than the app's own report."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    app = tmp_path / "app.py"
    app.write_text(app_source)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "OTELSTREAM_")) and k != "PYTHONPATH"
    }
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), **extra_env)
    command = [str(INSTRUMENT)] if instrumented else []
    proc = subprocess.run(
        [*command, sys.executable, str(app)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    exited_at = time.time()
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = [ln for ln in proc.stderr.splitlines() if ln.startswith("APP-RESULT ")]
    finished_at = json.loads(report[0].removeprefix("APP-RESULT "))["finished_at"] if report else 0
    other = [ln for ln in proc.stderr.splitlines() if ln.strip() and "APP-RESULT" not in ln]
    return proc, exited_at - finished_at if report else 0.0, other


def file_spans(path: Path) -> tuple[list[str], int]:
    """The span names in an OTLP/JSON file, and its number of metrics lines."""
    names, metric_lines = [], 0
    for line in path.read_text().splitlines():
        request = json.loads(line)
        metric_lines += "resourceMetrics" in request
        for rs in request.get("resourceSpans", ()):
            for ss in rs["scopeSpans"]:
                names.extend(span["name"] for span in ss["spans"])
    return names, metric_lines


def test_no_configuration_writes_the_file_cleanly_and_exits_at_once(tmp_path: Path) -> None:
    """With nothing configured, ``opentelemetry-instrument python app.py`` writes traces and
    metrics to otelstream's OTLP/JSON file: no error, and the process exits within a second of
    the uninstrumented run's exit (it took 8 to 12 s, retrying ``localhost:4317``). What is
    timed is the exit: from the app's last statement to the end of the process, where the SDK
    flushes and shuts down; start-up time (imports) varies too much on a busy box to compare."""
    plain = launch(tmp_path / "plain", instrumented=False)[1]
    proc, exit_seconds, other = launch(tmp_path / "zero-code")
    path = tmp_path / "zero-code" / "state" / "otelstream" / "otlp.jsonl"
    assert other == [
        f"otelstream: no OTLP endpoint configured; writing traces and metrics to {path} "
        "(OTLP/JSON). Set OTEL_EXPORTER_OTLP_ENDPOINT to export, OTELSTREAM_FILE to move it."
    ], proc.stderr
    names, metric_lines = file_spans(path)
    assert names.count("invoke_workflow LangGraph") == 2 and "app-control" in names, names
    assert metric_lines >= 1
    assert exit_seconds < plain + 1.0, (plain, exit_seconds)


def test_bad_setting_is_one_line_and_the_app_still_runs(tmp_path: Path) -> None:
    proc, _, other = launch(tmp_path, OTEL_EXPORTER_OTLP_PROTOCOL="htttp")
    assert other == [
        "otelstream: OTEL_EXPORTER_OTLP_PROTOCOL='htttp' is not supported; accepted: grpc, "
        "http/protobuf. OpenTelemetry is not set up: nothing is exported."
    ], proc.stderr
    assert not (tmp_path / "state").exists()


def test_a_configured_endpoint_wins(tmp_path: Path) -> None:
    """An endpoint configured: traces go there, no file is written; the receiver takes no
    metrics, which is said once."""
    with OtlpReceiver() as receiver:
        _, _, other = launch(
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        )
        names = [span.name for span in receiver.spans]
    assert names.count("invoke_workflow LangGraph") == 2 and "app-control" in names, names
    assert not (tmp_path / "state").exists()
    assert len(other) == 1 and "does not accept OTLP metrics (HTTP 404)" in other[0], other


def test_logs_follow_otel_logs_exporter(tmp_path: Path) -> None:
    """otelstream's configurator sets up logs with the SDK's own components, as
    ``OTEL_LOGS_EXPORTER`` says."""
    app = "import logging\nlogging.getLogger('zc-app').warning('a log record for OTLP')\n"
    proc, _, _ = launch(
        tmp_path,
        app_source=app,
        OTEL_LOGS_EXPORTER="console",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_SERVICE_NAME="zc-logs",
    )
    record = json.loads(proc.stdout)
    assert record["body"] == "a log record for OTLP"
    assert record["resource"]["attributes"]["service.name"] == "zc-logs"
    assert "telemetry.auto.version" in record["resource"]["attributes"]
    assert not (tmp_path / "state").exists()


def test_with_opentelemetry_distro_installed_too(tmp_path: Path) -> None:
    """With ``opentelemetry-distro`` installed as well (found first here), its distro and
    configurator win, and otelstream says how to choose its own; chosen, they work."""
    distro = str(ensure_opentelemetry_distro())
    explicit = {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"}
    proc, _, other = launch(tmp_path / "theirs", PYTHONPATH=distro, **explicit)
    [told] = [line for line in other if line.startswith("otelstream:")]
    assert "used opentelemetry-distro's distro 'distro' and opentelemetry-distro's" in told
    assert "OTEL_PYTHON_DISTRO=otelstream OTEL_PYTHON_CONFIGURATOR=otelstream" in told

    proc, _, other = launch(
        tmp_path / "ours",
        PYTHONPATH=distro,
        OTEL_PYTHON_DISTRO="otelstream",
        OTEL_PYTHON_CONFIGURATOR="otelstream",
    )
    names, _ = file_spans(tmp_path / "ours" / "state" / "otelstream" / "otlp.jsonl")
    assert names.count("invoke_workflow LangGraph") == 2, (names, proc.stderr)
    assert not [line for line in other if "error" in line.lower()], proc.stderr

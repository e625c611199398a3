"""``otelstream demo`` end to end, and the trace-tree renderer on spans from real graphs."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphs import sequence
from langchain_core.callbacks import dispatch_custom_event
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typing_extensions import TypedDict

import otelstream
from otelstream.cli.command import main
from otelstream.cli.console import ConsoleTreeExporter, render_tree
from otelstream.cli.demo import run_demo

Tree = list[tuple[str, list[Any]]]

DEMO_TREE: Tree = [
    (
        "invoke_agent weather_agent",
        [
            ("node agent", [("chat scripted-chat-1", []), ("route", [])]),
            ("node tools", [("execute_tool get_weather", [])]),
            ("node agent", [("chat scripted-chat-1", []), ("route", [])]),
            (
                "node summarize",
                [("invoke_workflow summarize", [("node draft", []), ("node polish", [])])],
            ),
        ],
    )
]


def parse_tree(text: str) -> Tree:
    """A printed tree back into nested ``(name, children)``, read from its box drawing."""
    root: Tree = []
    stack: list[Tree] = [root]
    for line in text.splitlines():
        if not line.strip():
            continue
        body = line.lstrip("│├└─ ")
        depth = (len(line) - len(body)) // 3
        assert len(line) - len(body) == depth * 3, f"misaligned tree line: {line!r}"
        name = body.split("  ")[0]
        children: Tree = []
        del stack[depth + 1 :]
        stack[depth].append((name, children))
        stack.append(children)
    return root


def without_durations(text: str) -> str:
    return re.sub(r" +\d+\.\d ms", " <ms>", text)


# --- the command ----------------------------------------------------------------------------------
def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m otelstream ...`` in a child process, on the otelstream these tests import."""
    package_root = str(Path(otelstream.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "otelstream", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )


def test_demo_command_prints_the_trace_tree() -> None:
    done = run_command("demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "internal failure" not in done.stderr
    head, _, rest = done.stdout.partition("\ntrace (13 spans):\n")
    tree, _, tail = rest.partition("\n\ntraces and metrics appended to ")
    assert tail.strip() == f"{os.environ['OTELSTREAM_FILE']} (OTLP/JSON)"
    assert tree, done.stdout
    assert "answer:   It is 18 C and sunny in Paris today." in head
    assert "summary:  Summary: It is 18 C and sunny in Paris today." in head

    assert parse_tree(tree) == DEMO_TREE
    lines = tree.splitlines()
    assert all(re.search(r"\d+\.\d ms", line) for line in lines)
    assert len({line.index(" ms") for line in lines}) == 1, "durations are not aligned"
    assert "ERROR" not in tree

    root, agent_1, chat_1, _, tools, tool, agent_2, chat_2, _, summarize, sub, draft, polish = lines
    assert root.startswith("invoke_agent weather_agent ")
    assert "gen_ai.conversation.id=demo-thread-1" in root
    for line, step in ((agent_1, 1), (tools, 2), (agent_2, 3), (summarize, 4)):
        assert f"langgraph.step={step}" in line
    # The subgraph numbers its own steps; its workflow span sits in the parent's step 4.
    assert "langgraph.step" not in sub
    assert "langgraph.step=1" in draft and "langgraph.step=2" in polish
    assert "langgraph.step" not in tool and "langgraph.step" not in chat_1
    # The tool call came back as one streamed chunk (plus a closing one on newer
    # langchain-core); the answer streamed word by word.
    assert re.search(r"\[on_chat_model_stream( x2)?\]$", chat_1), chat_1
    streamed = re.search(r"\[on_chat_model_stream x(\d+)\]$", chat_2)
    assert streamed is not None and int(streamed.group(1)) >= 9, chat_2
    assert "gen_ai.usage.output_tokens=9" in chat_2
    assert re.search(r"gen_ai\.response\.time_to_first_chunk=0\.\d{6}s", chat_2), chat_2


class TimedWrites(io.StringIO):
    """Remembers when each piece of output was written."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return super().write(text)


def test_demo_prints_the_live_events_and_debug_streams() -> None:
    out = TimedWrites()
    assert run_demo(out) == 0
    live = out.getvalue().partition("live streams:")[2].partition("\nanswer:")[0]
    lines = live.splitlines()[1:]
    debug = [line.split()[1:] for line in lines if line.startswith("  debug ")]
    tasks = [(d[2], d[3]) for d in debug if d[0] == "task"]
    results = [(d[2], d[3]) for d in debug if d[0] == "task_result"]
    expected = [("1", "agent"), ("2", "tools"), ("3", "agent"), ("4", "summarize")]
    assert tasks == results == expected
    assert sum(d[0] == "checkpoint" for d in debug) == 6  # steps -1 (the input) to 4
    events = [line.split()[1:] for line in lines if line.startswith("  events ")]
    assert events[0] == ["on_chain_start", "weather_agent"]
    assert events[-1] == ["on_chain_end", "weather_agent"]
    assert ["on_tool_start", "get_weather"] in events and ["on_tool_end", "get_weather"] in events
    assert 'on_chat_model_stream: [tool call get_weather {"city": "Paris"}]' in live
    assert "on_chat_model_stream: It is 18 C and sunny in Paris today." in live
    # the answer's tokens were written one by one, while the model was streaming
    token_writes = [(t, w) for t, w in out.writes if w in ("It", " is", " 18", " today.")]
    assert [w for _, w in token_writes] == ["It", " is", " 18", " today."]
    assert token_writes[-1][0] - token_writes[0][0] > 0.1


def test_command_without_a_subcommand_is_a_usage_error() -> None:
    done = run_command()
    assert done.returncode == 2
    assert "demo" in done.stderr


def test_main_runs_the_demo_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    tree = out.partition("\ntrace (13 spans):\n")[2].partition("\n\ntraces and metrics")[0]
    assert parse_tree(tree) == DEMO_TREE
    assert not otelstream.OtelStreamInstrumentor().is_instrumented_by_opentelemetry


def test_demo_refuses_to_take_over_an_existing_instrumentation(
    exporter: InMemorySpanExporter,
) -> None:
    out = io.StringIO()
    assert run_demo(out) == 1
    assert "already instrumented" in out.getvalue()
    assert otelstream.OtelStreamInstrumentor().is_instrumented_by_opentelemetry
    assert exporter.get_finished_spans() == ()


# --- the renderer ---------------------------------------------------------------------------------
class Count(TypedDict):
    n: int


def tiny_graph(fail: bool) -> Any:
    """Two nodes: one dispatches two custom events, the other may raise."""

    def greet(state: Count) -> dict[str, Any]:
        dispatch_custom_event("progress", {"pct": 50})
        dispatch_custom_event("progress", {"pct": 100})
        return {"n": state["n"] + 1}

    def check(state: Count) -> dict[str, Any]:
        if fail:
            raise ValueError("n is too small")
        return {"n": state["n"] * 10}

    return sequence(Count, greet, check, name="tiny")


def test_render_tree_of_a_failed_run(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError, match="n is too small"):
        tiny_graph(fail=True).invoke({"n": 0})
    text = render_tree(exporter.get_finished_spans())
    error = "✗ ERROR ValueError: n is too small"
    assert without_durations(text).splitlines() == [
        f"invoke_workflow tiny <ms>  {error}  [exception]",
        "├─ node greet <ms>  langgraph.step=1  [on_custom_event x2]",
        f"└─ node check <ms>  {error}  langgraph.step=2  [exception]",
    ]
    assert len({line.index(" ms") for line in text.splitlines()}) == 1


def test_render_tree_keeps_traces_apart_and_marks_lost_parents(
    exporter: InMemorySpanExporter,
) -> None:
    graph = tiny_graph(fail=False)
    assert graph.invoke({"n": 1}) == {"n": 20}
    assert graph.invoke({"n": 2}) == {"n": 30}
    spans = exporter.get_finished_spans()
    run = [
        "invoke_workflow tiny <ms>",
        "├─ node greet <ms>  langgraph.step=1  [on_custom_event x2]",
    ]
    run.append("└─ node check <ms>  langgraph.step=2")
    assert without_durations(render_tree(spans)).splitlines() == [*run, "", *run]

    # Without the graph spans, the nodes are shown as roots, and said to have lost a parent.
    nodes = [s for s in spans if s.name.startswith("node ")][:2]
    assert without_durations(render_tree(nodes)).splitlines() == [
        "node greet (parent span missing) <ms>  langgraph.step=1  [on_custom_event x2]",
        "node check (parent span missing) <ms>  langgraph.step=2",
    ]
    assert render_tree([]) == ""


@pytest.fixture
def console() -> Iterator[tuple[ConsoleTreeExporter, io.StringIO]]:
    """otelstream instrumented with a ConsoleTreeExporter that prints to a buffer."""
    out = io.StringIO()
    tree_exporter = ConsoleTreeExporter(out)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tree_exporter))
    otelstream.instrument(tracer_provider=provider)
    try:
        yield tree_exporter, out
    finally:
        otelstream.uninstrument()


def test_console_exporter_prints_each_trace_when_its_root_ends(
    console: tuple[ConsoleTreeExporter, io.StringIO],
) -> None:
    tree_exporter, out = console
    graph = tiny_graph(fail=False)
    graph.invoke({"n": 1})
    first = out.getvalue()
    assert parse_tree(first) == [("invoke_workflow tiny", [("node greet", []), ("node check", [])])]
    graph.invoke({"n": 2})
    assert out.getvalue().startswith(first)
    assert parse_tree(out.getvalue()) == parse_tree(first) * 2
    assert len(tree_exporter.spans) == 6
    assert parse_tree(tree_exporter.render()) == parse_tree(first) * 2
    tree_exporter.clear()
    assert len(tree_exporter.spans) == 0 and tree_exporter.render() == ""

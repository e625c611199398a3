"""``otelstream run MODULE:ATTR``: a user's graph run instrumented in a child process, its
streams printed as JSON lines (stdout is a pipe here), compared with the native streams."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from graphs import CASES

import otelstream

TESTS = Path(__file__).parent

APP = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    from graphs import CASES

    agent = CASES["agent"].build()
    failing = CASES["failing"].build

    def not_a_graph():
        return 42
    """
)


def otelstream_run(
    tmp_path: Path, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "userapp.py").write_text(APP)
    package_root = str(Path(otelstream.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTELSTREAM_FILE=str(tmp_path / "otlp.jsonl"), PYTHONPATH=package_root, **extra_env)
    return subprocess.run(
        [sys.executable, "-m", "otelstream", "run", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_run_prints_the_events_and_debug_streams_as_json_lines(tmp_path: Path) -> None:
    case = CASES["agent"]
    done = otelstream_run(
        tmp_path,
        "userapp:agent",
        "--input",
        json.dumps({"messages": [{"role": "user", "content": "add 1+2 and 3+4"}]}),
        "--thread-id",
        "cli-1",
    )
    assert done.returncode == 0, done.stderr
    items = lines(done.stdout)
    assert {item["mode"] for item in items} == {"events", "debug"}
    events = [item["chunk"] for item in items if item["mode"] == "events"]

    async def native() -> list[dict[str, Any]]:
        config = {"configurable": {"thread_id": "cli-native"}}
        return [e async for e in case.build().astream_events(case.input, config, version="v2")]

    expected = asyncio.run(native())
    assert [(e["event"], e["name"]) for e in events] == [(e["event"], e["name"]) for e in expected]
    assert all(e["metadata"].get("thread_id") == "cli-1" for e in events)
    debug = [item["chunk"] for item in items if item["mode"] == "debug"]
    tasks = [d["payload"]["name"] for d in debug if d["type"] == "task"]
    assert tasks == ["model", "tools", "model", "tools", "model"]
    # the run was exported to the OTLP/JSON file (the embedded default)
    exported = (tmp_path / "otlp.jsonl").read_text()
    assert "invoke_agent LangGraph" in exported


def test_run_passes_native_modes_through(tmp_path: Path) -> None:
    done = otelstream_run(
        tmp_path,
        "userapp:failing",  # a factory: called to build the graph
        "--input",
        '{"count": 0, "log": []}',
        "--stream-mode",
        "updates",
    )
    assert done.returncode == 1  # the graph raises
    assert lines(done.stdout) == [{"mode": "updates", "chunk": {"ok": {"log": ["ok"]}}}]
    assert "the run failed: NodeFailed: node failed on purpose" in done.stderr


GRAPHS = TESTS / "graphs.py"
FAILING_LINE = next(
    number
    for number, text in enumerate(GRAPHS.read_text().splitlines(), 1)
    if 'NodeFailed("node failed on purpose")' in text and "raise" in text
)


def test_a_failed_run_shows_where_it_failed(tmp_path: Path) -> None:
    """The exception, the frame it was raised in (the user's node, not LangGraph's
    internals), and the way to the whole traceback."""
    failing = ("userapp:failing", "--input", '{"count": 0, "log": []}', "--stream-mode", "updates")
    done = otelstream_run(tmp_path, *failing)
    assert done.returncode == 1
    report = done.stderr[done.stderr.index("otelstream run: the run failed") :].splitlines()
    assert report[0] == "otelstream run: the run failed: NodeFailed: node failed on purpose"
    assert report[1] == f'  File "{GRAPHS}", line {FAILING_LINE}, in boom'
    assert 'NodeFailed("node failed on purpose")' in report[2]
    assert report[-1] == "  (--traceback shows the whole of it)"
    assert "Traceback" not in done.stderr

    done = otelstream_run(tmp_path, *failing, "--traceback")
    assert done.returncode == 1
    assert "Traceback (most recent call last):" in done.stderr
    assert f'File "{GRAPHS}", line {FAILING_LINE}, in boom' in done.stderr
    traceback = done.stderr[done.stderr.index("Traceback (most recent call last):") :]
    assert "NodeFailed: node failed on purpose" in traceback


def test_bad_settings_are_one_line_and_exit_code_2(tmp_path: Path) -> None:
    run_agent = ("userapp:agent", "--input", "{}")
    settings = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": (
            "htttp",
            "otelstream run: OTEL_EXPORTER_OTLP_PROTOCOL='htttp' is not supported; accepted: "
            "grpc, http/protobuf",
        ),
        "OTEL_METRICS_EXPORTER": (
            "prometheus-typo",
            "otelstream run: OTEL_METRICS_EXPORTER='prometheus-typo' is not supported (no "
            "metrics exporter named 'prometheus-typo' is installed); accepted: ",
        ),
    }
    for variable, (value, message) in settings.items():
        done = otelstream_run(tmp_path, *run_agent, **{variable: value})
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith(message), line
        assert done.stdout == ""


def test_run_rejects_bad_arguments_clearly(tmp_path: Path) -> None:
    cases = {
        ("nowhere:graph", "{}"): "cannot import 'nowhere'",
        ("userapp:missing", "{}"): "has no attribute 'missing'",
        ("userapp:not_a_graph", "{}"): "is not a compiled LangGraph graph",
        ("userapp:agent", "{not json"): "--input is not JSON",
        ("userapp", "{}"): "expected MODULE:ATTR",
    }
    for (target, given), message in cases.items():
        done = otelstream_run(tmp_path, target, "--input", given)
        assert done.returncode == 2, (target, done.stderr)
        assert message in done.stderr, (target, done.stderr)
        assert "Traceback" not in done.stderr
    done = otelstream_run(tmp_path, "userapp:agent", "--input", "{}", "--stream-mode", "vibes")
    assert done.returncode == 2
    assert "unknown stream mode(s) 'vibes'; valid: values, updates" in done.stderr

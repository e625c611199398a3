"""Replay: a run's ``events`` and ``debug`` streams rebuilt from its exported OTLP/JSON file
equal the streams a live subscriber received, for every corpus graph and further shape
(``shapes.py``; a chain has no ``debug`` stream).

Each run is started with plain ``invoke`` in another thread and followed with
``otelstream.subscribe`` (as in the parity suite), while its spans go through otelstream's
OTLP/JSON file exporter to a real file. Replay gives payloads in their JSON form, so the live
items are compared in the same form (``json.loads(dumps(item))``), after the parity suite's
normalization. Message ids are not compared: LangGraph's ``add_messages`` assigns a ToolMessage
its id after the event (or debug chunk), on the very object the live stream handed out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from graphs import CORPUS, Case
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from packaging.version import Version
from shapes import SHAPES
from test_parity import compare_debug, compare_events, run_subscribed

import otelstream
from otelstream.export.otlp_file import OtlpJsonFileSpanExporter, rotated_files
from otelstream.semconv import REDACTED
from otelstream.serialization import dumps
from otelstream.streams.replay import ReplayError, replay


def as_json(items: Any) -> Any:
    return json.loads(dumps(items))


def without_message_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<message id>" if k == "id" and "type" in value else without_message_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_message_ids(v) for v in value]
    return value


OLD_STACK = Version(version("langgraph")) < Version("1.0")


def as_recorded(events: list[Any]) -> list[Any]:
    """On LangGraph 0.6 / langchain-core 0.3, leaves out what they change on the objects they
    handed to callbacks after the event, which a live stream (like ``astream_events``) shows
    changed and a trace as it was: the metadata of functional API tasks (one dict, updated for
    each task an entrypoint calls) and a tool's injected ``tool_call_id`` input."""
    if not OLD_STACK:
        return events
    out = []
    for event in events:
        event = dict(event)
        path = event["metadata"].get("langgraph_path") or []
        if len(path) > 1 and path[0] == "__pregel_push" and isinstance(path[1], list):
            event["metadata"] = {  # called from a functional entrypoint (not a Send)
                k: v for k, v in event["metadata"].items() if not k.startswith("langgraph_")
            }
        if event["event"].startswith("on_tool_") and isinstance(event["data"].get("input"), dict):
            data_in = {k: v for k, v in event["data"]["input"].items() if k != "tool_call_id"}
            event["data"] = {**event["data"], "input": data_in}
        out.append(event)
    return out


def trace_of(path: Path, run_id: str) -> str:
    """The trace id of the root run ``run_id`` in an OTLP/JSON file."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return next(
        span["traceId"]
        for line in lines
        for rs in line["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
        if not span.get("parentSpanId")
        and any(
            a["key"] == "langchain.run.id" and a["value"]["stringValue"] == run_id
            for a in span["attributes"]
        )
    )


class Recorder:
    """otelstream instrumented with the OTLP/JSON file exporter behind a batch processor."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.path = path
        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(OtlpJsonFileSpanExporter(path)))
        otelstream.instrument(tracer_provider=self.provider, **options)

    def live(self, case: Case, thread_id: str) -> tuple[list[Any], list[Any]]:
        events, debug = run_subscribed(case, thread_id)
        assert self.provider.force_flush(10_000)
        return events, debug


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder(tmp_path / "otlp.jsonl")
    try:
        yield rec
    finally:
        otelstream.uninstrument()
        rec.provider.shutdown()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CORPUS + SHAPES, ids=[c.name for c in CORPUS + SHAPES])
def test_replay_equals_the_live_streams(case: Case, recorder: Recorder) -> None:
    events, debug = recorder.live(case, f"replay-{case.name}")
    trace_id = trace_of(recorder.path, events[0]["run_id"])  # a batch records two runs
    replayed = replay(recorder.path, trace_id=trace_id)
    compare_events(
        case,
        as_recorded(without_message_ids(as_json(events))),
        as_recorded(without_message_ids(replayed)),
        f"{case.name}: replayed events",
    )
    if case.graph:
        compare_debug(
            case,
            without_message_ids(as_json(debug)),
            without_message_ids(replay(recorder.path, stream_mode="debug", trace_id=trace_id)),
            f"{case.name}: replayed debug",
        )


def payloads(event: dict[str, Any]) -> list[Any]:
    data = event["data"]
    return [data[k] for k in ("input", "output", "chunk") if k in data]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["agent", "custom_events", "subgraph"])
def test_replay_without_content_keeps_the_structure(tmp_path: Path, name: str) -> None:
    case = next(c for c in CORPUS if c.name == name)
    recorder = Recorder(tmp_path / "redacted.jsonl", capture_content=False)
    try:
        events, _ = recorder.live(case, f"redacted-{name}")
    finally:
        otelstream.uninstrument()
        recorder.provider.shutdown()
    replayed = replay(recorder.path)
    assert [(e["event"], e["name"], e["run_id"]) for e in replayed] == [
        (e["event"], e["name"], e["run_id"]) for e in events
    ]
    for live, again in zip(events, replayed, strict=True):
        assert again["parent_ids"] == live["parent_ids"]
        if again["event"] == "on_custom_event":  # its data is the payload itself
            assert again["data"] == REDACTED
            continue
        assert set(again["data"]) == set(live["data"]), (live["event"], again["data"])
        assert all(p in (REDACTED, {}) for p in payloads(again)), again
    assert any(payloads(e) and payloads(e)[0] == REDACTED for e in replayed)


def test_replay_picks_the_trace_asked_for(recorder: Recorder) -> None:
    first, second = CORPUS[0], CORPUS[1]
    events_1, _ = recorder.live(first, "pick-1")
    recorder.live(second, "pick-2")
    latest = replay(recorder.path)
    assert latest[0]["name"] == "LangGraph" and latest[0]["metadata"]["thread_id"] == "pick-2"
    wanted = trace_of(recorder.path, events_1[0]["run_id"])
    assert [e["run_id"] for e in replay(recorder.path, trace_id=wanted)] == [
        e["run_id"] for e in events_1
    ]
    with pytest.raises(ReplayError, match="no otelstream run in trace"):
        replay(recorder.path, trace_id="0" * 32)


def test_debug_is_not_invented_for_runs_without_a_debug_consumer(recorder: Recorder) -> None:
    case = CORPUS[0]
    case.build().invoke(case.input, case.config())
    assert recorder.provider.force_flush(10_000)
    assert replay(recorder.path)[0]["event"] == "on_chain_start"
    with pytest.raises(ReplayError, match="no recorded debug stream"):
        replay(recorder.path, stream_mode="debug")


def test_replay_command(recorder: Recorder) -> None:
    case = next(c for c in CORPUS if c.name == "agent")
    recorder.live(case, "cli-replay")
    command = [sys.executable, "-m", "otelstream", "replay", str(recorder.path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == replay(recorder.path)
    done = subprocess.run(
        [*command, "--stream-mode", "debug"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == replay(
        recorder.path, stream_mode="debug"
    )
    missing = subprocess.run(
        [sys.executable, "-m", "otelstream", "replay", str(recorder.path) + ".nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "No such file" in missing.stderr


@pytest.mark.timeout(120)
def test_replay_reads_the_default_file_and_its_rotated_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no file given, replay reads ``OTELSTREAM_FILE`` (the default location) and the
    files it was rotated into: the newest run by default, any run by ``trace_id``."""
    path = tmp_path / "state" / "otlp.jsonl"
    monkeypatch.setenv("OTELSTREAM_FILE", str(path))
    monkeypatch.setenv("OTELSTREAM_FILE_MAX_BYTES", "20000")
    monkeypatch.setenv("OTELSTREAM_FILE_BACKUPS", "1000")
    recorder = Recorder(path)  # the exporter reads the variables, as the default one does
    cases = [c for c in CORPUS if c.name in ("agent", "subgraph", "custom_events")]
    try:
        live = [recorder.live(case, f"rotated-{case.name}")[0] for case in cases]
    finally:
        otelstream.uninstrument()
        recorder.provider.shutdown()
    files = rotated_files(path)
    assert len(files) == 3  # one run (one export batch) a file, the newest in ``path``
    assert [e["run_id"] for e in replay()] == [e["run_id"] for e in live[-1]]
    first = live[0][0]["run_id"]
    trace_id = next(
        span["traceId"]
        for line in files[0].read_text().splitlines()  # the oldest rotated file
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
        if any(a["value"].get("stringValue") == first for a in span["attributes"])
    )
    assert [e["run_id"] for e in replay(trace_id=trace_id)] == [e["run_id"] for e in live[0]]
    done = subprocess.run(
        [sys.executable, "-m", "otelstream", "replay", "--trace-id", trace_id],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OTELSTREAM_FILE": str(path)},
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == replay(trace_id=trace_id)

    monkeypatch.setenv("OTELSTREAM_FILE", str(tmp_path / "nothing-here.jsonl"))
    with pytest.raises(ReplayError, match=r"no recorded runs: .*here\.jsonl does not exist"):
        replay()


def test_replay_keeps_only_the_chosen_trace_in_memory(recorder: Recorder, tmp_path: Path) -> None:
    """A file of many recorded runs (each with a 200 kB input) is streamed: replaying one
    run takes a small fraction of the file's size in memory, by default and by trace id."""
    case = next(c for c in CORPUS if c.name == "agent")
    recorder.live(case, "memory")
    lines = recorder.path.read_text().splitlines()
    big = tmp_path / "big.jsonl"
    with big.open("w") as out:  # 150 copies of the run, each in a trace of its own
        for copy in range(150):
            trace_id = f"{copy:032x}"
            for line in lines:
                request = json.loads(line)
                for rs in request["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for span in ss["spans"]:
                            span["traceId"] = trace_id
                            for a in span["attributes"]:
                                if a["key"] == "langchain.run.input" and not span.get(
                                    "parentSpanId"
                                ):
                                    a["value"]["stringValue"] += " " * 200_000
                out.write(json.dumps(request) + "\n")
    size = big.stat().st_size
    assert size > 30_000_000
    for trace_id in (None, f"{7:032x}"):
        tracemalloc.start()
        try:
            events = replay(big, trace_id=trace_id)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert [e["event"] for e in events] == [e["event"] for e in replay(recorder.path)]
        assert peak < size / 10, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"

"""OTLP export end to end: real graphs, real exporters, real backends (Phoenix, rotel).

Every span the SDK finished (captured in memory on the same provider) must be found in the
backend, intact: names, trace and parent links, times, statuses, attributes, events. Exporting
to an endpoint that is down or never answers must not slow the graph or grow memory.

The servers are installed on first use and cached (see ``backends.py``), never skipped.
Phoenix boots in the background while the tests that need no server (first here) run.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from backends import BlackHole, Phoenix, Rotel, compare_spans
from graphs import CASES
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelstream
from otelstream.export.providers import tracer_provider_from_env

pytest_plugins = ["backends"]

PROTOCOLS = ("grpc", "http/protobuf")

#: Corpus graphs run in each export test: a tool-calling agent with streamed tokens, a
#: subgraph, custom events and stream writes (async), a failing node (ERROR statuses and
#: exception events), an interrupt, a retriever.
WORKLOAD = ("agent", "subgraph", "custom_events", "failing", "interrupt", "retriever")


# --- the app's tracing setup --------------------------------------------------------------------
# otelstream.configure() reads the same OTEL_* names, but sets the *global* provider, once per
# process: in-process tests build theirs here (swap this body to change how), and the last test
# runs configure() itself in a fresh process.
def provider_from_env(env: Mapping[str, str]) -> TracerProvider:
    """The tracer provider ``otelstream.configure()`` builds from these ``OTEL_*`` settings
    (its exporters and batch processor read them when built), without setting it globally."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith(("OTEL_", "OTELSTREAM_"))]:
            del os.environ[key]
        os.environ.update(env)
        provider, labels = tracer_provider_from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert labels == [f"otlp {env['OTEL_EXPORTER_OTLP_PROTOCOL']}"], labels
    return provider


def export_env(protocol: str, endpoint: str, project: str, **extra: str) -> dict[str, str]:
    """The ``OTEL_*`` settings of an app exporting to ``endpoint`` into Phoenix ``project``."""
    return {
        "OTEL_SERVICE_NAME": "otelstream-e2e",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        **extra,
    }


@dataclass
class Traced:
    """An instrumented app: its provider and the in-memory copy of every finished span."""

    provider: TracerProvider
    memory: InMemorySpanExporter

    def flush(self) -> list[ReadableSpan]:
        """Flush the exporters (the result is not trusted) and return what was sent."""
        self.provider.force_flush()
        return list(self.memory.get_finished_spans())


@contextmanager
def traced(env: Mapping[str, str], **options: Any) -> Iterator[Traced]:
    """otelstream instrumented on the provider built from ``env``, plus an in-memory copy."""
    provider = provider_from_env(env)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    otelstream.instrument(tracer_provider=provider, **options)
    try:
        yield Traced(provider, memory)
    finally:
        otelstream.uninstrument()
        provider.shutdown()


def run_case(name: str, thread_id: str = "t-1") -> None:
    """Run one corpus graph as its case says (sync or async; expected errors swallowed)."""
    CASES[name].run_to_end(CASES[name].config(thread_id))


def new_project(label: str) -> str:
    return f"e2e-{label.replace('/', '-')}-{uuid.uuid4().hex[:8]}"


def assert_all_arrived(phoenix: Phoenix, project: str, sent: list[ReadableSpan]) -> list[Any]:
    """Poll Phoenix until ``project`` holds as many spans as were sent; fail with the diff."""
    received = phoenix.wait_for_spans(project, len(sent))
    problems = compare_spans(sent, received)
    assert not problems, f"{len(problems)} differences in project {project}:\n" + "\n".join(
        problems[:60]
    )
    return received


def assert_workload_shape(sent: list[ReadableSpan], received: list[dict[str, Any]]) -> None:
    """The workload exercised what the comparison should cover, and the backend has it."""
    names = {s.name for s in sent}
    assert {"invoke_agent LangGraph", "chat fake-model-1", "execute_tool add"} <= names
    assert {"invoke_workflow inner_graph", "node inner", "node boom"} <= names
    assert "retrieval KeywordRetriever" in names
    events = {e.name for s in sent for e in s.events}
    assert {"on_chat_model_stream", "on_custom_event", "langgraph.custom", "exception"} <= events
    assert "langgraph.interrupt" in events
    assert {s.resource.attributes["service.name"] for s in sent} == {"otelstream-e2e"}

    operations = {r["attributes"].get("gen_ai.operation.name") for r in received}
    assert {"invoke_agent", "invoke_workflow", "chat", "execute_tool", "retrieval"} <= operations
    for span in received:
        assert span["attributes"]["langchain.run.id"]
        if span["name"].startswith("node "):
            assert span["attributes"]["langgraph.node"] == span["name"].removeprefix("node ")
    assert "ERROR" in {r["status_code"] for r in received}
    traces = {r["context"]["trace_id"] for r in received}
    assert len(traces) == len(WORKLOAD)  # one trace per graph run


# --- endpoints that do not work ----------------------------------------------------------------
class CountingHandler(logging.Handler):
    """Counts log records by logger name."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.name] = self.counts.get(record.name, 0) + 1


@contextmanager
def counted_logs(*names: str) -> Iterator[CountingHandler]:
    """Count the records of loggers ``names`` and keep them out of pytest's log capture
    (the SDK warns per dropped span: stored records would look like a leak)."""
    handler = CountingHandler()
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, (propagate, level) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.propagate, lg.level = propagate, level


def timed_runs(count: int) -> list[float]:
    """Wall time of each of ``count`` runs of the linear graph."""
    graph = CASES["linear"].build()
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        graph.invoke({"count": 1, "log": []})
        durations.append(time.perf_counter() - started)
    return durations


def batch_processor(provider: TracerProvider) -> Any:
    """The provider's batching core (SDK internals: ``_batch_processor`` since SDK 1.33, the
    ``BatchSpanProcessor`` itself before)."""
    for processor in provider._active_span_processor._span_processors:
        if isinstance(processor, BatchSpanProcessor):
            return getattr(processor, "_batch_processor", processor)
    raise AssertionError("the provider has no BatchSpanProcessor")


@dataclass
class ExportAttempt:
    spans: int
    result: SpanExportResult
    seconds: float


def watch_exports(provider: TracerProvider) -> list[ExportAttempt]:
    """Record every call of the real exporter behind the provider's batch processor."""
    core = batch_processor(provider)
    exporter = getattr(core, "_exporter", None) or core.span_exporter
    export = exporter.export
    attempts: list[ExportAttempt] = []

    def recording_export(spans: Any) -> SpanExportResult:
        started = time.perf_counter()
        result: SpanExportResult = export(spans)
        attempts.append(ExportAttempt(len(spans), result, time.perf_counter() - started))
        return result

    exporter.export = recording_export
    return attempts


def live_spans() -> int:
    """SDK span objects alive in this process."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, ReadableSpan))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("failure", ["down", "black-holed"])
def test_unreachable_backend_never_blocks_the_graph(
    protocol: str, failure: str, dead_port: int, black_hole: BlackHole
) -> None:
    """Exporting to a closed port, or to one that accepts and never answers, costs the graph
    nothing noticeable, and 350 runs keep memory bounded by the queue limit."""
    port = dead_port if failure == "down" else black_hole.port
    queue_limit, batch_size = 256, 128
    env = export_env(
        protocol,
        f"http://127.0.0.1:{port}",
        "unreachable",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
        OTEL_BSP_MAX_QUEUE_SIZE=str(queue_limit),
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE=str(batch_size),
        OTEL_BSP_SCHEDULE_DELAY="50",
    )
    timed_runs(20)  # warm up imports and caches
    baseline = statistics.median(timed_runs(50))
    sdk_logs = ("opentelemetry.sdk._shared_internal", "opentelemetry.exporter")
    spans_before = live_spans()  # earlier tests' leftovers (a failed test's traceback, say)
    with counted_logs(*sdk_logs) as logs, traced(env) as app:
        app.memory.shutdown()  # keep no copy: only the export pipeline may hold spans
        attempts = watch_exports(app.provider)
        durations = timed_runs(100)  # also fills the queue: the exporter is stuck or failing
        tracemalloc.start()
        try:
            timed_runs(50)
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            timed_runs(200)
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        queued = len(batch_processor(app.provider)._queue)
        alive = live_spans() - spans_before
        shutdown_started = time.perf_counter()
    shutdown = time.perf_counter() - shutdown_started

    slowest, typical = max(durations), statistics.median(durations)
    print(
        f"\n{failure} {protocol}: uninstrumented median {baseline * 1e3:.2f} ms; instrumented "
        f"median {typical * 1e3:.2f} ms, max {slowest * 1e3:.1f} ms; traced memory growth over "
        f"200 runs {growth / 1024:.0f} KiB; queue {queued}; live spans {alive}; exports "
        f"{len(attempts)} (longest {max((a.seconds for a in attempts), default=0):.2f}s); "
        f"shutdown {shutdown:.2f}s; logs {logs.counts}; black hole accepted {black_hole.accepted}"
    )
    assert slowest < baseline + 1.0, "a graph run waited for the exporter"
    assert typical < baseline + 0.05
    # bounded: what the queue and one batch in flight hold, not one run's worth per run
    assert queued <= queue_limit
    assert alive <= queue_limit + batch_size + 16
    assert growth < 4 * 1024 * 1024, "memory grows with every run"
    # the exporter really tried, and failed (after waiting, for the black hole)
    assert attempts, "the exporter was never called"
    assert {a.result for a in attempts} == {SpanExportResult.FAILURE}
    if failure == "black-holed":
        assert black_hole.accepted > 0 and black_hole.bytes_received > 0
        assert max(a.seconds for a in attempts) >= 0.9
    assert shutdown < 15.0, "provider shutdown hangs on an unreachable backend"


# --- to Phoenix, directly and through a collector ----------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_export_to_phoenix(phoenix: Phoenix, protocol: str) -> None:
    """Every span of real graph runs reaches Phoenix intact, over gRPC and HTTP/protobuf."""
    project = new_project(protocol)
    endpoint = phoenix.grpc_endpoint if protocol == "grpc" else phoenix.base_url
    with traced(export_env(protocol, endpoint, project), capture_tokens=True) as app:
        for name in WORKLOAD:
            run_case(name)
        sent = app.flush()
    received = assert_all_arrived(phoenix, project, sent)
    assert_workload_shape(sent, received)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_export_through_rotel(phoenix: Phoenix, rotel: Rotel, protocol: str) -> None:
    """app -> OTLP -> rotel collector -> OTLP/HTTP -> Phoenix keeps every span intact."""
    project = new_project(f"rotel-{protocol}")
    endpoint = rotel.grpc_endpoint if protocol == "grpc" else f"http://127.0.0.1:{rotel.http_port}"
    with traced(export_env(protocol, endpoint, project), capture_tokens=True) as app:
        for name in WORKLOAD:
            run_case(name)
        sent = app.flush()
    received = assert_all_arrived(phoenix, project, sent)
    assert_workload_shape(sent, received)


def test_many_concurrent_runs_arrive(phoenix: Phoenix) -> None:
    """Runs from several threads at once, more spans than one export batch: all arrive, each
    run its own trace, through pagination of the backend's API."""
    from concurrent.futures import ThreadPoolExecutor

    project = new_project("batch")
    env = export_env(
        "http/protobuf", phoenix.base_url, project, OTEL_BSP_MAX_EXPORT_BATCH_SIZE="64"
    )
    with traced(env) as app:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: run_case("agent", f"t-{i}"), range(12)))
        sent = app.flush()
    assert len(sent) > 100
    received = assert_all_arrived(phoenix, project, sent)
    assert len({r["context"]["trace_id"] for r in received}) == 12


def test_comparison_reports_every_difference(phoenix: Phoenix) -> None:
    """The comparison is not vacuous: each kind of damage to what arrived is reported."""
    project = new_project("compare")
    with traced(export_env("http/protobuf", phoenix.base_url, project)) as app:
        run_case("failing")
        sent = app.flush()
    received = assert_all_arrived(phoenix, project, sent)
    by_name = {r["name"]: r for r in received}
    node, root = by_name["node boom"], by_name["invoke_workflow LangGraph"]

    def damaged(change: Any) -> list[str]:
        copies = copy.deepcopy(received)
        change(copies, {c["name"]: c for c in copies})
        return compare_spans(sent, copies)

    assert any("missing" in p for p in damaged(lambda c, n: c.remove(n["node boom"])))
    assert any("stored 2 times" in p for p in damaged(lambda c, n: c.append(n["node ok"])))
    assert any("parent id" in p for p in damaged(lambda c, n: n["node ok"].update(parent_id=None)))
    assert any(
        "status code" in p for p in damaged(lambda c, n: n["node boom"].update(status_code="OK"))
    )
    assert any(
        "attribute langgraph.node" in p
        for p in damaged(lambda c, n: n["node boom"]["attributes"].update({"langgraph.node": "x"}))
    )
    assert any(
        "attribute langchain.run.metadata.case" in p
        for p in damaged(
            lambda c, n: n["node boom"]["attributes"].pop("langchain.run.metadata.case")
        )
    )
    assert any("event names" in p for p in damaged(lambda c, n: n["node boom"]["events"].clear()))
    assert any(
        "start_time" in p
        for p in damaged(lambda c, n: n["node boom"].update(start_time=root["end_time"]))
    )
    assert node["events"] and node["status_code"] == "ERROR"


def test_large_payloads_arrive_over_grpc(phoenix: Phoenix) -> None:
    """Runs whose state carries 20 KB of text (each attribute truncated to the default 16 KiB)
    all arrive over gRPC with otelstream's default batch settings: with the SDK's batch of 512
    spans they would exceed gRPC's 4 MiB message limit and the whole batch would be lost."""
    project = new_project("large-grpc")
    env = export_env("grpc", phoenix.grpc_endpoint, project, OTEL_EXPORTER_OTLP_TIMEOUT="3")
    with traced(env) as app:
        graph = CASES["linear"].build()
        for _ in range(60):
            graph.invoke({"count": 1, "log": ["x" * 20_000]})
        sent = app.flush()
    size = sum(len(str(v)) for s in sent for v in (s.attributes or {}).values())
    if size < 4 * 1024 * 1024:  # not an AssertionError: must not pass as the expected failure
        raise RuntimeError(f"the payload ({size} bytes) no longer exceeds 4 MiB")
    # on a busy box (tests run in parallel) Phoenix takes more than the default 15 s to store
    # these 5 MB; the wait ends as soon as they are all there
    received = phoenix.wait_for_spans(project, len(sent), timeout=90)
    assert not compare_spans(sent, received)


# --- the product path: otelstream.configure() from OTEL_* in a fresh process -------------------
CONFIGURED_APP = """
import json, sys
sys.path.insert(0, sys.argv[1])
import otelstream
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_export_e2e import WORKLOAD, run_case

otelstream.instrument(capture_tokens=True)  # no provider given: configure() reads OTEL_*
memory = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))
for name in WORKLOAD:
    run_case(name)
spans = [
    {
        "span_id": format(s.context.span_id, "016x"),
        "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
        "name": s.name,
        "status_code": s.status.status_code.name,
        "run_id": s.attributes.get("langchain.run.id"),
        "events": [e.name for e in s.events],
    }
    for s in memory.get_finished_spans()
]
print(json.dumps({"setup": str(otelstream.configure()), "spans": spans}))
# no flush here: the SDK's exit handler shuts the provider down, exporting the last batch
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_configure_from_env_exports_to_phoenix(phoenix: Phoenix, protocol: str) -> None:
    """An app that only sets ``OTEL_*`` and calls ``otelstream.instrument()`` gets every span
    to Phoenix, the last batch flushed at exit."""
    project = new_project(f"configure-{protocol}")
    endpoint = phoenix.grpc_endpoint if protocol == "grpc" else phoenix.base_url
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSTREAM_"))}
    # Phoenix has no metrics ingest: export traces only
    env.update(export_env(protocol, endpoint, project), OTEL_METRICS_EXPORTER="none", PYTHONPATH="")
    tests = str(Path(__file__).parent)
    child = subprocess.run(
        [sys.executable, "-c", CONFIGURED_APP, tests],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert f"otlp {protocol}" in report["setup"], report["setup"]
    sent = {s["span_id"]: s for s in report["spans"]}
    received = {r["context"]["span_id"]: r for r in phoenix.wait_for_spans(project, len(sent))}
    assert received.keys() == sent.keys(), (
        f"missing {[sent[i]['name'] for i in sent.keys() - received.keys()]}, "
        f"unexpected {[received[i]['name'] for i in received.keys() - sent.keys()]}"
    )
    for span_id, want in sent.items():
        got = received[span_id]
        assert (got["name"], got["parent_id"], got["status_code"]) == (
            want["name"],
            want["parent_id"],
            want["status_code"],
        )
        assert got["attributes"]["langchain.run.id"] == want["run_id"]
        assert [e["name"] for e in got["events"]] == want["events"]


REJECTED_METRICS_APP = """
import sys, time
sys.path.insert(0, sys.argv[1])
import otelstream
from test_export_e2e import run_case

otelstream.instrument()  # traces and metrics to the endpoint, as OTEL_* says
run_case("agent")
time.sleep(1.5)  # about 15 metric export intervals
"""


@pytest.mark.parametrize(
    ("protocol", "rejection"), [("http/protobuf", "HTTP 405"), ("grpc", "gRPC UNIMPLEMENTED")]
)
def test_phoenix_rejecting_metrics_is_told_once(
    phoenix: Phoenix, protocol: str, rejection: str
) -> None:
    """Phoenix takes traces but no metrics (405 over HTTP, UNIMPLEMENTED over gRPC): the app
    is told once how to fix it, metrics export stops, the traces arrive."""
    project = new_project(f"metrics-{protocol}")
    endpoint = phoenix.grpc_endpoint if protocol == "grpc" else phoenix.base_url
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSTREAM_"))}
    env.update(
        export_env(protocol, endpoint, project), OTEL_METRIC_EXPORT_INTERVAL="100", PYTHONPATH=""
    )
    child = subprocess.run(
        [sys.executable, "-c", REJECTED_METRICS_APP, str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    lines = [line for line in child.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, child.stderr  # nothing but the one warning
    assert "does not accept OTLP metrics" in lines[0] and f"({rejection})" in lines[0]
    assert "OTEL_METRICS_EXPORTER=none" in lines[0]
    names = {s["name"] for s in phoenix.wait_for_spans(project, 9)}
    assert {"invoke_agent LangGraph", "node model", "node tools"} <= names, names

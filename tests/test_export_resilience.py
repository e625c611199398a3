"""Export resilience: a slow, failing, refusing or returning OTLP/HTTP endpoint.

The pipeline is the product's: ``tracer_provider_from_env()`` built from ``OTEL_*`` (its
counting batch processor and the real OTLP/HTTP exporter), fed by ``otelstream.instrument``
running real graphs, exporting to a real receiver (``otlp_receiver.py``). Drops are read from
``otelstream.export.dropped`` on an SDK ``MeterProvider``. Every span is accounted for:
after a flush, spans ended = spans the receiver accepted + spans counted dropped.
"""

from __future__ import annotations

import gc
import logging
import os
import statistics
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from graphs import CASES
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otlp_receiver import OtlpReceiver

import otelstream
from otelstream.export.providers import tracer_provider_from_env

#: One round of real graphs: tools and streamed tokens, a subgraph, a failing node, custom
#: events (async), fan-out, a chain, a retriever (45 spans).
WORKLOAD: tuple[str, ...] = ("linear", "subgraph", "agent", "failing", "custom_events")
WORKLOAD += ("fanout", "chain", "retriever")
OTELSTREAM_LOGGER = "otelstream"
SDK_BATCH_LOGGER = "opentelemetry.sdk._shared_internal"
EXPORTER_LOGGERS = ("opentelemetry.exporter", "urllib3", "requests")


# --- the pipeline under test ---------------------------------------------------------------------
@dataclass(frozen=True)
class Ended:
    """A span as the SDK ended it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str


@dataclass
class EndedSpans(SpanProcessor):
    """Counts the spans the SDK ended (and their payload size); keeps them if asked."""

    keep: bool = False
    count: int = 0
    payload_chars: int = 0
    spans: list[Ended] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        chars = sum(len(str(v)) for v in (span.attributes or {}).values())
        with self._lock:
            self.count += 1
            self.payload_chars += chars
            if self.keep:
                self.spans.append(
                    Ended(
                        format(span.context.trace_id, "032x"),
                        format(span.context.span_id, "016x"),
                        format(span.parent.span_id, "016x") if span.parent else None,
                        span.name,
                    )
                )

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def take(self) -> list[Ended]:
        """The spans kept since the last call."""
        with self._lock:
            spans, self.spans = self.spans, []
        return spans


@dataclass
class Pipeline:
    """The provider built from ``OTEL_*``, its drop counter's reader, and the ended spans."""

    provider: TracerProvider
    reader: InMemoryMetricReader
    ended: EndedSpans

    def dropped(self) -> dict[str, int]:
        """``otelstream.export.dropped`` by ``error.type`` (cumulative)."""
        found: dict[str, int] = {}
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != "otelstream.export.dropped":
                        continue
                    for point in metric.data.data_points:  # type: ignore[union-attr]
                        reason = str(point.attributes["error.type"])  # type: ignore[index]
                        found[reason] = found.get(reason, 0) + int(point.value)  # type: ignore[union-attr]
        return found

    def queued(self) -> int:
        """Spans waiting in the batch queue (SDK internals, as in ``test_export_e2e``)."""
        for processor in self.provider._active_span_processor._span_processors:
            if isinstance(processor, BatchSpanProcessor):
                core: Any = getattr(processor, "_batch_processor", processor)
                return len(core._queue)
        raise AssertionError("the provider has no BatchSpanProcessor")

    def flush(self) -> None:
        assert self.provider.force_flush(), "force_flush timed out"


@contextmanager
def pipeline(endpoint: str, keep: bool = False, **env: str) -> Iterator[Pipeline]:
    """otelstream instrumented on ``tracer_provider_from_env()`` built with these ``OTEL_*``
    (OTLP over HTTP/protobuf to ``endpoint``), its drops counted on an in-memory reader."""
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    settings = {
        "OTEL_SERVICE_NAME": "otelstream-resilience",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_METRICS_EXPORTER": "none",
        **env,
    }
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith(("OTEL_", "OTELSTREAM_"))]:
            del os.environ[key]
        os.environ.update(settings)
        provider, labels = tracer_provider_from_env(meter_provider=meters)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert labels == ["otlp http/protobuf"], labels
    ended = EndedSpans(keep=keep)
    provider.add_span_processor(ended)
    otelstream.instrument(tracer_provider=provider, meter_provider=meters)
    try:
        yield Pipeline(provider, reader, ended)
    finally:
        otelstream.uninstrument()
        provider.shutdown()
        meters.shutdown()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


# --- graphs --------------------------------------------------------------------------------------
def outcome(name: str, thread_id: str = "t-1") -> Any:
    """Run one corpus graph; what it returned or raised, comparable across runs (message ids
    and run ids left out)."""
    case = CASES[name]
    try:
        result = case.run(case.config(thread_id))
    except Exception as error:
        return ("raised", type(error).__name__, str(error))
    if isinstance(result, dict) and "messages" in result:
        messages = result["messages"]
        calls = [[(c["name"], c["args"]) for c in getattr(m, "tool_calls", [])] for m in messages]
        return [(type(m).__name__, m.content, c) for m, c in zip(messages, calls, strict=True)]
    return result


def run_workload(rounds: int) -> list[Any]:
    return [outcome(name, f"t-{i}") for i in range(rounds) for name in WORKLOAD]


PAYLOAD = "x" * 4000


def timed_runs(count: int, limit: float = 5.0) -> list[float]:
    """Wall time of each of ``count`` runs of the linear graph carrying a 4 KB payload; fails
    at once when a run takes more than ``limit`` seconds."""
    graph = CASES["linear"].build()
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        result = graph.invoke({"count": 1, "log": [PAYLOAD]})
        durations.append(time.perf_counter() - started)
        assert result == {"count": 20, "log": [PAYLOAD, "a", "b", "c"]}
        assert durations[-1] < limit, f"a graph run took {durations[-1]:.2f}s: it waited"
    return durations


def baseline_latency() -> float:
    """Median wall time of an uninstrumented linear run (after a warm-up)."""
    timed_runs(20)
    return statistics.median(timed_runs(50))


def records(caplog: pytest.LogCaptureFixture, logger: str, text: str = "") -> list[str]:
    """Messages of WARNING or worse logged under ``logger`` that contain ``text``."""
    return [
        r.getMessage()
        for r in caplog.records
        if (r.name == logger or r.name.startswith(logger + "."))
        and r.levelno >= logging.WARNING
        and text in r.getMessage()
    ]


# --- 1. a slow endpoint ------------------------------------------------------------------------
@pytest.mark.timeout(40)
def test_slow_endpoint_bounds_latency_memory_and_counts_queue_drops(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """An endpoint taking 1 s per request: runs do not wait for it, the queue (32 spans)
    bounds memory over 350 runs, and every span the full queue dropped is counted as
    ``queue_full``: ended = accepted + counted, up to one race per batch popped."""
    caplog.set_level(logging.WARNING)
    queue_limit, batch = 32, 16
    baseline = baseline_latency()
    receiver.slow(1.0)
    with pipeline(
        receiver.endpoint,
        OTEL_EXPORTER_OTLP_TIMEOUT="5",  # longer than the delay: exports are slow, not failed
        OTEL_BSP_MAX_QUEUE_SIZE=str(queue_limit),
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE=str(batch),
        OTEL_BSP_SCHEDULE_DELAY="50",
    ) as app:
        limit = baseline + 0.5  # an export takes 1 s: a run that waited for one exceeds this
        durations = timed_runs(100, limit)  # fills the queue: the exporter waits on the receiver
        tracemalloc.start()
        try:
            timed_runs(50, limit)
            gc.collect()
            before, chars_before = tracemalloc.get_traced_memory()[0], app.ended.payload_chars
            timed_runs(200, limit)
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - before
            window_chars = app.ended.payload_chars - chars_before
        finally:
            tracemalloc.stop()
        queued_at_end = app.queued()
        exports_during_runs = len(receiver.requests)
        counted_before_flush = app.dropped().get("queue_full", 0)
        receiver.normal()  # drain quickly: the request in flight still takes its second
        app.flush()
        assert app.queued() == 0
        ended, dropped = app.ended.count, app.dropped()

    received = receiver.spans
    lost = ended - len(received)  # nothing failed and nothing is queued: the rest was dropped
    sdk_queue_full = records(caplog, SDK_BATCH_LOGGER, "Queue full")
    ours = records(caplog, OTELSTREAM_LOGGER)
    slowest, typical = max(durations), statistics.median(durations)
    print(
        f"\nslow endpoint: uninstrumented median {baseline * 1e3:.2f} ms, instrumented median "
        f"{typical * 1e3:.2f} ms, max {slowest * 1e3:.1f} ms; memory growth over 200 runs "
        f"{growth / 1024:.0f} KiB (their payloads {window_chars / 1024:.0f} K chars); queue "
        f"{queued_at_end}/{queue_limit}; ended {ended}, received {len(received)} in "
        f"{len(receiver.requests)} requests ({exports_during_runs} during the runs), lost "
        f"{lost}, counted {dropped}; SDK 'Queue full' logs {len(sdk_queue_full)}; otelstream "
        f"warnings {ours}"
    )
    # runs never waited for an export (checked run by run: timed_runs' limit)
    assert typical < baseline + 0.025
    # bounded: the queue holds at most its limit, memory does not follow the payloads
    assert queued_at_end <= queue_limit
    assert growth < min(1024 * 1024, window_chars / 4), "memory grows with every run"
    # every export succeeded; no span arrived twice
    assert {r.status for r in receiver.requests} == {200}
    assert len({s.span_id for s in received}) == len(received)
    assert "export_failed" not in dropped
    # drops counted: exactly, except that a batch popped between otelstream's "queue full?"
    # and the SDK's own check makes one span counted but not dropped: at most once per batch
    # popped during the runs (those answered, and the one in flight)
    assert lost > ended // 2, "the queue never overflowed: the endpoint was not slow enough"
    counted = dropped.get("queue_full", 0)
    assert counted == counted_before_flush, "spans counted dropped during the flush"
    pops = exports_during_runs + 1
    assert lost <= counted <= lost + pops, (lost, counted, pops)
    # said once, not per span
    assert len(ours) == 1, ours
    assert "queue_full" in ours[0]


# --- 2. a failing or refusing endpoint ---------------------------------------------------------
@pytest.mark.timeout(30)
@pytest.mark.parametrize("failure", ["503", "500", "refused"])
def test_failing_endpoint_counts_export_failures(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    """An endpoint answering 503 (retried) or 500, or nothing listening: runs return what
    they return uninstrumented, as fast, and every span is counted ``export_failed`` (no
    queue drop), with one otelstream warning however many exports fail."""
    caplog.set_level(logging.WARNING)
    batch = 128
    expected = run_workload(2)
    baseline = baseline_latency()
    if failure == "refused":
        receiver.stop()
    else:
        receiver.failing(int(failure))
    with pipeline(
        receiver.endpoint,
        OTEL_EXPORTER_OTLP_TIMEOUT="1",  # 503 and refused: one retry after ~1 s, then failure
        OTEL_BSP_MAX_QUEUE_SIZE="2048",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE=str(batch),
        OTEL_BSP_SCHEDULE_DELAY="50",
    ) as app:
        got = run_workload(2)
        durations = timed_runs(40, baseline + 0.5)  # a retried 503 export takes ~1 s
        app.flush()
        assert app.queued() == 0
        ended, dropped = app.ended.count, app.dropped()

    attempted = {s.span_id for r in receiver.requests for s in r.spans}
    ours = records(caplog, OTELSTREAM_LOGGER)
    failed_logs = records(caplog, "opentelemetry.exporter", "Failed to export")
    slowest, typical = max(durations), statistics.median(durations)
    print(
        f"\n{failure}: uninstrumented median {baseline * 1e3:.2f} ms, instrumented median "
        f"{typical * 1e3:.2f} ms, max {slowest * 1e3:.1f} ms; ended {ended}, requests "
        f"{len(receiver.requests)} ({len(attempted)} distinct spans), counted {dropped}; "
        f"exporter 'Failed to export' logs {len(failed_logs)}; otelstream warnings {ours}"
    )
    assert got == expected, "instrumented runs returned something else"
    assert typical < baseline + 0.025
    assert ended > batch  # several exports failed, not one
    assert len(failed_logs) >= 2
    assert dropped == {"export_failed": ended}, "every span of a failed export is counted"
    assert receiver.spans == []
    if failure == "refused":
        assert receiver.requests == []
    else:
        assert len(attempted) == ended  # each span was offered, and refused
        assert {r.status for r in receiver.requests} == {int(failure)}
    assert len(ours) == 1 and "export_failed" in ours[0], ours


# --- 3. the endpoint comes back ----------------------------------------------------------------
@pytest.mark.timeout(30)
def test_export_resumes_when_the_endpoint_returns(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Up, down (refused: the spans of those runs fail, counted), up again on the same port:
    the later runs' spans all arrive, once each, with their parents, trace by trace."""
    caplog.set_level(logging.WARNING)
    with pipeline(
        receiver.endpoint,
        keep=True,
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="64",
        OTEL_BSP_SCHEDULE_DELAY="50",
    ) as app:
        run_workload(1)
        app.flush()
        before = app.ended.take()
        assert {s.span_id for s in receiver.spans} == {s.span_id for s in before}

        receiver.stop()
        run_workload(1)
        app.flush()
        while_down = app.ended.take()
        failed = app.dropped().get("export_failed", 0)

        receiver.restart()
        run_workload(2)
        app.flush()
        after = app.ended.take()
        dropped = app.dropped()

    arrived = {s.span_id: s for s in receiver.spans}
    print(
        f"\nreturning endpoint: {len(before)} spans before, {len(while_down)} while down "
        f"(counted {failed}), {len(after)} after; received {len(receiver.spans)}; {dropped}"
    )
    assert failed == len(while_down), "the spans of the failed exports are counted"
    assert dropped == {"export_failed": len(while_down)}, "later exports succeed"
    assert not {s.span_id for s in while_down} & arrived.keys()
    assert len(arrived) == len(receiver.spans) == len(before) + len(after)
    for span in after:
        got = arrived.get(span.span_id)
        assert got is not None, f"{span.name} of a later run never arrived"
        assert (got.trace_id, got.parent_id, got.name) == (
            span.trace_id,
            span.parent_id,
            span.name,
        )
        if got.parent_id is not None:  # the whole tree arrived: its parent too
            assert arrived[got.parent_id].trace_id == got.trace_id
    assert len({s.trace_id for s in after}) == 2 * len(WORKLOAD)  # one trace per run


# --- 4. credentials stay out of logs -----------------------------------------------------------
def canary_headers() -> tuple[str, str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS`` with two secrets, and the secrets."""
    token, key = f"CANARY-{uuid.uuid4()}", f"CANARY2-{uuid.uuid4()}"
    return f"authorization=Bearer {token},x-api-key={key}", token, key


def everything_logged(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    """Every captured record (message, arguments, extra fields, traceback) and all output."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in caplog.records:
        parts.append(formatter.format(record))  # includes the formatted traceback, if any
        parts.append(repr(record.args))
        parts.append(repr(vars(record)))
    out, err = capfd.readouterr()
    return "\n".join([*parts, caplog.text, out, err])


def debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every record at DEBUG, from the root and from the loggers on the export path."""
    caplog.set_level(logging.DEBUG)
    for name in (OTELSTREAM_LOGGER, "opentelemetry", *EXPORTER_LOGGERS):
        caplog.set_level(logging.DEBUG, logger=name)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("failure", ["503", "refused", "none"])
def test_headers_never_logged(
    receiver: OtlpReceiver,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    failure: str,
) -> None:
    """Secrets in ``OTEL_EXPORTER_OTLP_HEADERS`` appear in no log record (DEBUG included) and
    on neither stream, whether exports fail (503, refused) or succeed; and they are sent."""
    headers, token, key = canary_headers()
    if failure == "refused":
        receiver.stop()
    elif failure == "503":
        receiver.failing(503)
    debug_logging(caplog)
    with pipeline(
        receiver.endpoint,
        OTEL_EXPORTER_OTLP_HEADERS=headers,
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="64",
        OTEL_BSP_SCHEDULE_DELAY="50",
    ) as app:
        run_workload(1)
        app.flush()
        ended, dropped = app.ended.count, app.dropped()
    logged = everything_logged(caplog, capfd)  # after shutdown: its logs too

    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    print(
        f"\n{failure}: {len(caplog.records)} records ({len(debug)} DEBUG), {len(logged)} chars "
        f"captured; requests {len(receiver.requests)}; counted {dropped}"
    )
    assert token not in logged and key not in logged, "a header value was logged"
    assert "CANARY" not in logged
    assert any(r.name.startswith("urllib3") for r in debug), "DEBUG records were not captured"
    if failure == "none":
        assert dropped == {}
        assert len(receiver.spans) == ended
        assert receiver.requests
        for request in receiver.requests:
            assert request.headers["authorization"] == f"Bearer {token}"
            assert request.headers["x-api-key"] == key
    else:
        assert dropped == {"export_failed": ended}
        assert "Failed to export" in logged  # the failure itself was logged, and captured
        assert records(caplog, OTELSTREAM_LOGGER, "export_failed")
        if failure == "503":  # they were sent with the failing requests too
            assert receiver.requests
            assert all(r.headers["x-api-key"] == key for r in receiver.requests)

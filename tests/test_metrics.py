"""Metrics: names, units, second-scale buckets, attributes and counts, read back from the SDK
and from a real Prometheus endpoint (``opentelemetry-exporter-prometheus``)."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from backends import free_port
from graphs import CASES, NodeFailed
from langgraph.types import Command
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client.parser import text_string_to_metric_families

import otelstream
from otelstream.spans.metrics import GRAPH_BUCKETS, MODEL_CALL_BUCKETS, TOKEN_BUCKETS


class Telemetry:
    """Spans in memory and metrics from an in-memory reader, for one instrumentation."""

    def __init__(self, sampler: Any = None) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        otelstream.instrument(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.reader]),
        )

    def metric(self, name: str) -> tuple[str, list[Any]]:
        """A metric's unit and data points, by name."""
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return metric.unit or "", list(metric.data.data_points)
        raise AssertionError(f"no metric {name!r}")

    def points(self, name: str, **attrs: Any) -> list[Any]:
        """Data points of ``name`` whose attributes include ``attrs`` (dots as underscores)."""
        wanted = {k.replace("__", "."): v for k, v in attrs.items()}
        return [
            p
            for p in self.metric(name)[1]
            if all(p.attributes.get(k) == v for k, v in wanted.items())
        ]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    try:
        yield t
    finally:
        otelstream.uninstrument()


def run(case_name: str, thread_id: str = "m-1") -> Any:
    return CASES[case_name].run(CASES[case_name].config(thread_id))


def test_run_and_node_durations_by_outcome(telemetry: Telemetry) -> None:
    run("linear")
    with pytest.raises(NodeFailed):
        run("failing")
    unit, _ = telemetry.metric("langgraph.run.duration")
    assert unit == "s"
    ok = telemetry.points("langgraph.run.duration", gen_ai__operation__name="invoke_workflow")
    by_outcome = {p.attributes["langgraph.outcome"]: p for p in ok}
    assert set(by_outcome) == {"success", "error"}
    assert by_outcome["success"].count == 1 and by_outcome["error"].count == 1
    assert by_outcome["error"].attributes["error.type"] == "NodeFailed"
    assert "error.type" not in by_outcome["success"].attributes
    point: HistogramDataPoint = by_outcome["success"]
    assert tuple(point.explicit_bounds) == GRAPH_BUCKETS
    assert 0 < point.sum < 5

    nodes = {
        (p.attributes["langgraph.node"], p.attributes["langgraph.outcome"]): p.count
        for p in telemetry.metric("langgraph.node.duration")[1]
    }
    assert nodes[("boom", "error")] == 1
    assert all(outcome in ("success", "error") for _, outcome in nodes)
    spans = telemetry.spans.get_finished_spans()
    node_spans = [s for s in spans if s.name.startswith("node ")]
    assert sum(nodes.values()) == len(node_spans)
    graph_names = {
        p.attributes["langgraph.graph.name"] for p in telemetry.metric("langgraph.node.duration")[1]
    }
    assert graph_names == {"LangGraph"}


def test_interrupts_are_counted_once_and_mark_the_run(telemetry: Telemetry) -> None:
    case = CASES["interrupt"]
    graph, config = case.build(), case.config("m-int")
    graph.invoke(case.input, config)
    unit, points = telemetry.metric("langgraph.interrupts")
    assert unit == "{interrupt}"
    assert [(dict(p.attributes), p.value) for p in points] == [
        ({"langgraph.graph.name": "LangGraph", "langgraph.node": "review"}, 1)
    ]
    (interrupted,) = telemetry.points("langgraph.run.duration", langgraph__outcome="interrupted")
    assert interrupted.count == 1
    (review,) = telemetry.points("langgraph.node.duration", langgraph__node="review")
    assert review.attributes["langgraph.outcome"] == "interrupted"

    graph.invoke(Command(resume="yes"), config)  # the resumed run succeeds
    outcomes = {
        p.attributes["langgraph.node"]: p.attributes["langgraph.outcome"]
        for p in telemetry.points("langgraph.node.duration", langgraph__outcome="success")
    }
    assert outcomes.get("review") == "success"
    assert telemetry.metric("langgraph.interrupts")[1][0].value == 1


def test_model_call_duration_tokens_and_time_to_first_chunk(telemetry: Telemetry) -> None:
    case = CASES["agent"]

    async def consume() -> None:  # astream_events makes the model stream: time to first chunk
        async for _ in otelstream.astream_events(case.build(), case.input, case.config("m-ag")):
            pass

    asyncio.run(consume())
    chat_spans = [s for s in telemetry.spans.get_finished_spans() if s.name.startswith("chat ")]
    assert len(chat_spans) == 3
    common = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "fake-model-1",
        "gen_ai.response.model": "fake-model-1",
        "langgraph.graph.name": "LangGraph",  # the call was made inside a graph's node
        "langgraph.node": "model",
    }
    unit, points = telemetry.metric("gen_ai.client.operation.duration")
    assert unit == "s"
    (duration,) = points
    assert {k: duration.attributes[k] for k in common} == common
    assert duration.count == 3
    assert tuple(duration.explicit_bounds) == MODEL_CALL_BUCKETS

    unit, points = telemetry.metric("gen_ai.client.token.usage")
    assert unit == "{token}"
    sums = {p.attributes["gen_ai.token.type"]: p.sum for p in points}
    assert sums == {
        "input": sum(s.attributes["gen_ai.usage.input_tokens"] for s in chat_spans),
        "output": sum(s.attributes["gen_ai.usage.output_tokens"] for s in chat_spans),
    }
    assert all(tuple(p.explicit_bounds) == TOKEN_BUCKETS for p in points)

    unit, points = telemetry.metric("gen_ai.client.operation.time_to_first_chunk")
    assert unit == "s"
    (first_chunk,) = points
    assert first_chunk.count == 3
    assert first_chunk.sum <= duration.sum


def test_metrics_do_not_depend_on_sampling() -> None:
    telemetry = Telemetry(sampler=ALWAYS_OFF)
    try:
        run("agent", "m-unsampled")
        assert telemetry.spans.get_finished_spans() == ()
        (point,) = telemetry.points("langgraph.run.duration")
        assert point.count == 1
        tokens = telemetry.points("gen_ai.client.token.usage", gen_ai__token__type="output")
        assert tokens and tokens[0].sum > 0
    finally:
        otelstream.uninstrument()


def test_dropped_subscriber_items_are_counted(telemetry: Telemetry) -> None:
    case = CASES["linear"]
    config = {**case.config(), "configurable": {"thread_id": "m-drop"}}
    with otelstream.subscribe(thread_id="m-drop", max_buffer=1) as sub:
        worker = threading.Thread(target=case.build().invoke, args=(case.input, config))
        worker.start()
        worker.join(20)
        list(sub)
    assert sub.dropped > 0
    unit, (point,) = telemetry.metric("otelstream.subscriber.dropped")
    assert unit == "{item}"
    assert point.value == sub.dropped


# --- a real Prometheus endpoint -------------------------------------------------------------
def test_prometheus_endpoint_names_units_and_buckets() -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    reader = PrometheusMetricReader()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1")
    meter_provider = MeterProvider(metric_readers=[reader])
    otelstream.instrument(tracer_provider=TracerProvider(), meter_provider=meter_provider)
    try:
        run("agent", "prom-1")
        run("interrupt", "prom-2")
        with pytest.raises(NodeFailed):
            run("failing")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        otelstream.uninstrument()
        server.shutdown()
        thread.join(5)
        meter_provider.shutdown()  # unregisters the reader from prometheus_client
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expected = {
        "langgraph_run_duration_seconds": ("histogram", GRAPH_BUCKETS),
        "langgraph_node_duration_seconds": ("histogram", GRAPH_BUCKETS),
        "gen_ai_client_operation_duration_seconds": ("histogram", MODEL_CALL_BUCKETS),
        "gen_ai_client_token_usage": ("histogram", TOKEN_BUCKETS),
        "langgraph_interrupts": ("counter", None),
    }
    for name, (kind, buckets) in expected.items():
        assert name in families, f"{name} not exported; got {sorted(families)}"
        family = families[name]
        assert family.type == kind, (name, family.type)
        if buckets is not None:
            bounds = sorted(
                {float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")}
            )
            assert bounds == [*map(float, buckets), float("inf")], name
    runs = families["langgraph_run_duration_seconds"]
    outcomes = {
        s.labels["langgraph_outcome"]: s.value for s in runs.samples if s.name.endswith("_count")
    }
    assert outcomes == {"success": 1.0, "interrupted": 1.0, "error": 1.0}
    tokens = families["gen_ai_client_token_usage"]
    assert {s.labels["gen_ai_token_type"] for s in tokens.samples} == {"input", "output"}
    (interrupts,) = [
        s for s in families["langgraph_interrupts"].samples if s.name.endswith("_total")
    ]
    assert interrupts.labels["langgraph_node"] == "review" and interrupts.value == 1.0

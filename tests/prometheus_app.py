"""An instrumented app for the dashboard tests: real LangGraph graphs in a loop, metrics on
a Prometheus ``/metrics`` endpoint.

    python tests/prometheus_app.py --port 9464 --service otelstream-dash-test

Every iteration runs graphs from ``tests/graphs.py`` (each named after its case through
``run_name``) so that every series a dashboard panel reads exists: successful, failed,
interrupted, resumed and cancelled runs, Send fan-out, a subgraph, a tool-calling agent whose
chat model streams (time to first chunk) and reports token usage, a chat model that fails,
and a subscriber whose buffer overflows. After the first iteration the app prints ``ready``
on stdout; it runs until killed (or ``--seconds`` have passed).

Metrics go through ``opentelemetry-exporter-prometheus``, which names series the way the
Collector's ``prometheus`` exporter does (``_seconds_bucket``, ``_total``, dots to
underscores); the test's Prometheus scrape job is named after ``--service``, as the
Collector's exporter sets ``job`` from ``service.name``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.outputs import ChatResult
from langgraph.graph import MessagesState
from langgraph.types import Command
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import Counter, start_http_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

import graphs  # tests/ is not a package

import otelstream


class ProviderDown(RuntimeError):
    """What the failing chat model raises (becomes ``error.type``)."""


class FailingChatModel(graphs.FakeChatModel):
    """A chat model whose provider is always down."""

    model_name: str = "fake-model-down"

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise ProviderDown("provider unavailable")


def llm_failing() -> Any:
    """A one-node graph whose chat model call fails."""
    model = FailingChatModel(responses=[graphs.answer("never")])

    def call(s: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(s["messages"])]}

    return graphs.sequence(MessagesState, call)


def config(name: str, thread: str | None = None) -> dict[str, Any]:
    """A run config naming the graph run ``name`` (its ``langgraph.graph.name``)."""
    configurable = {"thread_id": thread} if thread else {}
    return {"run_name": name, "configurable": configurable}


def run_case(name: str) -> None:
    """Invoke one corpus case to its end, swallowing the failure it is meant to raise."""
    case = graphs.CASES[name]
    case.run_to_end(config(name, f"{name}-{time.monotonic_ns()}" if case.needs_thread else None))


def iteration(n: int) -> None:
    """One round of every kind of run the dashboards show."""
    for name in ("linear", "loop", "fanout", "subgraph", "chain", "retriever", "async_nodes"):
        run_case(name)
    run_case("failing")

    # A tool-calling agent whose chat model streams: token usage and time to first chunk.
    agent = graphs.agent()
    for _ in agent.stream(
        graphs.CASES["agent"].input, config("agent", f"agent-{n}"), stream_mode="messages"
    ):
        pass

    # An interrupt, then the run that resumes it.
    review = graphs.interrupting()
    thread = config("interrupt", f"interrupt-{n}")
    review.invoke(graphs.CASES["interrupt"].input, thread)
    review.invoke(Command(resume="approved"), thread)

    # A consumer that stops iterating after the first chunk: a cancelled run.
    with contextlib.closing(graphs.loop().stream({"count": 0, "log": []}, config("loop"))) as it:
        next(it)

    # A failing chat model.
    with contextlib.suppress(ProviderDown):
        llm_failing().invoke({"messages": [HumanMessage("hi")]}, config("llm_failing"))

    # A subscriber that never reads: its one-item buffer overflows.
    with otelstream.subscribe(thread_id=f"dropped-{n}", max_buffer=1):
        graphs.linear().invoke({"count": 1, "log": []}, config("linear", f"dropped-{n}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port of /metrics on 127.0.0.1")
    parser.add_argument("--service", default="otelstream-dash-test", help="service.name")
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after (0: never)")
    parser.add_argument("--pause", type=float, default=0.05, help="sleep between iterations")
    args = parser.parse_args(argv)
    # the overflowing subscriber warns once per subscription, that is every iteration
    logging.getLogger("otelstream").setLevel(logging.ERROR)

    resource = Resource.create({"service.name": args.service})
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()], resource=resource)
    tracer_provider = TracerProvider(resource=resource)
    otelstream.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    start_http_server(args.port, addr="127.0.0.1")

    # not otelstream's: lets the test wait until whole iterations happened between scrapes
    iterations = Counter("dash_app_iterations", "Completed iterations of the app's loop.")
    deadline = time.monotonic() + args.seconds if args.seconds else float("inf")
    n = 0
    while time.monotonic() < deadline:
        iteration(n)
        iterations.inc()
        if n == 0:
            print("ready", flush=True)
        n += 1
        time.sleep(args.pause)


if __name__ == "__main__":
    main()

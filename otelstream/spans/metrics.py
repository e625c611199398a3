"""Metrics recorded as runs end: GenAI client metrics and LangGraph run, node and interrupt
metrics, plus the live subscribers' dropped-item counter.

Histograms carry explicit second-scale buckets (the SDK's defaults suit milliseconds and give
absurd quantiles for seconds): the GenAI conventions' advisory buckets for model calls and
tokens, and a 1 ms .. 10 min ladder for graph runs and nodes. Metrics are recorded whether or
not a sampler kept the trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import Meter

from otelstream import semconv as sc
from otelstream.lifecycle import RunInfo
from otelstream.serialization import safe_text

# GenAI semantic conventions, advisory bucket boundaries
MODEL_CALL_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
GRAPH_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
)  # fmt: skip

Attributes = Mapping[str, str]
_INTERRUPT_KEYS = (sc.LG_GRAPH_NAME, sc.LG_NODE)


def metric_plan(run: RunInfo, attrs: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Which metric a run feeds when it ends (``model``, ``graph``, ``node`` or none), and
    its low-cardinality attributes, taken from the span's start attributes."""
    keys: tuple[str, ...]
    if run.run_type in ("chat_model", "llm"):
        kind = "model"
        keys = (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL)
    elif run.graph_operation is not None and not run.is_node:
        kind = "graph"
        keys = (sc.LG_GRAPH_NAME, sc.GEN_AI_OPERATION_NAME)
    elif run.is_node:
        kind = "node"
        keys = (sc.LG_GRAPH_NAME, sc.LG_NODE)
    else:
        return None, {}
    metric_attrs = {k: attrs[k] for k in keys if k in attrs}
    if kind == "model":  # where in the graph the call was made, if anywhere
        node = run.parent
        while node is not None and not node.is_node:
            node = node.parent
        if node is not None and node.parent is not None:
            metric_attrs[sc.LG_GRAPH_NAME] = safe_text(node.parent.name)
            metric_attrs[sc.LG_NODE] = safe_text(node.name)
    return kind, metric_attrs


class Metrics:
    """The instruments, created once per ``instrument()`` on the given meter."""

    def __init__(self, meter: Meter) -> None:
        self._operation_duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=MODEL_CALL_BUCKETS,
        )
        self._token_usage = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._time_to_first_chunk = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from the request to the first streamed chunk of the response.",
            explicit_bucket_boundaries_advisory=MODEL_CALL_BUCKETS,
        )
        self._run_duration = meter.create_histogram(
            sc.METRIC_RUN_DURATION,
            unit="s",
            description="Duration of LangGraph graph runs (subgraphs included), by outcome.",
            explicit_bucket_boundaries_advisory=GRAPH_BUCKETS,
        )
        self._node_duration = meter.create_histogram(
            sc.METRIC_NODE_DURATION,
            unit="s",
            description="Duration of LangGraph node tasks, by outcome.",
            explicit_bucket_boundaries_advisory=GRAPH_BUCKETS,
        )
        self._interrupts = meter.create_counter(
            sc.METRIC_INTERRUPTS,
            unit="{interrupt}",
            description="Interrupts raised by LangGraph nodes.",
        )
        self._dropped = meter.create_counter(
            sc.METRIC_SUBSCRIBER_DROPPED,
            unit="{item}",
            description="Stream items dropped because a subscriber's buffer was full.",
        )

    def model_call(
        self,
        attributes: Attributes,
        duration_s: float,
        first_chunk_s: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        self._operation_duration.record(duration_s, attributes)
        if first_chunk_s is not None:
            self._time_to_first_chunk.record(first_chunk_s, attributes)
        for token_type, count in (("input", input_tokens), ("output", output_tokens)):
            if count is not None:
                attrs = {**attributes, sc.GEN_AI_TOKEN_TYPE: token_type}
                self._token_usage.record(count, attrs)

    def run_ended(
        self,
        kind: str,
        attributes: dict[str, Any],
        duration_s: float,
        outcome: str,
        error_type: str | None,
        first_chunk_s: float | None = None,
        usage: tuple[int | None, int | None] | None = None,
    ) -> None:
        """Record a run planned by :func:`metric_plan` as it ends."""
        if error_type is not None:
            attributes[sc.ERROR_TYPE] = error_type
        if kind == "model":
            self.model_call(attributes, duration_s, first_chunk_s, *(usage or (None, None)))
            return
        attributes[sc.LG_OUTCOME] = outcome
        if kind == "graph":
            self.graph_run(attributes, duration_s)
        else:
            self.node(attributes, duration_s)

    def interrupted(self, attributes: Mapping[str, Any], count: int) -> None:
        """Interrupts raised where a node with these metric attributes ran."""
        self.interrupts({k: v for k, v in attributes.items() if k in _INTERRUPT_KEYS}, count)

    def graph_run(self, attributes: Attributes, duration_s: float) -> None:
        self._run_duration.record(duration_s, attributes)

    def node(self, attributes: Attributes, duration_s: float) -> None:
        self._node_duration.record(duration_s, attributes)

    def interrupts(self, attributes: Attributes, count: int) -> None:
        self._interrupts.add(count, attributes)

    def subscriber_dropped(self, count: int = 1) -> None:
        self._dropped.add(count)

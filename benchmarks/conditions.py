"""What the overhead benchmark compares: its conditions, and how long it measures each.

A condition says how a fresh process is instrumented (``setup``, see ``instrumentation.py``)
and how one run is made (``mode``, see ``run_modes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    """How one condition instruments the process and makes a run.

    ``setup`` names what is installed before the measured runs; ``mode`` how a run is made;
    ``before``/``after`` are extra modes timed before/after ``setup`` (``ref`` names the one
    this condition is compared with, beside the uninstrumented ``invoke``).
    """

    name: str
    label: str
    setup: str
    mode: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    ref: str | None = None
    requires: str | None = None
    default: bool = True


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in [
        Condition("baseline", "uninstrumented invoke", "none", "invoke"),
        Condition("sdk_floor", "bare SDK spans (1/run + 1/node)", "sdk", "floor"),
        Condition("noop_callback", "no-op LangChain callback handler", "none", "noop_callback"),
        Condition("otelstream", "otelstream tracing (discard exporter)", "otel", "invoke"),
        Condition("otelstream_otlp", "otelstream tracing (OTLP gRPC)", "otel_otlp", "invoke"),
        Condition("otelstream_tokens", "otelstream + capture_tokens", "otel_tokens", "invoke"),
        Condition(
            "otelstream_nocontent",
            "otelstream, capture_content=False",
            "otel_nocontent",
            "invoke",
            default=False,
        ),
        Condition("native_events", "native astream_events v2", "none", "native_events"),
        Condition(
            "otelstream_events",
            "otelstream.astream_events",
            "otel",
            "otel_events",
            before=("native_events",),
            ref="native_events",
        ),
        Condition("native_debug", "native stream_mode=debug", "none", "native_debug"),
        Condition(
            "otelstream_debug",
            "otelstream.stream debug",
            "otel",
            "otel_debug",
            before=("native_debug",),
            after=("traced_invoke",),
            ref="traced_invoke",
        ),
        Condition(
            "openinference",
            "OpenInference LangChainInstrumentor",
            "openinference",
            "invoke",
            requires="openinference.instrumentation.langchain",
        ),
        Condition(
            "openllmetry",
            "OpenLLMetry LangchainInstrumentor",
            "openllmetry",
            "invoke",
            requires="opentelemetry.instrumentation.langchain",
        ),
    ]
}
DEFAULT_MEMORY_CONDITIONS = ("otelstream",)


@dataclass
class Settings:
    """How long to warm up and how many repetitions of how long to time."""

    warmup_s: float
    min_warmup_runs: int
    rep_s: float
    reps: int
    memory_runs: tuple[int, int]


QUICK = Settings(warmup_s=0.05, min_warmup_runs=3, rep_s=0.05, reps=5, memory_runs=(50, 500))
FULL = Settings(warmup_s=0.4, min_warmup_runs=10, rep_s=0.25, reps=7, memory_runs=(1_000, 10_000))
TOKEN_MEMORY_DIVISOR = 2
"""The tokens workload streams 1,000 tokens a run: its memory phase runs half as many (still
past the point where the batch processor's queue of large token spans reaches its high-water
mark, a few hundred runs in)."""

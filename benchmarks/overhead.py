"""Overhead of otelstream (and of peer instrumentors) on LangGraph runs, side by side.

    python benchmarks/overhead.py [--quick] [--workloads chain,agent] [--conditions ...]
        [--json PATH] [--memory-runs A,B] [--memory-conditions ...] [--python PATH]

Every (condition, workload) pair runs in its own fresh subprocess, since instrumentors patch
LangChain globally. Each subprocess first times the uninstrumented ``invoke`` (the same-process
baseline every ratio is taken against), then any reference it is compared with, then sets
the condition up and times it: warm-up, then the median of several repetitions of a batch
of runs (modes timed in the same phase alternate round by round). Spans go to a
``BatchSpanProcessor`` (a counting, discarding exporter, or the OTLP gRPC exporter to a
minimal local receiver this script starts). A Markdown table is printed, JSON is written
(default ``benchmarks/results/overhead.json``, git-ignored), and the last line summarises
the headline ratios.

The OpenInference and OpenLLMetry conditions run when their packages are importable by the
subprocess interpreter (``pip install "otelstream[bench]"``, or ``--python`` pointing at a
venv that has them); otherwise they are reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "overhead.json"  # git-ignored
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
if str(HERE) not in sys.path:  # ``workloads`` sits beside this script
    sys.path.insert(0, str(HERE))


# --- conditions ----------------------------------------------------------------------------------
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


# --- worker: one (condition, workload) in a fresh process ------------------------------------
class CountingExporter:
    """A span exporter that counts spans and span events, then discards them or passes them on."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.spans = 0
        self.events = 0
        self.failures = 0

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.spans += len(spans)
        self.events += sum(len(s.events) for s in spans)
        if self.inner is None:
            return SpanExportResult.SUCCESS
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += len(spans)
        return result

    def shutdown(self) -> None:
        if self.inner is not None:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _rss_mb() -> float:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Worker:
    """Times one workload under one condition; see the module docstring."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from workloads import BUILDERS

        self.condition = CONDITIONS[spec["condition"]]
        self.settings = Settings(**{**spec["settings"], "memory_runs": tuple(spec["memory"])})
        self.endpoint: str | None = spec.get("otlp_endpoint")
        self.workload = BUILDERS[spec["workload"]]()
        self.provider: Any = None
        self.exporter: CountingExporter | None = None
        self.loop = asyncio.new_event_loop()

    # -- setup ---------------------------------------------------------------------------------
    def _provider(self, otlp: bool = False) -> Any:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        inner = None
        if otlp:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            if not self.endpoint:
                raise RuntimeError("no OTLP receiver endpoint")
            inner = OTLPSpanExporter(endpoint=self.endpoint, insecure=True)
        self.exporter = CountingExporter(inner)
        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter))  # type: ignore[arg-type]
        trace.set_tracer_provider(self.provider)
        return self.provider

    def setup(self) -> None:
        """Instrument the process as the condition says."""
        setup = self.condition.setup
        if setup == "none":
            return
        if setup == "sdk":
            self._provider()
            return
        if setup.startswith("otel"):
            import otelstream

            options = {
                "otel_tokens": {"capture_tokens": True},
                "otel_nocontent": {"capture_content": False},
            }.get(setup, {})
            provider = self._provider(otlp=setup == "otel_otlp")
            otelstream.instrument(tracer_provider=provider, **options)
            return
        if setup == "openinference":
            from openinference.instrumentation.langchain import LangChainInstrumentor

            LangChainInstrumentor().instrument(tracer_provider=self._provider())
            return
        if setup == "openllmetry":
            from opentelemetry.instrumentation.langchain import LangchainInstrumentor

            LangchainInstrumentor().instrument(tracer_provider=self._provider())
            return
        raise ValueError(f"unknown setup {setup!r}")

    # -- runs ------------------------------------------------------------------------------------
    def runner(self, mode: str) -> tuple[Callable[[int], None], Callable[[], Any]]:
        """``(batch(n), once())``: make ``n`` runs, or one run returning its output or items."""
        w = self.workload
        graph = w.graph

        if mode in ("invoke", "traced_invoke", "noop_callback", "floor"):
            if mode == "noop_callback":
                from langchain_core.callbacks import BaseCallbackHandler

                class NoopHandler(BaseCallbackHandler):
                    """Subscribes to nothing in particular: LangChain's dispatch cost only."""

                handler = NoopHandler()

                def config() -> dict[str, Any]:
                    return {**w.config(), "callbacks": [handler]}
            else:
                config = w.config

            def once() -> Any:
                cfg = config()
                out = graph.invoke(w.make_input(), cfg)
                w.done(cfg)
                return out

            if mode == "floor":
                tracer = self.provider.get_tracer("bench.floor")
                nodes = w.node_runs
                plain = once

                def once() -> Any:
                    with tracer.start_as_current_span("run"):
                        out = plain()
                        for _ in range(nodes):
                            tracer.start_span("node").end()
                    return out

            def batch(n: int) -> None:
                for _ in range(n):
                    once()

            return batch, once

        if mode in ("native_debug", "otel_debug"):
            import otelstream

            def items() -> Iterator[Any]:
                if mode == "native_debug":
                    return graph.stream(w.make_input(), cfg, stream_mode="debug")  # type: ignore[no-any-return]
                return otelstream.stream(graph, w.make_input(), cfg, stream_mode="debug")

            def once() -> Any:
                nonlocal cfg
                cfg = w.config()
                count = sum(1 for _ in items())
                w.done(cfg)
                return count

            cfg: dict[str, Any] = {}

            def batch(n: int) -> None:
                for _ in range(n):
                    once()

            return batch, once

        if mode in ("native_events", "otel_events"):
            import otelstream

            async def aonce() -> int:
                cfg = w.config()
                if mode == "native_events":
                    stream = graph.astream_events(w.make_input(), cfg, version="v2")
                else:
                    stream = otelstream.astream_events(graph, w.make_input(), cfg)
                count = 0
                async for _ in stream:
                    count += 1
                w.done(cfg)
                return count

            async def abatch(n: int) -> None:
                for _ in range(n):
                    await aonce()

            def batch(n: int) -> None:
                self.loop.run_until_complete(abatch(n))

            def once() -> Any:
                return self.loop.run_until_complete(aonce())

            return batch, once

        raise ValueError(f"unknown mode {mode!r}")

    def _flush(self) -> tuple[int, int, int]:
        if self.provider is None or self.exporter is None:
            return 0, 0, 0
        self.provider.force_flush()
        return self.exporter.spans, self.exporter.events, self.exporter.failures

    def measure(self, modes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Warm up and calibrate each mode, then time ``reps`` rounds, the modes interleaved
        within each round (so a load change on the machine hits them alike).

        Spans and span events per run are counted over each mode's warm-up (flushed before
        and after), so the timed rounds run with the batch processor exporting as usual.
        """
        s = self.settings
        modes = [modes] if isinstance(modes, str) else modes
        runners = {mode: self.runner(mode) for mode in modes}
        results: dict[str, dict[str, Any]] = {}
        sizes: dict[str, int] = {}
        for mode, (batch, once) in runners.items():
            spans0, events0, fail0 = self._flush()
            first = once()
            ok = self.workload.check(first) if not isinstance(first, int) else first > 0
            if not ok:
                raise RuntimeError(f"{mode}: unexpected output {str(first)[:200]}")
            runs, warm, times = 1, 0.0, []
            while runs <= s.min_warmup_runs or warm < s.warmup_s:
                t0 = time.perf_counter()
                batch(1)
                times.append(time.perf_counter() - t0)
                warm += times[-1]
                runs += 1
            spans, events, failures = self._flush()
            per_run = statistics.median(times[len(times) // 2 :])  # settled runs only
            sizes[mode] = max(1, math.ceil(s.rep_s / per_run))
            results[mode] = {
                "mode": mode,
                "batch": sizes[mode],
                "warmup_runs": runs,
                "spans_per_run": (spans - spans0) / runs,
                "events_per_run": (events - events0) / runs,
                "export_failures": failures - fail0,
                "items_per_run": first if isinstance(first, int) else None,
                "samples_s": [],
            }
        for _ in range(s.reps):
            for mode, (batch, _) in runners.items():
                gc.collect()
                t0 = time.perf_counter()
                batch(sizes[mode])
                results[mode]["samples_s"].append((time.perf_counter() - t0) / sizes[mode])
        failures = self._flush()[2]
        for result in results.values():
            result["median_s"] = statistics.median(result["samples_s"])
            result["export_failures_total"] = failures
        return results

    def memory(self, batch: Callable[[int], None]) -> dict[str, Any]:
        """RSS (and live Python allocations) after ``a`` and after ``b`` more runs than were
        made so far (tokens: half as many), each read after a flush and a full collection."""
        a, b = self.settings.memory_runs
        if self.workload.unit == "token":
            a, b = max(1, a // TOKEN_MEMORY_DIVISOR), max(2, b // TOKEN_MEMORY_DIVISOR)
        t0 = time.perf_counter()
        batch(a)
        self._flush()
        gc.collect()
        rss_a, blocks_a = _rss_mb(), sys.getallocatedblocks()
        batch(b - a)
        self._flush()
        gc.collect()
        rss_b, blocks_b = _rss_mb(), sys.getallocatedblocks()
        return {
            "runs_a": a,
            "runs_b": b,
            "rss_a_mb": rss_a,
            "rss_b_mb": rss_b,
            "delta_mb": rss_b - rss_a,
            "blocks_delta": blocks_b - blocks_a,
            "seconds": time.perf_counter() - t0,
        }

    def run(self, memory: bool) -> dict[str, Any]:
        """The uninstrumented invoke and references, then the condition (and its memory phase).

        Conditions that patch nothing (``none``, or a tracer provider nothing uses but the
        floor's own spans) are timed interleaved with the uninstrumented invoke.
        """
        cond = self.condition
        before = ["invoke", *cond.before]
        if cond.setup in ("none", "sdk"):
            self.setup()
            own = [] if cond.name == "baseline" else [cond.mode]
            variants = self.measure([*before, *own])
            variants["base"] = variants.pop("invoke")
            variants["cond"] = variants[cond.mode] if own else variants["base"]
            if own:
                del variants[cond.mode]
        else:
            variants = self.measure(before)
            variants["base"] = variants.pop("invoke")
            self.setup()
            after = self.measure([*cond.after, cond.mode])
            variants.update(after)
            variants["cond"] = variants.pop(cond.mode)
        if memory and all(self.settings.memory_runs):
            variants["cond"]["memory"] = self.memory(self.runner(cond.mode)[0])
        w = self.workload
        return {
            "variants": variants,
            "peak_rss_mb": _peak_rss_mb(),
            "unit": w.unit,
            "units": w.units,
            "node_runs": w.node_runs,
        }


def worker_main(spec_json: str) -> None:
    """Entry point of a condition subprocess: prints one ``RESULT {json}`` line."""
    spec = json.loads(spec_json)
    result = Worker(spec).run(memory=spec["memory_enabled"])
    print("RESULT " + json.dumps(result), flush=True)


# --- the local OTLP receiver -----------------------------------------------------------------
def receiver_main() -> None:
    """A minimal OTLP/gRPC TraceService that acknowledges each export without decoding it.

    Prints ``PORT n``; serves until stdin closes, then prints ``RECEIVED requests bytes``.
    """
    from concurrent import futures

    import grpc

    stats = {"requests": 0, "bytes": 0}

    def export(request: bytes, context: Any) -> bytes:
        stats["requests"] += 1
        stats["bytes"] += len(request)
        return b""  # an empty ExportTraceServiceResponse: everything accepted

    handler = grpc.method_handlers_generic_handler(
        TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    server.stop(0)
    print(f"RECEIVED {stats['requests']} {stats['bytes']}", flush=True)


@contextlib.contextmanager
def otlp_receiver(python: str) -> Iterator[tuple[str, dict[str, int]]]:
    """Start the receiver in a subprocess; yields its endpoint and, after exit, its stats."""
    proc = subprocess.Popen(
        [python, str(Path(__file__).resolve()), "--receiver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stats: dict[str, int] = {}
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"OTLP receiver did not start: {line!r}")
        yield f"127.0.0.1:{int(line.split()[1])}", stats
        proc.stdin.close()
        out = proc.stdout.read()
        for line in out.splitlines():
            if line.startswith("RECEIVED "):
                _, requests, size = line.split()
                stats.update(requests=int(requests), bytes=int(size))
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- driver ----------------------------------------------------------------------------------
@dataclass
class Row:
    """One (condition, workload) result, as reported."""

    condition: str
    workload: str
    status: str = "ok"
    note: str = ""
    unit: str = "node"
    units: int = 1
    median_us: float | None = None
    base_us: float | None = None
    ratio: float | None = None
    ratio_xproc: float | None = None
    overhead_us_per_unit: float | None = None
    ref: str | None = None
    ref_us: float | None = None
    ref_ratio: float | None = None
    spans_per_run: float | None = None
    events_per_run: float | None = None
    items_per_run: float | None = None
    native_items_per_run: float | None = None
    export_failures: int = 0
    peak_rss_mb: float | None = None
    memory: dict[str, Any] | None = None
    seconds: float = 0.0
    variants: dict[str, Any] = field(default_factory=dict)


def run_one(
    python: str,
    condition: Condition,
    workload: str,
    settings: Settings,
    memory: bool,
    endpoint: str | None,
) -> Row:
    """Run one (condition, workload) subprocess and turn its result into a ``Row``."""
    row = Row(condition.name, workload)
    if condition.requires is not None:
        check = subprocess.run(
            [python, "-c", f"import {condition.requires}"], capture_output=True, text=True
        )
        if check.returncode != 0:
            row.status = "skipped"
            row.note = f"not installed ({condition.requires}; pip install otelstream[bench])"
            return row
    spec = {
        "condition": condition.name,
        "workload": workload,
        "settings": {k: v for k, v in asdict(settings).items() if k != "memory_runs"},
        "memory": list(settings.memory_runs),
        "memory_enabled": memory,
        "otlp_endpoint": endpoint,
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    )
    row.seconds = time.perf_counter() - t0
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        row.status = "error"
        row.note = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        sys.stderr.write(f"--- {condition.name}/{workload} failed:\n{proc.stderr[-3000:]}\n")
        return row
    result = json.loads(lines[-1][len("RESULT ") :])
    variants = result["variants"]
    cond, base = variants["cond"], variants["base"]
    row.variants = variants
    row.units, row.unit = result["units"], result["unit"]
    row.median_us = cond["median_s"] * 1e6
    row.base_us = base["median_s"] * 1e6
    row.ratio = cond["median_s"] / base["median_s"]
    row.overhead_us_per_unit = (row.median_us - row.base_us) / row.units
    if condition.ref is not None:
        row.ref = condition.ref
        row.ref_us = variants[condition.ref]["median_s"] * 1e6
        row.ref_ratio = row.median_us / row.ref_us
    row.spans_per_run = cond["spans_per_run"]
    row.events_per_run = cond["events_per_run"]
    row.items_per_run = cond["items_per_run"]
    for mode in condition.before:  # the native stream this one reproduces
        row.native_items_per_run = variants[mode]["items_per_run"]
    row.export_failures = cond["export_failures_total"]
    row.peak_rss_mb = result["peak_rss_mb"]
    row.memory = cond.get("memory")
    return row


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _time(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} us"


def markdown(rows: list[Row]) -> str:
    """The results table, one line per (workload, condition)."""
    head = (
        "| workload | condition | median/run | vs invoke (same proc) | vs baseline proc "
        "| overhead us/unit | vs reference | spans/run | events/run | stream items/run "
        "| peak RSS MB | RSS after A -> B runs (MB) |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        label = CONDITIONS[r.condition].label
        if r.status != "ok":
            lines.append(f"| {r.workload} | {label} | {r.status}: {r.note} |" + " |" * 9 + " |")
            continue
        ref = "-"
        if r.ref_ratio is not None:
            ref = f"{r.ref_ratio:.2f}x {r.ref}"
        mem = "-"
        if r.memory:
            m = r.memory
            mem = (
                f"{m['rss_a_mb']:.1f} @{m['runs_a']:,} -> {m['rss_b_mb']:.1f} @{m['runs_b']:,}"
                f" ({m['delta_mb']:+.1f} MB, {m['blocks_delta']:+,} blocks)"
            )
        spans = "-" if not r.spans_per_run else f"{r.spans_per_run:.1f}"
        events = "-" if not r.spans_per_run else f"{r.events_per_run:.1f}"
        items = _fmt(r.items_per_run, ".0f")
        if r.native_items_per_run is not None:
            items += f" (native {r.native_items_per_run:.0f})"
        lines.append(
            f"| {r.workload} | {label} | {_time(r.median_us)} | {_fmt(r.ratio, suffix='x')} "
            f"| {_fmt(r.ratio_xproc, suffix='x')} "
            f"| {_fmt(r.overhead_us_per_unit, '+.1f')} /{r.unit} | {ref} | {spans} | {events} "
            f"| {items} | {_fmt(r.peak_rss_mb, '.0f')} | {mem} |"
        )
    return "\n".join(lines)


@dataclass
class Target:
    """One of the issue's targets, checked against the rows."""

    name: str
    value: float | None
    limit: float
    unit: str

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        return "met" if self.value <= self.limit else "MISSED"


def targets(rows: list[Row]) -> list[Target]:
    """The issue's targets; ratios are same-process ones."""
    by = {(r.condition, r.workload): r for r in rows if r.status == "ok"}

    def get(cond: str, workload: str, attr: str) -> float | None:
        row = by.get((cond, workload))
        return None if row is None else getattr(row, attr)

    out = [
        Target(f"tracing/invoke {w}", get("otelstream", w, "ratio"), limit, "x")
        for w, limit in (("chain", 1.5), ("fanout", 1.5), ("agent", 2.0))
    ]
    out.append(
        Target(
            "token capture per token",
            get("otelstream_tokens", "tokens", "overhead_us_per_unit"),
            5.0,
            "us",
        )
    )
    out += [
        Target(
            f"otelstream/native astream_events {w}",
            get("otelstream_events", w, "ref_ratio"),
            limit,
            "x",
        )
        for w, limit in (("chain", 1.0), ("agent", 1.0), ("tokens", 0.5))
    ]
    out += [
        Target(
            f"otelstream debug/traced invoke {w}", get("otelstream_debug", w, "ref_ratio"), 1.3, "x"
        )
        for w in ("chain", "fanout", "tokens", "agent")
    ]
    for w in ("chain", "fanout", "tokens", "agent"):
        mem = get("otelstream", w, "memory")
        out.append(Target(f"RSS growth {w}", None if not mem else mem["delta_mb"], 5.0, "MB"))
    return out


def summary(rows: list[Row], checks: list[Target]) -> str:
    """One line: the headline ratios."""
    by = {t.name: t for t in checks}

    def v(name: str, spec: str = ".2f", suffix: str = "x") -> str:
        t = by.get(name)
        return "n/a" if t is None or t.value is None else f"{t.value:{spec}}{suffix}"

    met = sum(t.verdict == "met" for t in checks)
    measured = sum(t.value is not None for t in checks)
    return (
        f"summary: tracing chain {v('tracing/invoke chain')} fanout "
        f"{v('tracing/invoke fanout')} agent {v('tracing/invoke agent')}; tokens "
        f"{v('token capture per token', '+.1f', ' us/token')}; events/native chain "
        f"{v('otelstream/native astream_events chain')} agent "
        f"{v('otelstream/native astream_events agent')} tokens "
        f"{v('otelstream/native astream_events tokens')}; debug/traced chain "
        f"{v('otelstream debug/traced invoke chain')} agent "
        f"{v('otelstream debug/traced invoke agent')}; RSS growth chain "
        f"{v('RSS growth chain', '+.1f', ' MB')}; targets met {met}/{measured}"
    )


def _versions() -> dict[str, str]:
    out = {}
    for dist in (
        "otelstream",
        "langgraph",
        "langchain-core",
        "opentelemetry-sdk",
        "openinference-instrumentation-langchain",
        "opentelemetry-instrumentation-langchain",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from workloads import WORKLOADS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short warm-up and repetitions (<3 min)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    p.add_argument(
        "--conditions",
        default=",".join(c.name for c in CONDITIONS.values() if c.default),
        help="comma-separated, from: " + ", ".join(CONDITIONS),
    )
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    p.add_argument(
        "--memory-runs",
        default=None,
        help="A,B: RSS after A and after B runs (default 1000,10000; --quick 50,500; "
        "tokens half as many); 0 turns the memory phase off",
    )
    p.add_argument(
        "--memory-conditions",
        default=",".join(DEFAULT_MEMORY_CONDITIONS),
        help="conditions that get the memory phase",
    )
    p.add_argument("--reps", type=int, default=None, help="timed repetitions per measurement")
    p.add_argument("--rep-seconds", type=float, default=None, help="target seconds per repetition")
    p.add_argument("--python", default=sys.executable, help="interpreter for the subprocesses")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = set(_split(args.workloads)) - set(WORKLOADS)
    unknown |= set(_split(args.conditions)) - set(CONDITIONS)
    unknown |= set(_split(args.memory_conditions)) - set(CONDITIONS)
    if unknown:
        p.error(f"unknown workload or condition: {', '.join(sorted(unknown))}")
    return args


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.receiver:
        receiver_main()
        return 0
    if args.worker:
        worker_main(args.worker)
        return 0
    started = time.perf_counter()
    settings = dataclasses.replace(QUICK if args.quick else FULL)
    if args.memory_runs is not None:
        parts = [int(x) for x in _split(args.memory_runs)]
        settings.memory_runs = (0, 0) if parts == [0] else (parts[0], parts[1])
    if args.reps is not None:
        settings.reps = args.reps
    if args.rep_seconds is not None:
        settings.rep_s = args.rep_seconds
    workloads = _split(args.workloads)
    conditions = [CONDITIONS[c] for c in _split(args.conditions)]
    memory_conditions = set(_split(args.memory_conditions))
    print(
        f"otelstream overhead benchmark ({'quick' if args.quick else 'full'}): "
        f"{len(conditions)} conditions x {len(workloads)} workloads, one subprocess each; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    rows: list[Row] = []
    receiver: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        endpoint = None
        if any(c.setup == "otel_otlp" for c in conditions):
            endpoint, receiver = stack.enter_context(otlp_receiver(args.python))
        for workload in workloads:
            for condition in conditions:
                row = run_one(
                    args.python,
                    condition,
                    workload,
                    settings,
                    condition.name in memory_conditions,
                    endpoint,
                )
                rows.append(row)
                print(
                    f"  {workload:7s} {condition.name:22s} {row.status:8s} "
                    f"{_time(row.median_us):>10s} {_fmt(row.ratio, suffix='x'):>7s} "
                    f"({row.seconds:.1f} s)",
                    file=sys.stderr,
                )
    baselines = {r.workload: r.median_us for r in rows if r.condition == "baseline" and r.median_us}
    for r in rows:
        if r.median_us is not None and baselines.get(r.workload):
            r.ratio_xproc = r.median_us / baselines[r.workload]
    checks = targets(rows)
    wall = time.perf_counter() - started
    table = markdown(rows)
    target_lines = ["| target | measured | limit | verdict |", "|---|---|---|---|"]
    target_lines += [
        f"| {t.name} | {_fmt(t.value, '.2f', ' ' + t.unit)} | {t.limit} {t.unit} | {t.verdict} |"
        for t in checks
    ]
    a, b = settings.memory_runs
    notes = (
        f"Medians of {settings.reps} repetitions (each >= {settings.rep_s:g} s of runs, after "
        f">= {settings.warmup_s:g} s of warm-up). 'vs invoke' is against the uninstrumented "
        "invoke timed in the same process before instrumenting; 'vs baseline proc' against the "
        "baseline condition's process. Overhead is per node execution (per token for tokens). "
        "References: native astream_events (uninstrumented) for otelstream.astream_events; "
        "the traced invoke (tracing on) for otelstream debug. "
        + (
            f"Memory: RSS after {a:,} and after {b:,} runs beyond the timed ones "
            f"(tokens: 1/{TOKEN_MEMORY_DIVISOR} as many), and the change in live Python "
            "allocations (sys.getallocatedblocks) between the two. "
            if a and b
            else "Memory phase off. "
        )
        + f"Wall time {wall:.0f} s."
    )
    print(table)
    print()
    print("\n".join(target_lines))
    print()
    print(notes)
    payload = {
        "mode": "quick" if args.quick else "full",
        "settings": asdict(settings),
        "python": platform.python_version(),
        "interpreter": args.python,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": _versions(),
        "wall_seconds": wall,
        "otlp_receiver": receiver,
        "rows": [asdict(r) for r in rows],
        "targets": [{**asdict(t), "verdict": t.verdict} for t in checks],
        "table": table,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2))
    print(f"JSON written to {args.json}")
    print(summary(rows, checks))
    return 1 if any(r.status == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

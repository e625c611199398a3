"""What the overhead benchmark prints and writes: the Markdown table of rows, the targets
table, the notes on method, the one-line summary, and the JSON payload."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
from dataclasses import asdict
from importlib import metadata
from typing import Any

from conditions import CONDITIONS, TOKEN_MEMORY_DIVISOR, Settings
from driver import Row
from targets import Target


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def fmt_time(us: float | None) -> str:
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
        items = fmt(r.items_per_run, ".0f")
        if r.native_items_per_run is not None:
            items += f" (native {r.native_items_per_run:.0f})"
        lines.append(
            f"| {r.workload} | {label} | {fmt_time(r.median_us)} | {fmt(r.ratio, suffix='x')} "
            f"| {fmt(r.ratio_xproc, suffix='x')} "
            f"| {fmt(r.overhead_us_per_unit, '+.1f')} /{r.unit} | {ref} | {spans} | {events} "
            f"| {items} | {fmt(r.peak_rss_mb, '.0f')} | {mem} |"
        )
    return "\n".join(lines)


def target_table(checks: list[Target]) -> str:
    """The targets, each with what was measured and its verdict."""
    lines = ["| target | measured | limit | verdict |", "|---|---|---|---|"]
    lines += [
        f"| {t.name} | {fmt(t.value, '.2f', ' ' + t.unit)} | {t.limit} {t.unit} | {t.verdict} |"
        for t in checks
    ]
    return "\n".join(lines)


def notes(settings: Settings, wall: float) -> str:
    """How the numbers were taken."""
    a, b = settings.memory_runs
    return (
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


def payload(
    args: argparse.Namespace,
    settings: Settings,
    wall: float,
    receiver: dict[str, int],
    rows: list[Row],
    checks: list[Target],
    table: str,
) -> dict[str, Any]:
    """The JSON written beside the printed report (``args``: the command line's)."""
    return {
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

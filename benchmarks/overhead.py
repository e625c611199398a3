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
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "overhead.json"  # git-ignored
if str(HERE) not in sys.path:  # the modules below sit beside this script
    sys.path.insert(0, str(HERE))

from conditions import CONDITIONS, DEFAULT_MEMORY_CONDITIONS, FULL, QUICK  # noqa: E402
from driver import Row, run_one  # noqa: E402
from receiver import otlp_receiver, receiver_main  # noqa: E402
from report import fmt, fmt_time, markdown, notes, payload, summary, target_table  # noqa: E402
from targets import targets  # noqa: E402


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
        from measurement import worker_main

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
    script = [args.python, str(Path(__file__).resolve())]  # --worker / --receiver run this
    rows: list[Row] = []
    receiver: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        endpoint = None
        if any(c.setup == "otel_otlp" for c in conditions):
            endpoint, receiver = stack.enter_context(otlp_receiver([*script, "--receiver"]))
        for workload in workloads:
            for condition in conditions:
                row = run_one(
                    script,
                    condition,
                    workload,
                    settings,
                    condition.name in memory_conditions,
                    endpoint,
                )
                rows.append(row)
                print(
                    f"  {workload:7s} {condition.name:22s} {row.status:8s} "
                    f"{fmt_time(row.median_us):>10s} {fmt(row.ratio, suffix='x'):>7s} "
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
    print(table)
    print()
    print(target_table(checks))
    print()
    print(notes(settings, wall))
    data = payload(args, settings, wall, receiver, rows, checks, table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2))
    print(f"JSON written to {args.json}")
    print(summary(rows, checks))
    return 1 if any(r.status == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

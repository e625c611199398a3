"""Runs one (condition, workload) in a fresh subprocess (instrumentors patch LangChain
globally) and turns what it reports into a ``Row``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conditions import Condition, Settings
from peers import installed

HERE = Path(__file__).resolve().parent


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
    command: list[str],
    condition: Condition,
    workload: str,
    settings: Settings,
    memory: bool,
    endpoint: str | None,
) -> Row:
    """Run one (condition, workload) subprocess (``command`` plus ``--worker SPEC``, with
    ``command[0]`` the interpreter) and turn its result into a ``Row``."""
    row = Row(condition.name, workload)
    if condition.requires is not None and not installed(command[0], condition.requires):
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
        [*command, "--worker", json.dumps(spec)],
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
    _fill(row, condition, json.loads(lines[-1][len("RESULT ") :]))
    return row


def _fill(row: Row, condition: Condition, result: dict[str, Any]) -> None:
    """The row's numbers from a worker's result (times in us, ratios to the same process's
    uninstrumented invoke and to the condition's reference)."""
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

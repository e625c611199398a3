"""Smoke test of ``benchmarks/overhead.py``: it runs end to end and reports every condition.

It runs ``--quick`` on the ``chain`` workload with tiny run counts, in a subprocess, and checks
the shape and sanity of the report. There are no timing assertions: CI machines are noisy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "overhead.py"
TRACING = {
    "sdk_floor",
    "otelstream",
    "otelstream_otlp",
    "otelstream_tokens",
    "otelstream_events",
    "otelstream_debug",
    "openinference",
    "openllmetry",
}
PEERS = {"openinference", "openllmetry"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--workloads",
            "chain",
            "--reps",
            "2",
            "--rep-seconds",
            "0.005",
            "--memory-runs",
            "5,10",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout, json.loads(out.read_text())


def test_every_condition_is_reported(report: tuple[str, dict[str, Any]]) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from overhead import CONDITIONS
    finally:
        sys.path.remove(str(SCRIPT.parent))
    stdout, data = report
    expected = {name for name, c in CONDITIONS.items() if c.default}
    rows = {row["condition"]: row for row in data["rows"]}
    assert set(rows) == expected
    assert all(row["workload"] == "chain" for row in data["rows"])
    for name in expected:
        assert f"| chain | {CONDITIONS[name].label} |" in stdout


def test_numbers_are_sane(report: tuple[str, dict[str, Any]]) -> None:
    _, data = report
    for row in data["rows"]:
        name = row["condition"]
        if row["status"] == "skipped":
            assert name in PEERS, row  # only the optional peers may be missing
            assert "not installed" in row["note"]
            continue
        assert row["status"] == "ok", row
        for key in ("median_us", "base_us", "ratio", "ratio_xproc", "peak_rss_mb"):
            assert row[key] > 0, (name, key, row[key])
        if name in TRACING:
            assert row["spans_per_run"] > 0, row
            assert row["export_failures"] == 0, row
        if name.startswith(("native_", "otelstream_events", "otelstream_debug")):
            assert row["items_per_run"] > 0, row
        if name in ("otelstream_events", "otelstream_debug"):
            assert row["ref_ratio"] > 0
            assert row["items_per_run"] == row["native_items_per_run"]  # as many as native
    memory = {row["condition"]: row["memory"] for row in data["rows"]}
    assert memory["otelstream"]["runs_b"] == 10
    assert memory["otelstream"]["rss_b_mb"] > 0


def test_table_targets_and_summary(report: tuple[str, dict[str, Any]]) -> None:
    stdout, data = report
    lines = stdout.strip().splitlines()
    assert lines[-1].startswith("summary: tracing chain ")
    assert any(line.startswith("| workload | condition |") for line in lines)
    assert any(line.startswith("| target |") for line in lines)
    assert data["otlp_receiver"]["requests"] > 0  # the OTLP condition really exported
    verdicts = {t["name"]: t["verdict"] for t in data["targets"]}
    assert verdicts["tracing/invoke chain"] in ("met", "MISSED")

"""Smoke test of ``benchmarks/server.py``: it runs end to end (``--quick``) and reports every
figure. No timing assertions: CI machines are noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_server_benchmark_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "server.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "server.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["items"] > 0 and report["p50_ms"] > 0 and report["p99_ms"] >= report["p50_ms"]
    assert report["cpu_us_per_item"] >= 0 and report["peak_rss_mb"] > 0
    assert len(report["wall_ms"]) == 3
    assert "| recording, 10 clients |" in proc.stdout

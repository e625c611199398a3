"""Smoke test of ``benchmarks/redis_store.py``: it runs end to end (``--quick``, against the
session's redis-server) and reports every figure. No timing assertions: CI machines are
noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis_support import RedisServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_redis_benchmark_runs_and_reports(redis_server: RedisServer, tmp_path: Path) -> None:
    out = tmp_path / "redis.json"
    script = str(ROOT / "benchmarks" / "redis_store.py")
    proc = subprocess.run(
        [sys.executable, script, "--quick", "--redis", redis_server.url, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["items_per_s"] > 0 and report["item_bytes_mean"] > 0
    assert set(report["overhead"]) == {"chain", "agent"}
    assert report["tokens_timed"] == 2 * 2 * 50  # every token of every run, to every client
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    assert "| publishing throughput, one process |" in proc.stdout

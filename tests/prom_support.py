"""A real Prometheus scraping a real instrumented app, for the dashboard tests.

``ensure_prometheus()`` finds the ``prometheus`` binary: on ``PATH``, or Debian's package
unpacked (``apt-get download`` + ``dpkg-deb -x``, no system change) into the test cache
(``$OTELSTREAM_TEST_CACHE``, default ``~/.cache/otelstream-test``), under a file lock so that
concurrent test processes unpack it once. ``MetricsStack`` starts ``tests/prometheus_app.py``
and Prometheus on free loopback ports, scraping every second.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import (
    ServerProcess,
    StartupFailed,
    cache_dir,
    clean_env,
    file_lock,
    free_port,
    http_get,
    wait_ready,
)

TESTS = Path(__file__).resolve().parent
APP = TESTS / "prometheus_app.py"
SERVICE = "otelstream-dash-test"
APP_READY_TIMEOUT = 180.0  # imports and the first round of graphs, on a busy 2-core box
SCRAPES_TIMEOUT = 60.0


def _works(binary: Path) -> bool:
    if not binary.is_file():
        return False
    probe = subprocess.run([str(binary), "--version"], capture_output=True, timeout=60)
    return probe.returncode == 0


def ensure_prometheus() -> Path:
    """The ``prometheus`` binary: on ``PATH``, else Debian's package unpacked into the cache."""
    if found := shutil.which("prometheus"):
        return Path(found)
    root = cache_dir() / "prometheus-deb"
    binary = root / "usr" / "bin" / "prometheus"
    if _works(binary):
        return binary
    with file_lock(cache_dir() / "prometheus-deb.lock"):
        if _works(binary):
            return binary
        with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch:
            download = ["apt-get", "download", "prometheus"]
            result = subprocess.run(download, cwd=scratch, capture_output=True, text=True)
            if result.returncode != 0 and os.geteuid() == 0:  # no package lists yet
                subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
                result = subprocess.run(download, cwd=scratch, capture_output=True, text=True)
            debs = sorted(Path(scratch).glob("prometheus_*.deb"))
            if result.returncode != 0 or not debs:
                raise RuntimeError(
                    "could not download Debian's prometheus package "
                    f"(apt-get download prometheus: {result.returncode}):\n{result.stderr}"
                )
            unpacked = Path(scratch) / "root"
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
            if root.exists():
                shutil.rmtree(root)
            unpacked.rename(root)
    if not _works(binary):
        raise RuntimeError(f"{binary} does not run")
    return binary


@dataclass
class MetricsStack:
    """``tests/prometheus_app.py`` and a Prometheus scraping it every second."""

    workdir: Path
    service: str = SERVICE
    app_port: int = 0
    prometheus_port: int = 0
    ready_at: float = 0.0
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    def start(self) -> None:
        """Start both, wait for the app's first round of graphs and 3 scrapes after it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = ensure_prometheus()
        self.app_port = free_port()
        app = ServerProcess.start(
            "prometheus-app",
            [sys.executable, "-u", str(APP), "--port", str(self.app_port), "--service", SERVICE],
            clean_env(("OTELSTREAM_",), PYTHONPATH=str(TESTS.parent)),
            self.workdir / "app",
        )
        self.servers.append(app)
        self.prometheus_port = free_port()
        config = self.workdir / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {
                            # named after the service: the Collector's prometheus exporter
                            # sets job from service.name, and the dashboards filter on job
                            "job_name": self.service,
                            "static_configs": [{"targets": [f"127.0.0.1:{self.app_port}"]}],
                        }
                    ],
                }
            )
        )
        prometheus = ServerProcess.start(
            "prometheus",
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                "--log.level=warn",
            ],
            clean_env(()),
            self.workdir / "prometheus",
        )
        self.servers.append(prometheus)
        wait_ready(prometheus, lambda: http_get(f"{self.url}/-/ready")[0] == 200, 60.0)
        wait_ready(app, lambda: "ready" in app.log_tail(200_000), APP_READY_TIMEOUT)
        self.ready_at = time.time()
        self._wait_for_scrapes()

    def _wait_for_scrapes(self, scrapes: int = 3, iterations: int = 2) -> None:
        """Wait until Prometheus scraped the app ``scrapes`` times since it became ready, with
        ``iterations`` whole rounds of graphs between the first and the last of those scrapes:
        then every series has at least two samples and grew between them (``rate`` > 0)."""
        deadline = time.monotonic() + SCRAPES_TIMEOUT
        counter = f'dash_app_iterations_total{{job="{self.service}"}}'
        while time.monotonic() < deadline:
            window = f"{max(1, int(time.time() - self.ready_at))}s"
            scraped = self.query(f"count_over_time({counter}[{window}])")
            grew = self.query(
                f"max_over_time({counter}[{window}]) - min_over_time({counter}[{window}])"
            )
            if (
                scraped["status"] == grew["status"] == "success"
                and any(float(s["value"][1]) >= scrapes for s in scraped["data"]["result"])
                and any(float(s["value"][1]) >= iterations for s in grew["data"]["result"])
            ):
                return
            time.sleep(0.5)
        raise StartupFailed(f"no {scrapes} scrapes of {iterations} iterations\n{self.describe()}")

    def query(self, expr: str) -> dict[str, Any]:
        """``GET /api/v1/query`` (an instant query at now); the decoded JSON answer."""
        status, body = http_get(
            f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=30
        )
        if status == 0:
            raise AssertionError(f"Prometheus unreachable\n{self.describe()}")
        return dict(json.loads(body))

    def label_values(self, label: str, selector: str) -> list[str]:
        """``GET /api/v1/label/<label>/values?match[]=selector``: what Grafana's
        ``label_values(selector, label)`` variable query lists."""
        query = urllib.parse.urlencode({"match[]": selector, "start": str(self.ready_at - 600)})
        status, body = http_get(f"{self.url}/api/v1/label/{label}/values?{query}", timeout=30)
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise AssertionError(f"label values of {label} for {selector}: {status} {answer}")
        return list(answer["data"])

    def describe(self) -> str:
        return "\n".join(server.describe() for server in self.servers)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

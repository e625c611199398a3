"""Real Redis servers for the stream store tests: Debian's ``redis-server`` (installed with
apt when missing), on loopback, each in a temporary directory, stopped afterwards.

Registered as a pytest plugin (``tests/conftest.py``): ``redis_server`` is one server per
test session (per pytest-xdist worker), ``redis_cluster`` a 3-node Redis Cluster
(``--cluster-enabled yes``, joined by ``redis-cli --cluster create``). Tests that stop and
restart a server start their own with ``start_redis``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from backends import (
    TIMINGS,
    ServerProcess,
    cache_dir,
    clean_env,
    file_lock,
    free_port,
    port_open,
    wait_ready,
)

APT = ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]


def ensure_redis() -> Path:
    """``redis-server`` (with ``redis-cli``), installed from Debian if missing."""
    if (found := shutil.which("redis-server")) and shutil.which("redis-cli"):
        return Path(found)
    with file_lock(cache_dir() / "redis-apt.lock"):
        if not shutil.which("redis-server"):
            started = time.monotonic()
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            if subprocess.run(APT, capture_output=True, env=env, timeout=600).returncode:
                subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
                subprocess.run(APT, check=True, capture_output=True, env=env, timeout=600)
            TIMINGS["install redis-server (apt)"] = time.monotonic() - started
    found = shutil.which("redis-server")
    assert found, "redis-server is not installed"
    return Path(found)


def _ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1).ping())
    except (redis.AuthenticationError, redis.ResponseError):
        return True  # it answers (a password is required)
    except redis.RedisError:
        return False


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    while True:
        port = free_port()
        if port < 55_000 and not port_open(port + 10_000):
            return port


@dataclass
class RedisServer:
    """A running ``redis-server`` on ``127.0.0.1:port``."""

    port: int
    workdir: Path
    options: list[str]
    server: ServerProcess | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [str(ensure_redis()), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.workdir), "--save", "", *self.options]
        self.starts += 1
        self.server = ServerProcess.start(
            f"redis-{self.port}-{self.starts}", args, clean_env(("REDIS",)), self.workdir
        )
        wait_ready(self.server, lambda: _ping(self.port), 30.0)
        return self

    def stop(self) -> None:
        """SIGTERM: a server with ``--appendonly yes`` writes its data out first."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def cli(self, *args: str) -> str:
        redis_cli = shutil.which("redis-cli") or "redis-cli"
        command = [redis_cli, "-p", str(self.port), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def start_redis(workdir: Path, *options: str, port: int | None = None) -> RedisServer:
    """A fresh ``redis-server`` (no persistence unless ``options`` ask for it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return RedisServer(port or free_port(), workdir, list(options)).start()


@dataclass
class RedisCluster:
    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        """otelstream's URL for it: any node, ``redis+cluster://``."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"


def start_cluster(workdir: Path, size: int = 3) -> RedisCluster:
    """``size`` primaries (no replicas) sharing the 16384 slots, ready."""
    options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
    options += ["--cluster-node-timeout", "5000", "--appendonly", "no"]
    nodes = [start_redis(workdir / f"node{i}", *options, port=cluster_port()) for i in range(size)]
    redis_cli = shutil.which("redis-cli") or "redis-cli"
    addresses = [f"127.0.0.1:{node.port}" for node in nodes]
    create = [redis_cli, "--cluster", "create", *addresses, "--cluster-replicas", "0"]
    subprocess.run([*create, "--cluster-yes"], check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 30
    while not all("cluster_state:ok" in node.cli("cluster", "info") for node in nodes):
        assert time.monotonic() < deadline, "the Redis Cluster did not become ready"
        time.sleep(0.1)
    return RedisCluster(nodes)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for the session."""
    started = time.monotonic()
    server = start_redis(tmp_path_factory.mktemp("redis"))
    TIMINGS["redis-server start"] = time.monotonic() - started
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-node Redis Cluster for the session."""
    started = time.monotonic()
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    TIMINGS["redis cluster start (3 nodes)"] = time.monotonic() - started
    try:
        yield cluster
    finally:
        for node in cluster.nodes:
            node.stop()

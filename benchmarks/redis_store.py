"""The Redis Streams stream store: publishing throughput, overhead, end-to-end latency.

    python benchmarks/redis_store.py [--quick] [--redis URL] [--json PATH]

(Named ``redis_store.py``, not ``redis.py``: a script's directory comes first on
``sys.path``, and a ``redis.py`` there would shadow redis-py.) Without ``--redis`` it starts
Debian's ``redis-server`` on a free loopback port (``apt-get install redis-server``), no
persistence, and stops it at the end. Three measurements:

* **publishing throughput**: items one process publishes per second (real items of agent
  runs, queued as fast as the recorder can, until Redis has them all), and their sizes;
* **overhead**: the chain and agent workloads' run time with tracing alone and with tracing
  plus publishing (``otelstream.server.publish``), blocks of runs alternating between the
  two; target: under 10 % over tracing alone;
* **end-to-end latency**: a worker process runs graphs streaming tokens (each token the
  wall-clock time it was made) and publishes them; a server process reads them from Redis
  (``create_app(store=..., record=False)``); SSE clients in a third process follow the
  threads; latency = arrival at the client minus the token's time. Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from server import client_main, percentile, run_batch, token_graph  # noqa: E402

TARGET_OVERHEAD = 0.10
TARGET_P99_MS = 50.0


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """``url``, or a fresh ``redis-server`` on a free loopback port."""
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: apt-get install redis-server, or give --redis URL")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scratch = tempfile.mkdtemp(prefix="otelstream-redis-bench-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", scratch]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(scratch, ignore_errors=True)


def fresh(url: str, **options: Any) -> str:
    """``url`` under a prefix of its own (and options)."""
    query = {"prefix": f"bench{uuid.uuid4().hex[:8]}", **options}
    return url + ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in query.items())


# --- throughput ----------------------------------------------------------------------------------
def sample_items() -> list[tuple[str, bytes]]:
    """The items of a few agent runs, as the recorder gives them to the store."""
    from workloads import BUILDERS

    import otelstream
    from otelstream.server import MemoryHistoryStore
    from otelstream.server.recorder import RunRecorder
    from otelstream.server.wire import WirePolicy

    captured = MemoryHistoryStore()
    instrumentor = otelstream.instrument()
    assert instrumentor.hub is not None and instrumentor.settings is not None
    recorder = RunRecorder(instrumentor.hub, captured, WirePolicy(instrumentor.settings), None)
    workload = BUILDERS["agent"]()
    for _ in range(5):
        config = workload.config()
        workload.graph.invoke(workload.make_input(), config)
    recorder.close()
    items = []
    for history in captured._runs.values():
        assert history.head is not None
        items.append((history.head.event, history.head.data))
        items += list(zip(history.events, history.datas, strict=True))
    return items


def throughput(url: str, items: list[tuple[str, bytes]], total: int) -> dict[str, float]:
    from otelstream.server import RunRecord
    from otelstream.server.redis_store import RedisHistoryStore

    store = RedisHistoryStore(fresh(url, queue_items=total + 1, queue_bytes=1 << 31))
    runs = max(1, total // len(items))
    started = time.perf_counter()
    for r in range(runs):
        run_id = str(uuid.uuid4())
        store.open_run(RunRecord(run_id, f"tp-{r % 50}", "bench", time.time()))
        for event, data in items:
            store.append(run_id, event, data)
        store.close_run(run_id, "success", None)
    queued = time.perf_counter() - started
    assert store.flush(300), "the publisher did not catch up"
    took = time.perf_counter() - started
    stats = store.stats()
    store.close()
    sent = runs * len(items)
    assert stats["published"] == sent and stats["dropped"] == 0, stats
    return {"items": sent, "items_per_s": sent / took, "queue_us_per_item": queued / sent * 1e6}


# --- overhead ------------------------------------------------------------------------------------
def overhead(url: str, name: str, runs: int, blocks: int) -> dict[str, float]:
    """Median per-run time over blocks alternating between tracing only, recording into the
    in-memory store (what an in-process server adds), and publishing to Redis."""
    from workloads import BUILDERS

    import otelstream
    from otelstream.server import MemoryHistoryStore, publish
    from otelstream.server.recorder import RunRecorder
    from otelstream.server.wire import WirePolicy

    instrumentor = otelstream.instrument()
    assert instrumentor.hub is not None and instrumentor.settings is not None
    workload = BUILDERS[name]()

    def block() -> float:
        started = time.perf_counter()
        for _ in range(runs):
            config = workload.config()
            out = workload.graph.invoke(workload.make_input(), config)
            workload.done(config)
        assert workload.check(out)
        return (time.perf_counter() - started) / runs

    block()  # warm-up
    times: dict[str, list[float]] = {"tracing": [], "recording": [], "publishing": []}
    for _ in range(blocks):
        times["tracing"].append(block())
        memory = MemoryHistoryStore(max_runs=runs)
        policy = WirePolicy(instrumentor.settings)
        recorder = RunRecorder(instrumentor.hub, memory, policy, None)
        times["recording"].append(block())
        recorder.close()
        publishing = publish(fresh(url))
        times["publishing"].append(block())
        publishing.stop(30)
        assert publishing.store.stats()["dropped"] == 0  # type: ignore[attr-defined]
    return {f"{k}_us": statistics.median(v) * 1e6 for k, v in times.items()}


# --- end-to-end latency ------------------------------------------------------------------------
def worker_main(url: str, threads: list[str], tokens: int, delay: float) -> None:
    """The worker process: runs the token graphs (one per thread, concurrently), publishing."""
    from opentelemetry.sdk.trace import TracerProvider

    import otelstream
    from otelstream.server import publish

    otelstream.instrument(tracer_provider=TracerProvider())
    publishing = publish(url)
    graph = token_graph(tokens, delay)
    print("ready", flush=True)
    sys.stdin.readline()
    run_batch(graph, len(threads), "lat")  # threads lat-0, lat-1, ...
    publishing.stop(30)


def latency(url: str, runs: int, per_run: int, tokens: int, delay: float) -> dict[str, Any]:
    from otelstream import server

    store = fresh(url)
    threads = [f"lat-{i}" for i in range(runs)]
    srv = server.start(port=0, store=store, record=False)
    scratch = tempfile.mkdtemp(prefix="otelstream-redis-bench-")
    try:
        me = [sys.executable, __file__]
        worker = subprocess.Popen(
            [*me, "--worker", store, ",".join(threads), str(tokens), str(delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "ready"
        out_path = os.path.join(scratch, "client.json")
        client = subprocess.Popen(
            [*me, "--client", srv.url, ",".join(threads), str(per_run), out_path],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None and client.stdout.readline().strip() == "ready"
        import redis

        probe = redis.Redis.from_url(url)
        while (
            sum(c["cmd"] == "xread" and "b" in c["flags"] for c in probe.client_list())
            < len(threads) * per_run
        ):  # every follower waits in Redis before the runs start
            time.sleep(0.01)
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.wait(300) == 0 and client.wait(300) == 0, "a process failed"
        with open(out_path) as handle:
            result: dict[str, Any] = json.load(handle)
    finally:
        srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", help="a Redis URL (default: start redis-server)")
    parser.add_argument("--quick", action="store_true", help="fewer items, runs and blocks")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        url, threads, tokens, delay = args.worker
        worker_main(url, threads.split(","), int(tokens), float(delay))
        return
    if args.client:
        url, threads, per_run, out_path = args.client
        result = asyncio.run(client_main(url, threads.split(","), int(per_run)))
        with open(out_path, "w") as handle:
            json.dump(result, handle)
        return

    total, runs, blocks = (20_000, 20, 3) if args.quick else (200_000, 100, 7)
    lat_runs, per_run, tokens = (2, 2, 50) if args.quick else (10, 2, 100)
    from opentelemetry.sdk.trace import TracerProvider

    import otelstream

    otelstream.instrument(tracer_provider=TracerProvider())  # tracing on, nothing exported
    with redis_server(args.redis) as url:
        items = sample_items()
        sizes = [len(event) + len(data) for event, data in items]
        tp = throughput(url, items, total)
        costs = {name: overhead(url, name, runs, blocks) for name in ("chain", "agent")}
        lat = latency(url, lat_runs, per_run, tokens, 0.02)
    p50, p99 = percentile(lat["latencies_ms"], 0.5), percentile(lat["latencies_ms"], 0.99)

    print(
        f"\nitems of an agent run: {len(items) // 5}, {statistics.mean(sizes):.0f} bytes mean, "
        f"{sum(sizes) / 5 / 1024:.1f} KiB per run (event names and JSON data)\n"
    )
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| publishing throughput, one process | {tp['items_per_s']:,.0f} items/s | - |")
    print(f"| recorder's cost to queue one item | {tp['queue_us_per_item']:.1f} us | - |")
    overheads = {}
    for name, cost in costs.items():
        base = cost["tracing_us"]
        extra = cost["publishing_us"] / base - 1
        overheads[name] = extra
        verdict = "met" if extra < TARGET_OVERHEAD else "MISSED"
        print(
            f"| {name}: run time, tracing only / + recording (memory) / + publishing (Redis) | "
            f"{base:.0f} / {cost['recording_us']:.0f} ({cost['recording_us'] / base - 1:+.0%}) / "
            f"{cost['publishing_us']:.0f} us ({extra:+.0%}) | < +10 %: {verdict} |"
        )
    verdict = "met" if p99 < TARGET_P99_MS else "MISSED"
    print(
        f"| latency worker -> Redis -> server -> client, p50 / p99 | {p50:.1f} / {p99:.1f} ms "
        f"({len(lat['latencies_ms'])} tokens, {lat_runs} runs, {per_run} clients each) "
        f"| p99 < 50 ms: {verdict} |"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "items_per_s": tp["items_per_s"],
                    "item_bytes_mean": statistics.mean(sizes),
                    "overhead": overheads,
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "tokens_timed": len(lat["latencies_ms"]),
                },
                handle,
            )


if __name__ == "__main__":
    main()

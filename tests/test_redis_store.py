"""The Redis Streams store against real redis-servers: its URL and options, start-up errors,
trimmed and expired streams reported as evicted, the thread index and hash tags, a 3-node
Redis Cluster, and Redis stopped in the middle of runs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from backends import free_port
from graphs import CORPUS, long_loop
from langgraph_sdk import get_client
from redis.crc import key_slot
from redis_support import RedisCluster, RedisServer, start_redis
from server_support import (
    Background,
    assert_same_run,
    drive,
    platform_json,
    recorded,
    sse_events,
    wait_for,
)

import otelstream
from otelstream import server
from otelstream.cli import serve as serve_cli
from otelstream.server import redis_config
from otelstream.server.auth import TOKEN_ENV
from otelstream.server.recorder import RunRecorder
from otelstream.server.stores import open_store
from otelstream.server.wire import WirePolicy

LOOP = {"count": 0, "log": []}


def prefixed(url: str, **options: Any) -> str:
    """``url`` with a key prefix of the test's own (and more options)."""
    query = "&".join(
        f"{k}={v}" for k, v in {"prefix": f"t{uuid.uuid4().hex[:10]}", **options}.items()
    )
    return f"{url}{'&' if '?' in url else '?'}{query}"


def loop_config(thread_id: str, run_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "configurable": {"thread_id": thread_id},
        "run_id": run_id or uuid.uuid4(),
        "recursion_limit": 1000,
    }


def run_url(base: str, thread_id: str, run_id: Any) -> str:
    return f"{base}/threads/{thread_id}/runs/{run_id}/stream"


def test_store_urls_options_and_their_errors() -> None:
    target = redis_config.parse("rediss://alice:s3cret@cache.example:6380/2?max_items=99&ttl=60")
    assert (target.cluster, target.options.max_items, target.options.ttl) == (False, 99, 60.0)
    assert target.url == "rediss://alice:s3cret@cache.example:6380/2"
    assert target.shown == "rediss://alice:***@cache.example:6380/2?max_items=99&ttl=60"
    cluster = redis_config.parse("redis+cluster://127.0.0.1:7000?socket_keepalive=true")
    assert cluster.cluster and cluster.url == "redis://127.0.0.1:7000?socket_keepalive=true"
    assert isinstance(open_store("memory"), server.MemoryHistoryStore)
    bad = {
        "http://localhost:6379": "unsupported stream store URL",
        "redis://:pw@localhost?max_itemz=1": "unknown Redis store option(s) ['max_itemz']",
        "redis://localhost?ttl=soon": "the Redis store's ttl must be a number",
        "redis://localhost?ttl=0": "the Redis store's ttl must be > 0",
        "redis://localhost?prefix={x}": "prefix must be non-empty, without { or }",
    }
    for url, message in bad.items():
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            open_store(url)
        assert "\n" not in str(caught.value) and "pw" not in str(caught.value)


def serve(url: str) -> subprocess.CompletedProcess[str]:
    """``otelstream serve`` against ``url``, expected to stop at once."""
    command = [sys.executable, "-m", "otelstream", "serve", "--store", url, "--port", "0"]
    env = {k: v for k, v in os.environ.items() if k != redis_config.STORE_ENV}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.timeout(120)
def test_serve_refuses_an_unreachable_or_wrong_password_redis_in_one_line(
    tmp_path: Path, exporter: Any
) -> None:
    assert (serve_cli.STORE_ENV, serve_cli.TOKEN_ENV) == (redis_config.STORE_ENV, TOKEN_ENV)
    for url, message in (("", "no stream store"), ("memory", "needs a shared store")):
        wrong = serve(url)
        assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and message in wrong.stderr
    closed = serve(f"redis://127.0.0.1:{free_port()}/0")
    assert closed.returncode == 2 and closed.stdout == ""
    assert closed.stderr.count("\n") == 1 and "is unreachable" in closed.stderr, closed.stderr

    locked = start_redis(tmp_path / "locked", "--requirepass", "right-one")
    try:
        for url in (
            f"redis://:wrong-one@127.0.0.1:{locked.port}/0",
            f"redis://default:wrong-one@127.0.0.1:{locked.port}/0",
            f"redis://127.0.0.1:{locked.port}/0",  # no password at all
        ):
            refused = serve(url)
            assert refused.returncode == 2, refused.stderr
            assert refused.stderr.count("\n") == 1, refused.stderr
            assert "refused the credentials" in refused.stderr or "NOAUTH" in refused.stderr
            assert "wrong-one" not in refused.stderr
        # the right password (user and password from the URL): served
        url = prefixed(f"redis://default:right-one@127.0.0.1:{locked.port}/0")
        with server.start(port=0, store=url) as running:
            run_id = uuid.uuid4()
            long_loop(5).invoke(LOOP, loop_config("pw", run_id))
            assert running.app.state.store.flush(10)
            events = sse_events(run_url(running.url, "pw", run_id))
            assert events[-1][2]["event"] == "on_chain_end" and len(events) > 10
    finally:
        locked.stop()


@pytest.mark.timeout(60)
def test_an_instrumented_app_only_warns_when_redis_is_away(
    exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0?queue_items=50&timeout=0.5"
    with caplog.at_level(logging.WARNING, "otelstream"):
        publishing = server.publish(url)
        started = time.monotonic()
        result = long_loop(30).invoke(LOOP, loop_config("away"))
        took = time.monotonic() - started
        publishing.stop(timeout=0.5)
    assert result["count"] == 30 and took < 5
    assert any("is unreachable" in r.getMessage() for r in caplog.records)
    assert any("cannot keep up" in r.getMessage() for r in caplog.records)
    stats = publishing.store.stats()  # type: ignore[attr-defined]
    assert stats["published"] == 0 and stats["dropped"] > 0 and stats["queued"] == 0


@pytest.mark.timeout(120)
def test_trimmed_and_expired_streams_are_reported_evicted(
    redis_server: RedisServer, exporter: Any
) -> None:
    url = prefixed(redis_server.url, max_items=20, ttl=1)
    client = redis.Redis(port=redis_server.port)
    with server.start(port=0, store=url) as running:
        store = running.app.state.store
        run_id = uuid.uuid4()
        long_loop(100).invoke(LOOP, loop_config("trim", run_id))
        assert store.flush(10)
        record = recorded(running.url, run_id)
        assert record is not None and record["dropped"] > 0
        stream_key = store.keys.run("trim", str(run_id)).stream
        assert client.xlen(stream_key) < record["items"] - record["dropped"] + 5
        served = sse_events(run_url(running.url, "trim", run_id))
        # the first item is kept whatever the bounds; the last says how many were dropped
        assert served[0][1] == "metadata" and served[0][2]["run_id"] == str(run_id)
        assert served[-1][2] == {
            "run_id": str(run_id),
            "status": "success",
            "dropped": record["dropped"],
        }
        assert len(served) == record["items"] - record["dropped"]
        head = client.hget(store.keys.run("trim", str(run_id)).info, "head_id").decode()
        ms, seq = map(int, head.split("-"))
        url_ = run_url(running.url, "trim", run_id)
        for last in (head, f"{ms}-{seq + 1}"):  # what followed them was trimmed
            response = httpx.get(url_, headers={"Last-Event-ID": last})
            assert response.status_code == 410 and "evicted" in response.json()["detail"]
        response = httpx.get(url_, headers={"Last-Event-ID": "1-1"})  # never issued
        assert response.status_code == 400
        # a kept id still resumes exactly
        assert sse_events(url_, headers={"Last-Event-ID": served[-5][0]}) == served[-4:]

        wait_for(lambda: not client.exists(stream_key), timeout=10)  # ttl=1 after its end
        for path in (f"/threads/trim/runs/{run_id}", f"/runs/{run_id}", f"/runs/{run_id}/stream"):
            response = httpx.get(running.url + path)
            assert response.status_code == 410, path
        assert httpx.get(f"{running.url}/runs/{uuid.uuid4()}").status_code == 404


@pytest.mark.timeout(120)
def test_thread_index_and_hash_tags(redis_server: RedisServer, exporter: Any) -> None:
    url = prefixed(redis_server.url)
    client = redis.Redis(port=redis_server.port)
    odd = "odd}thread{"
    with server.start(port=0, store=url) as running:
        store = running.app.state.store
        prefix = store.target.options.prefix
        ids = {}
        for thread_id in ("tagged", odd):
            ids[thread_id] = []
            for steps in (3, 4, 5):
                run_id = uuid.uuid4()
                long_loop(steps).invoke(LOOP, loop_config(thread_id, run_id))
                ids[thread_id].append(str(run_id))
        assert store.flush(10)
        keys = sorted(k.decode() for k in client.keys(f"{prefix}:*"))
        for thread_id, run_ids in ids.items():
            tag = "{tagged}" if thread_id == "tagged" else None
            own = [k for k in keys if any(r in k for r in run_ids) and ":owner:" not in k]
            own += [store.keys.index(thread_id), store.keys.run(thread_id, run_ids[0]).clock]
            assert len(own) == 2 * len(run_ids) + 2 and all(client.exists(k) for k in own)
            assert len({key_slot(k.encode()) for k in own}) == 1, "one slot per thread"
            if tag:
                assert all(tag in k for k in own)
            else:  # a thread id Redis cannot use whole as a hash tag: its digest
                assert all("{#" in k and odd not in k for k in own)
            # the index: each run's open and end, in order; runs.list newest first
            index = client.xrange(store.keys.index(thread_id))
            entries = [(f.popitem()[0].decode(), f) for _, f in index]
            assert [kind for kind, _ in entries] == ["open", "end"] * 3

            async def listed(thread_id: str = thread_id) -> list[Any]:
                return await get_client(url=running.url, api_key=None).runs.list(thread_id)

            runs = asyncio.run(listed())
            assert [r["run_id"] for r in runs] == run_ids[::-1]
            assert all(r["status"] == "success" and r["thread_id"] == thread_id for r in runs)
        everything = httpx.get(f"{running.url}/runs", params={"limit": 100}).json()
        assert {r["run_id"] for r in everything} == {r for v in ids.values() for r in v}


@pytest.mark.timeout(240)
def test_the_store_unchanged_on_a_redis_cluster(redis_cluster: RedisCluster, exporter: Any) -> None:
    url = prefixed(redis_cluster.url)
    with server.start(port=0, store=url) as running:
        store = running.app.state.store
        runs = {}
        for case in CORPUS:
            thread_id = f"c-{case.name}"
            run_id, native, items, error = drive(case, thread_id)
            assert (error is None) == (case.raises is None), error
            runs[run_id] = (thread_id, native, items)
        # two runs at once on one thread: its stream interleaves them, each whole
        follower = Background(
            lambda: sse_events(f"{running.url}/threads/both/stream", until_runs_done=2)
        )
        time.sleep(0.5)
        both = [uuid.uuid4(), uuid.uuid4()]
        runners = [
            Background(lambda r=r: long_loop(30, delay=0.002).invoke(LOOP, loop_config("both", r)))
            for r in both
        ]
        for runner in runners:
            runner.join()
        follower.join()
        assert store.flush(10)

        async def joined() -> dict[str, list[Any]]:
            client = get_client(url=running.url, api_key=None)
            out = {}
            for run_id, (thread_id, _, _) in runs.items():
                parts = client.runs.join_stream(thread_id, run_id)
                out[run_id] = [(p.event, p.data, getattr(p, "id", None)) async for p in parts]
            return out

        for run_id, parts in asyncio.run(joined()).items():
            _, native, items = runs[run_id]
            assert_same_run(
                parts, run_id, platform_json(native), [[m, platform_json(c)] for m, c in items]
            )
        seen = follower.result
        keys = [tuple(map(int, e[0].split("-"))) for e in seen]
        assert keys == sorted(set(keys))
        for run_id in map(str, both):
            whole = sse_events(run_url(running.url, "both", run_id))
            assert [e for e in seen if e[2].get("run_id") == run_id or e in whole][:-1] == whole
        # the threads' keys are spread over the three nodes, each thread's on one
        prefix = store.target.options.prefix
        holders = {}
        for node in redis_cluster.nodes:
            for key in redis.Redis(port=node.port).keys(f"{prefix}:{{*"):
                holders.setdefault(key.decode().split("}")[0], set()).add(node.port)
        assert all(len(ports) == 1 for ports in holders.values())
        assert len(set().union(*holders.values())) == 3


@pytest.mark.timeout(180)
@pytest.mark.parametrize("persistence", ["aof", "none"])
def test_redis_stopped_mid_run_and_restarted(
    persistence: str, tmp_path: Path, exporter: Any
) -> None:
    """Runs go on while Redis is away and finish with the results they have without it;
    the publisher holds at most ``queue_items``, counts what it drops, marks the gap in the
    run's stream, and publishes again once Redis is back. A Redis that restarts empty (no
    persistence) gets each run's first item again and a gap for what it lost."""
    data = tmp_path / "redis"
    aof = ["--appendonly", "yes", "--appendfsync", "always"] if persistence == "aof" else []
    redis_server = start_redis(data, *aof)
    url = prefixed(redis_server.url, queue_items=300, timeout=0.5)
    instrumentor = otelstream.instrument()
    assert instrumentor.hub is not None and instrumentor.settings is not None
    reference = server.MemoryHistoryStore()  # the same runs, recorded beside in memory
    beside = RunRecorder(instrumentor.hub, reference, WirePolicy(instrumentor.settings))
    try:
        steps = 300
        want = long_loop(steps).invoke(LOOP, {"recursion_limit": 1000})  # not recorded
        with server.start(port=0, store=url) as running:
            store = running.app.state.store
            run_ids = [uuid.uuid4(), uuid.uuid4()]

            def sync_run() -> Any:
                return long_loop(steps, delay=0.01).invoke(LOOP, loop_config("f1", run_ids[0]))

            async def async_run() -> Any:
                return await long_loop(steps, delay=0.01).ainvoke(
                    LOOP, loop_config("f2", run_ids[1])
                )

            runners = [Background(sync_run), Background(async_run)]
            wait_for(lambda: all(recorded(running.url, r) for r in run_ids))
            redis_server.stop()
            most = 0
            started = time.monotonic()
            while time.monotonic() - started < 1.5:  # Redis away: runs go on, queue bounded
                most = max(most, store.stats()["queued"])
                time.sleep(0.01)
            assert all(r.done_at is None for r in runners), "the runs must outlast the outage"
            away = httpx.get(f"{running.url}/runs/{run_ids[0]}", timeout=10)  # served meanwhile
            assert away.status_code == 503 and "is unreachable" in away.json()["detail"]
            redis_server.start()
            for runner in runners:
                runner.join(60)
            assert [r.result for r in runners] == [want, want] and not any(r.error for r in runners)
            assert store.flush(20)
            stats = store.stats()
            assert 0 < most <= 300 and stats["queued"] == 0
            assert stats["dropped"] > 0 and stats["outages"] == 1
            dropped = 0
            for thread_id, run_id in zip(("f1", "f2"), run_ids, strict=True):
                record = recorded(running.url, run_id)
                assert record is not None and record["status"] == "success"
                served = sse_events(run_url(running.url, thread_id, run_id))
                assert served[0][2] == {"run_id": str(run_id), "attempt": 1}
                gaps = [e[2]["gap"] for e in served if e[1] == "metadata" and "gap" in e[2]]
                queue = [g["dropped"] for g in gaps if "queue was full" in g["reason"]]
                restart = [g["dropped"] for g in gaps if "lost by the stream store" in g["reason"]]
                assert len(queue) + len(restart) == len(gaps) and queue
                assert bool(restart) == (persistence == "none")
                lost = sum(queue) + sum(restart)
                assert record["dropped"] == lost and len(served) == record["items"]
                assert served[-2][2]["event"] == "on_chain_end"  # the run's last item
                summary = {"run_id": str(run_id), "status": "success", "dropped": lost}
                assert served[-1][2] == summary
                # nothing lost silently: the items recorded beside in memory are those served
                # (in order) and as many more as the gaps say
                history = reference._runs[str(run_id)]
                assert history.head is not None
                whole = [json.loads(d) for d in [history.head.data, *history.datas]]
                kept = [e[2] for e in served[:-1] if "gap" not in e[2]]
                assert len(kept) + lost == len(whole)
                rest = iter(whole)
                assert all(any(item == w for w in rest) for item in kept), "out of order"
                dropped += sum(queue)
            assert dropped == stats["dropped"]
    finally:
        beside.close()
        redis_server.stop()

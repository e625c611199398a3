"""Streams across processes: two worker processes run graphs (one with threads, one with
asyncio) and publish them to a real Redis; two ``otelstream serve`` processes serve them.

``langgraph-sdk`` clients, each connected to either server at random, follow the threads
live and join every run afterwards: each run's stream equals the worker's own in-process
streams (the Platform's JSON form, item for item), and a client cut off in the middle of a
run resumes on the other server with its last event id, losing and repeating nothing. Two
runs from the two workers share a thread: its stream interleaves them in one id order.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from backends import ServerProcess, clean_env, free_port, http_get, wait_ready
from graphs import CASES
from httpx_sse import aconnect_sse
from langgraph_sdk import get_client
from packaging.version import Version
from redis_support import RedisServer
from server_support import assert_same_run

TESTS = Path(__file__).resolve().parent
WORKERS = {
    "threads": ["agent", "subgraph", "failing", "interrupt", "fanout", "custom_events", "long"],
    "asyncio": ["chain", "tool_error", "async_nodes", "retriever", "linear", "long"],
}
STATUS = {"failing": "error", "interrupt": "interrupted"}


def part(p: Any) -> tuple[str, Any, str | None]:
    return p.event, p.data, getattr(p, "id", None)


@pytest.fixture
def servers(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """Two ``otelstream serve`` processes on one Redis (a prefix of this test's own)."""
    url = f"{redis_server.url}?prefix=mp{uuid.uuid4().hex[:8]}"
    started = []
    try:
        for name in ("a", "b"):
            port = free_port()
            args = [sys.executable, "-m", "otelstream", "serve", "--store", url]
            process = ServerProcess.start(
                f"serve-{name}",
                [*args, "--port", str(port)],
                clean_env(("OTELSTREAM_SERVER",)),
                tmp_path / name,
            )
            started.append(process)
            base = f"http://127.0.0.1:{port}"
            wait_ready(process, lambda base=base: http_get(f"{base}/ok")[0] == 200, 60)
            process.base = base  # type: ignore[attr-defined]
        yield url, [p.base for p in started]  # type: ignore[attr-defined]
    finally:
        for process in started:
            process.stop()


def blocked_readers(redis_server: RedisServer) -> int:
    """The clients blocked in ``XREAD`` on the test's Redis."""
    clients = redis.Redis(port=redis_server.port).client_list()
    return sum(c["cmd"] == "xread" and "b" in c["flags"] for c in clients)


def start_worker(mode: str, url: str, runs: list[dict[str, str]], tmp: Path) -> Any:
    spec, out = tmp / f"{mode}-spec.json", tmp / f"{mode}-out.json"
    spec.write_text(json.dumps(runs))
    worker = subprocess.Popen(
        [sys.executable, str(TESTS / "redis_worker.py"), url, mode, str(spec), str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    worker.out = out
    return worker


SDK_IDS = Version(version("langgraph-sdk")) >= Version("0.3")
"""langgraph-sdk gives the event ids from 0.3 on; with an older one the clients read the SSE
themselves (httpx-sse), since resuming needs the ids."""


async def raw(url: str, last: str | None = None, until: Any = lambda parts: False) -> list[Any]:
    """``(event, data, id)`` of an SSE stream read with httpx-sse, until ``until(parts)``."""
    headers = {"Last-Event-ID": last} if last else {}
    parts: list[Any] = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(60, read=None)) as client,
        aconnect_sse(client, "GET", url, headers=headers) as source,
    ):
        async for sse in source.aiter_sse():
            if sse.data:  # not a heartbeat
                parts.append((sse.event, json.loads(sse.data), sse.id or None))
                if until(parts):
                    break
    return parts


def runs_done(parts: list[Any]) -> int:
    return sum(p[0] == "metadata" and p[1].get("status") == "run_done" for p in parts)


async def follow_thread(base: str, thread_id: str, runs: int) -> list[Any]:
    """A thread's stream until ``runs`` runs are done."""
    if not SDK_IDS:
        return await raw(f"{base}/threads/{thread_id}/stream", until=lambda p: runs_done(p) == runs)
    stream = get_client(url=base, api_key=None).threads.join_stream(thread_id)
    if inspect.isawaitable(stream):  # a coroutine in newer SDKs
        stream = await stream
    parts: list[Any] = []
    async for p in stream:
        parts.append(part(p))
        if runs_done(parts) == runs:
            break
    return parts


async def join(base: str, thread_id: str, run_id: str, last_event_id: str | None = None) -> Any:
    if not SDK_IDS:
        return await raw(f"{base}/threads/{thread_id}/runs/{run_id}/stream", last_event_id)
    client = get_client(url=base, api_key=None)
    parts = client.runs.join_stream(thread_id, run_id, last_event_id=last_event_id)
    return [part(p) async for p in parts]


async def resume_elsewhere(first: str, second: str, thread_id: str, run_id: str) -> list[Any]:
    """Eight parts of a running run from ``first``, then the rest from ``second``."""
    client = get_client(url=first, api_key=None)
    while True:  # until the run is published
        try:
            await client.runs.get(thread_id, run_id)
            break
        except Exception:
            await asyncio.sleep(0.01)
    head: list[Any] = []
    if not SDK_IDS:
        url = f"{first}/threads/{thread_id}/runs/{run_id}/stream"
        head = await raw(url, until=lambda parts: len(parts) == 8)
    else:
        async for p in client.runs.join_stream(thread_id, run_id):
            head.append(part(p))
            if len(head) == 8:
                break
    return head + await join(second, thread_id, run_id, last_event_id=head[-1][2])


@pytest.mark.timeout(300)
def test_two_workers_two_servers_every_stream_whole_and_resumable(
    servers: tuple[str, list[str]], redis_server: RedisServer, tmp_path: Path
) -> None:
    url, bases = servers
    seed = random.randrange(1 << 30)
    pick = random.Random(seed).choice
    shared = f"shared-{uuid.uuid4().hex[:6]}"
    plans = {
        mode: [
            {
                "case": case,
                "thread_id": shared if case == "long" else f"{mode}-{case}-{uuid.uuid4().hex[:6]}",
                "run_id": str(uuid.uuid4()),
            }
            for case in cases
        ]
        for mode, cases in WORKERS.items()
    }
    runs = [run for plan in plans.values() for run in plan]
    threads: dict[str, int] = {}
    for run in runs:
        threads[run["thread_id"]] = threads.get(run["thread_id"], 0) + 1
    workers = [start_worker(mode, url, plan, tmp_path) for mode, plan in plans.items()]
    longs = [run for run in runs if run["case"] == "long"]

    async def main() -> tuple[dict[str, Any], list[Any], dict[str, Any], dict[str, Any]]:
        followers = {
            t: asyncio.create_task(follow_thread(pick(bases), t, n)) for t, n in threads.items()
        }
        # the followers wait on their threads (blocked in XREAD) before any run starts
        while blocked_readers(redis_server) < len(followers):
            await asyncio.sleep(0.02)
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        resumed = [
            asyncio.create_task(resume_elsewhere(*random.sample(bases, 2), shared, r["run_id"]))
            for r in longs
        ]
        for worker in workers:
            assert await asyncio.to_thread(worker.wait, 120) == 0, "a worker failed"
        joined = {r["run_id"]: await join(pick(bases), r["thread_id"], r["run_id"]) for r in runs}
        client = get_client(url=pick(bases), api_key=None)
        records = {r["run_id"]: await client.runs.get(r["thread_id"], r["run_id"]) for r in runs}
        followed = {t: await asyncio.wait_for(task, 60) for t, task in followers.items()}
        return joined, await asyncio.gather(*resumed), followed, records

    joined, resumed, followed, records = asyncio.run(main())
    reports = [json.loads(worker.out.read_text()) for worker in workers]
    for report in reports:
        assert report["stats"]["dropped"] == 0 and report["stats"]["queued"] == 0
    context = f"(random seed {seed})"
    reference = {r["run_id"]: r for report in reports for r in report["runs"]}
    assert set(reference) == {run["run_id"] for run in runs}

    for run_id, parts in joined.items():
        ref = reference[run_id]
        assert_same_run(parts, run_id, ref["native"], ref["items"])
        case = CASES.get(ref["case"])
        raises = None if case is None or case.raises is None else case.raises.__name__
        assert (ref["error"] or [None])[0] == raises, f"{ref['case']}: {ref['error']} {context}"
        want = STATUS.get(ref["case"], "success")
        assert records[run_id]["status"] == want, f"{ref['case']} {context}"
        if ref["error"] is not None:
            error, message = ref["error"]
            assert parts[-1][:2] == ("error", {"error": error, "message": message})

    # a thread's stream: each run whole, in place; the shared thread interleaves two workers
    for thread_id, parts in followed.items():
        keys = [tuple(map(int, p[2].split("-"))) for p in parts]
        assert keys == sorted(set(keys)), context
        own = [r["run_id"] for r in runs if r["thread_id"] == thread_id]
        for run_id in own:
            ids = {p[2] for p in joined[run_id]}
            assert [p for p in parts if p[2] in ids] == joined[run_id], context
        for run_id in own:  # its run_done marker, once, after its last part
            done = [
                i for i, p in enumerate(parts) if p[1] == {"status": "run_done", "run_id": run_id}
            ]
            assert len(done) == 1 and done[0] > parts.index(joined[run_id][-1]), context
        assert len(parts) == len(own) + sum(len(joined[r]) for r in own), context
    shared_parts = followed[shared]
    first_of = [shared_parts.index(joined[r["run_id"]][0]) for r in longs]
    last_of = [shared_parts.index(joined[r["run_id"]][-1]) for r in longs]
    assert max(first_of) < min(last_of), "the two workers' runs interleave on one thread"

    # cut off after 8 parts on one server, resumed on the other: nothing lost or repeated
    for run, parts in zip(longs, resumed, strict=True):
        assert parts == joined[run["run_id"]], context

"""Resuming without loss or duplicates, bounded histories, and clients that are slow or leave,
against a real uvicorn server (httpx-sse and raw sockets as clients)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from typing import Any

import httpx
import pytest
from graphs import CASES, long_loop
from langgraph.graph import START, StateGraph
from langgraph_sdk import get_client
from server_support import (
    BOTH_STORES,
    Background,
    event_key,
    follower_waits,
    recorded,
    run_config,
    served,
    settle,
    sse_events,
    wait_for,
)
from typing_extensions import TypedDict

from otelstream import server

__all__ = ["served"]

LOOP = {"count": 0, "log": []}


def stream_url(base: str, thread_id: str, run_id: Any) -> str:
    return f"{base}/threads/{thread_id}/runs/{run_id}/stream"


def finished_run(served: server.RunningServer, thread_id: str) -> tuple[str, list[Any]]:
    case = CASES["agent"]
    run_id = uuid.uuid4()
    case.build().invoke(case.input, run_config(case, thread_id, run_id))
    settle(served)
    full = sse_events(stream_url(served.url, thread_id, run_id))
    return str(run_id), full


@BOTH_STORES
@pytest.mark.timeout(120)
def test_resume_after_every_cut_point_of_a_finished_run(served: server.RunningServer) -> None:
    run_id, full = finished_run(served, "cuts")
    assert len(full) > 50 and [e for e in full if e[1] == "metadata"] == [full[0]]
    url = stream_url(served.url, "cuts", run_id)
    for cut in range(len(full)):
        rest = sse_events(url, headers={"Last-Event-ID": full[cut][0]})
        assert rest == full[cut + 1 :], f"resuming after item {cut}"
    # with a mode filter, a resume skips what the filter skips, nothing else
    events_only = sse_events(url, params={"stream_mode": "events"})
    for cut in range(0, len(events_only), 7):
        rest = sse_events(
            url, params={"stream_mode": "events"}, headers={"Last-Event-ID": events_only[cut][0]}
        )
        assert rest == events_only[cut + 1 :]
    # the Platform's "replay everything" ids
    for everything in ("-1", "0"):
        assert sse_events(url, headers={"Last-Event-ID": everything}) == full


@BOTH_STORES
@pytest.mark.timeout(120)
@pytest.mark.parametrize("cut", [1, 2, 10, 40, 90])
def test_resume_during_a_live_run(cut: int, served: server.RunningServer) -> None:
    """A client drops after ``cut`` items of a running run and comes back with its last id:
    it gets every item exactly once (the Platform delivered one twice in this window)."""
    run_id = uuid.uuid4()
    config = {"configurable": {"thread_id": "live"}, "run_id": run_id, "recursion_limit": 500}
    runner = Background(lambda: long_loop(60, delay=0.01).invoke(LOOP, config))
    url = stream_url(served.url, "live", run_id)
    wait_for(lambda: recorded(served.url, run_id) is not None)
    first = sse_events(url, limit=cut)
    assert runner.done_at is None, "the run must still be going when the client drops"
    rest = sse_events(url, headers={"Last-Event-ID": first[-1][0]})
    runner.join()
    full = sse_events(url)
    assert first + rest == full
    assert full[-1][2]["event"] == "on_chain_end"


@BOTH_STORES
@pytest.mark.timeout(60)
def test_sdk_resumes_with_last_event_id(served: server.RunningServer) -> None:
    run_id = uuid.uuid4()
    config = {"configurable": {"thread_id": "sdk-resume"}, "run_id": run_id, "recursion_limit": 500}
    runner = Background(lambda: long_loop(40, delay=0.01).invoke(LOOP, config))
    wait_for(lambda: recorded(served.url, run_id) is not None)
    url = stream_url(served.url, "sdk-resume", run_id)

    async def read(last: str | None, limit: int | None) -> list[Any]:
        out = []
        client = get_client(url=served.url, api_key=None)
        async for part in client.runs.join_stream("sdk-resume", str(run_id), last_event_id=last):
            out.append(part)
            if limit is not None and len(out) == limit:
                break
        return out

    async def main() -> tuple[list[Any], list[Any], list[Any]]:
        head = await read(None, 5)
        # the id of the 5th event: from the SDK where it gives ids (0.3 and later)
        last = getattr(head[-1], "id", None) or sse_events(url, limit=5)[-1][0]
        tail = await read(last, None)
        await asyncio.to_thread(runner.join)
        return head, tail, await read(None, None)

    head, tail, full = asyncio.run(main())
    assert len(full) > 100
    assert [(p.event, p.data) for p in head + tail] == [(p.event, p.data) for p in full]


@pytest.mark.timeout(60)
def test_bounded_history_counts_drops_and_refuses_evicted_resumes(exporter: Any) -> None:
    with server.start(port=0, max_items=20, max_runs=1) as small:
        run_id = uuid.uuid4()
        config = {"configurable": {"thread_id": "small"}, "run_id": run_id, "recursion_limit": 500}
        long_loop(30).invoke(LOOP, config)
        url = stream_url(small.url, "small", run_id)
        kept = sse_events(url)
        record = recorded(small.url, run_id)
        assert record["dropped"] > 0 and record["status"] == "success"
        # metadata first (always kept), the latest items, then the final drop count
        assert kept[0][1] == "metadata" and kept[0][2]["run_id"] == str(run_id)
        assert kept[-1][1:] == (
            "metadata",
            {"run_id": str(run_id), "status": "success", "dropped": record["dropped"]},
        )
        assert len(kept) == 1 + 20 + 1  # metadata, the 20 kept, the drop count
        # resuming from the metadata event, whose successors are gone: 410, said clearly
        response = httpx.get(url, headers={"Last-Event-ID": kept[0][0]})
        assert response.status_code == 410
        assert response.headers["content-type"] == "application/json"
        assert "evicted" in response.json()["detail"]
        # resuming from a kept item still works
        assert sse_events(url, headers={"Last-Event-ID": kept[5][0]}) == kept[6:]
        # a second finished run evicts the first one (max_runs=1): it is gone, not unknown
        long_loop(2).invoke(LOOP, {"configurable": {"thread_id": "small"}})
        assert httpx.get(url).status_code == 410
        gone = httpx.get(f"{small.url}/threads/small/runs/{run_id}")
        assert gone.status_code == 410 and gone.json()["error"] == "Gone"


class Blob(TypedDict):
    count: int
    blob: str


def blob_loop(steps: int, size: int) -> Any:
    """A loop whose state carries ``size`` characters, streamed every step (megabytes)."""

    def step(s: Blob) -> dict[str, Any]:
        return {"count": s["count"] + 1, "blob": str(s["count"]) * size}

    g = StateGraph(Blob)
    g.add_node("step", step)
    g.add_edge(START, "step")
    g.add_conditional_edges("step", lambda s: "step" if s["count"] < steps else "__end__")
    return g.compile()


def raw_get(base: str, path: str) -> socket.socket:
    """An SSE request on a socket that then reads nothing (a tiny receive buffer)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    return sock


@pytest.mark.timeout(120)
def test_a_slow_client_slows_nothing_and_is_cut_resumably(exporter: Any) -> None:
    timeout = 3.0
    with server.start(port=0, send_timeout=timeout, max_bytes=1 << 30) as srv:
        run_id = uuid.uuid4()
        config = {"configurable": {"thread_id": "slow"}, "run_id": run_id, "recursion_limit": 500}
        path = f"/threads/slow/runs/{run_id}/stream"
        graph = blob_loop(30, 50_000)  # megabytes: far beyond the socket buffers
        started = time.monotonic()
        runner = Background(lambda: graph.invoke({"count": 0, "blob": ""}, config))
        wait_for(lambda: recorded(srv.url, run_id) is not None)
        slow = raw_get(srv.url, path)
        fast = Background(lambda: sse_events(srv.url + path))
        runner.join()
        run_time = runner.done_at - started
        assert run_time < timeout, "the run did not wait for the slow client"
        fast.join()
        full = fast.result
        assert full[-1][2]["event"] == "on_chain_end"
        # the slow socket was cut after the run ended (it did not hold the run up) ...
        time.sleep(2 * timeout)  # it reads nothing for twice the send timeout
        slow.settimeout(30)
        received = bytearray()
        while chunk := slow.recv(1 << 16):
            received.extend(chunk)
        cut_at = time.monotonic() - started
        slow.close()
        assert cut_at > run_time
        assert not received.endswith(b"0\r\n\r\n"), "the slow client must have been cut"
        # ... and resumes from its last complete event without loss or duplicates
        events = bytes(received).split(b"\r\n\r\n")
        ids = [
            line[4:].decode()
            for block in events
            for line in block.split(b"\r\n")
            if line.startswith(b"id: ")
        ]
        assert ids, "the slow client received a few events first"
        rest = sse_events(srv.url + path, headers={"Last-Event-ID": ids[-1]})
        position = [e[0] for e in full].index(ids[-1])
        assert rest == full[position + 1 :]


@pytest.mark.timeout(60)
def test_clients_that_leave_free_everything(served: server.RunningServer) -> None:
    run_id = uuid.uuid4()
    config = {"configurable": {"thread_id": "leave"}, "run_id": run_id, "recursion_limit": 500}
    runner = Background(lambda: long_loop(200, delay=0.01).invoke(LOOP, config))
    store = served.app.state.store
    wait_for(lambda: recorded(served.url, run_id) is not None)
    for _ in range(5):
        assert sse_events(stream_url(served.url, "leave", run_id), limit=3)
    thread_watchers = [
        Background(lambda: sse_events(f"{served.url}/threads/leave/stream", limit=2))
    ]
    for watcher in thread_watchers:
        watcher.join()
    wait_for(lambda: store.waiting() == 0)
    assert runner.done_at is None, "the run goes on"
    runner.join()
    assert recorded(served.url, run_id)["status"] == "success"


@BOTH_STORES
@pytest.mark.timeout(120)
def test_thread_stream_of_concurrent_runs_resumes_exactly(served: server.RunningServer) -> None:
    """Two runs at once on one thread: the thread's stream gives their items in id order,
    and resuming it after any event id, a run_done marker's too, gives exactly the rest."""
    url = f"{served.url}/threads/both/stream"
    follower = Background(lambda: sse_events(url, limit=10_000_000, until_runs_done=2))
    wait_for(lambda: follower_waits(served))
    runners = [
        Background(
            lambda: long_loop(20, delay=0.005).invoke(
                LOOP, {"configurable": {"thread_id": "both"}, "recursion_limit": 500}
            )
        )
        for _ in range(2)
    ]
    for runner in runners:
        runner.join()
    follower.join()
    seen = follower.result
    keys = [event_key(e[0]) for e in seen]
    assert keys == sorted(set(keys)) and len(keys) > 100
    done = [i for i, e in enumerate(seen) if e[2].get("status") == "run_done"]
    assert {e[2]["run_id"] for e in seen if e[1] == "metadata" and "attempt" in e[2]} == {
        seen[i][2]["run_id"] for i in done
    }
    # every 9th event, and each run_done marker with the 8 events before it: a resume after
    # a run's last item, or after another run's items that came before its marker
    near = {j for i in done for j in range(max(0, i - 8), i + 1)}
    for cut in sorted({*range(0, len(seen) - 1, 9), *near} - {len(seen) - 1}):
        after = seen[cut + 1 :]  # what the first client got after it
        rest = sse_events(url, headers={"Last-Event-ID": seen[cut][0]}, limit=len(after))
        assert rest == after, f"resuming after event {cut}"


def test_a_client_stuck_on_a_heartbeat_is_cut_too() -> None:
    """The ASGI response on its own: the data sent, then the client's socket full, so the
    heartbeat's send never returns; the stream is cut after ``send_timeout`` all the same."""
    from otelstream.server.sse import HEARTBEAT, StreamResponse

    async def body() -> Any:
        yield b"event: metadata\r\ndata: {}\r\n\r\n"
        await asyncio.Event().wait()  # the run goes on, with nothing to send for now

    sent: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message.get("body", b"start"))
        if message.get("body") == HEARTBEAT:
            await asyncio.Event().wait()  # as uvicorn's send waits on a full socket

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client neither reads nor leaves
        return {}

    response = StreamResponse(body(), headers={}, heartbeat=0.2, send_timeout=0.5)
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(response({"method": "GET"}, receive, send), 10))
    assert 0.6 <= time.monotonic() - started < 3
    assert sent[-1] == HEARTBEAT and sent.count(HEARTBEAT) == 1

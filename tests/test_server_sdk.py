"""Remote streams read by the real ``langgraph-sdk`` client from a real uvicorn server.

For every corpus graph, one run is followed three ways at once: in-process by
``otelstream.subscribe`` (``events``, ``debug``), by its caller through LangGraph's own
``stream`` (``values``, ``updates``, ``custom``), and by the server's recorder. What
``client.runs.join_stream`` then receives must be the Platform's JSON form of the first two,
item for item (the same run, so no id is normalized away).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from graphs import CASES, CORPUS, Case, long_loop
from langgraph_sdk import get_client
from server_support import (
    BOTH_STORES,
    Background,
    as_recorded,
    assert_same_run,
    drive,
    platform_json,
    run_config,
    served,
    settle,
    split_name,
)

import otelstream
from otelstream import server

__all__ = ["served"]


def part(p: Any) -> tuple[str, Any, str | None]:
    """A stream part; its event id where the SDK gives it (0.3 and later)."""
    return p.event, p.data, getattr(p, "id", None)


async def join(url: str, thread_id: str, run_id: str, **kwargs: Any) -> list[Any]:
    client = get_client(url=url, api_key=None)
    return [part async for part in client.runs.join_stream(thread_id, run_id, **kwargs)]


@BOTH_STORES
@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_sdk_join_stream_equals_in_process_streams(
    case: Case, served: server.RunningServer
) -> None:
    thread_id = f"sdk-{case.name}"
    run_id, native, items, error = drive(case, thread_id)
    settle(served)
    if case.raises is None:
        assert error is None, error
    else:
        assert type(error) is case.raises

    parts = asyncio.run(join(served.url, thread_id, run_id))
    assert_same_run(
        list(map(part, parts)),
        run_id,
        platform_json(native),
        [[mode, platform_json(chunk)] for mode, chunk in items],
    )
    run = asyncio.run(get_client(url=served.url, api_key=None).runs.get(thread_id, run_id))
    if case.raises is not None:
        assert parts[-1].event == "error"
        assert parts[-1].data == {"error": case.raises.__name__, "message": str(error)}
        assert run["status"] == "error"
    else:
        assert all(p.event != "error" for p in parts)
        assert run["status"] == ("interrupted" if case.name == "interrupt" else "success")
    assert run["run_id"] == run_id and run["thread_id"] == thread_id


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_messages_tuple_equals_langgraph_messages_mode(
    case: Case, served: server.RunningServer
) -> None:
    """``messages-tuple`` (SSE ``messages`` events, ``[message, metadata]``) is what
    ``graph.stream(stream_mode="messages", subgraphs=True)`` yields for the same run."""
    run_id = uuid.uuid4()
    graph, config = case.build(), run_config(case, f"msg-{case.name}", run_id)
    native: list[Any] = []

    async def astream() -> None:
        async for item in graph.astream(case.input, config, stream_mode="messages", subgraphs=True):
            native.append(item)

    def stream() -> None:
        native.extend(graph.stream(case.input, config, stream_mode="messages", subgraphs=True))

    Background(astream if case.is_async else stream).join()
    parts = asyncio.run(
        join(served.url, f"msg-{case.name}", str(run_id), stream_mode="messages-tuple")
    )
    got = [[list(split_name(p.event)[1]), p.data] for p in parts if p.event != "metadata"]
    got = [g for g in got if g[1] is not None and "error" not in g[1]]
    assert got == as_recorded(platform_json(native), got)
    assert {split_name(p.event)[0] for p in parts} <= {"metadata", "messages", "error"}
    if case.name in ("agent", "chain", "tool_error"):
        assert any(p.event == "messages" for p in parts)


@BOTH_STORES
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "stream_mode",
    ["events", "debug", "values", "updates", "custom", ["events", "debug"], None],
    ids=str,
)
def test_failed_run_ends_with_error_for_every_mode_filter(
    stream_mode: Any, served: server.RunningServer
) -> None:
    case = CASES["failing"]
    run_id = uuid.uuid4()
    runner = Background(lambda: case.build().invoke(case.input, run_config(case, "fail", run_id)))
    runner.join()
    assert type(runner.error) is case.raises
    settle(served)
    parts = asyncio.run(join(served.url, "fail", str(run_id), stream_mode=stream_mode))
    assert parts[0].event == "metadata"
    assert parts[-1].event == "error"
    assert parts[-1].data == {"error": "NodeFailed", "message": "node failed on purpose"}
    wanted = {"events", "debug", "values", "updates", "custom"}
    if stream_mode is not None:
        wanted = {stream_mode} if isinstance(stream_mode, str) else set(stream_mode)
    assert {split_name(p.event)[0] for p in parts[1:-1]} <= wanted


@pytest.mark.timeout(60)
def test_stream_mode_once_repeated_or_json_list(served: server.RunningServer) -> None:
    """``stream_mode`` given once, repeated (what the SDK sends for a list) or as a JSON list:
    every mode asked is honoured (the Platform honours only the last)."""
    case = CASES["agent"]
    run_id = str(uuid.uuid4())
    config = run_config(case, "modes", uuid.UUID(run_id))
    case.build().invoke(case.input, config)
    everything = asyncio.run(join(served.url, "modes", run_id))
    counts = Counter(p.event for p in everything)
    for asked in (["events", "debug"], ["debug", "values"], ["updates"]):
        want = [p for p in everything if p.event == "metadata" or p.event in asked]
        repeated = asyncio.run(join(served.url, "modes", run_id, stream_mode=asked))
        as_json = asyncio.run(
            join(
                served.url,
                "modes",
                run_id,
                params={"stream_mode": f'["{asked[0]}", "{asked[-1]}"]'},
            )
        )
        for got in (repeated, as_json):
            assert list(map(part, got)) == list(map(part, want))
    assert counts["events"] and counts["debug"] and counts["values"] and counts["updates"]


@BOTH_STORES
@pytest.mark.timeout(60)
def test_runs_list_and_get_through_the_sdk(served: server.RunningServer) -> None:
    case = CASES["interrupt"]
    ids = []
    for _ in range(3):
        run_id = uuid.uuid4()
        ids.append(str(run_id))
        case.build().invoke(case.input, run_config(case, "listed", run_id))
    settle(served)
    client = get_client(url=served.url, api_key=None)

    async def read() -> tuple[list[Any], list[Any], list[Any], Any]:
        return (
            await client.runs.list("listed"),
            await client.runs.list("listed", limit=2, offset=1),
            await client.runs.list("listed", status="success"),
            await client.runs.get("listed", ids[0]),
        )

    runs, page, successes, first = asyncio.run(read())
    assert [r["run_id"] for r in runs] == ids[::-1]  # newest first
    assert [r["run_id"] for r in page] == ids[::-1][1:]
    assert successes == []
    assert {r["status"] for r in runs} == {"interrupted"}
    assert first["assistant_id"] == "LangGraph" and first["metadata"]["case"] == "interrupt"
    for key in ("created_at", "updated_at", "multitask_strategy", "kwargs"):
        assert key in first


@pytest.mark.timeout(60)
def test_runs_started_any_way_are_recorded(served: server.RunningServer) -> None:
    """invoke, ainvoke in a task, stream, LangChain's own astream_events and
    otelstream.astream_events: each run is recorded whole, and the events recorded for an
    astream_events run are exactly the ones its caller got."""
    case = CASES["agent"]
    ids = {way: uuid.uuid4() for way in ("invoke", "task", "stream", "native", "otelstream")}

    def cfg(way: str) -> dict[str, Any]:
        return run_config(case, f"way-{way}", ids[way])

    async def async_ways() -> tuple[list[Any], list[Any]]:
        await asyncio.create_task(case.build().ainvoke(case.input, cfg("task")))
        native = [
            e async for e in case.build().astream_events(case.input, cfg("native"), version="v2")
        ]
        ours = [
            e async for e in otelstream.astream_events(case.build(), case.input, cfg("otelstream"))
        ]
        return native, ours

    case.build().invoke(case.input, cfg("invoke"))
    list(case.build().stream(case.input, cfg("stream"), stream_mode="updates"))
    native, ours = asyncio.run(async_ways())

    recorded = {}
    for way, run_id in ids.items():
        parts = asyncio.run(join(served.url, f"way-{way}", str(run_id), stream_mode="events"))
        recorded[way] = [p.data for p in parts if p.event == "events"]
        assert recorded[way][0]["event"] == "on_chain_start"
        assert recorded[way][-1]["event"] == "on_chain_end"
        assert recorded[way][-1]["run_id"] == str(run_id)
    for way, consumed in (("native", native), ("otelstream", ours)):
        want = platform_json(consumed)
        assert recorded[way] == as_recorded(want, recorded[way]), way
    tokens = [e for e in recorded["invoke"] if e["event"] == "on_chat_model_stream"]
    assert tokens, "a recorded run's models stream"


@BOTH_STORES
@pytest.mark.timeout(60)
def test_threads_join_stream_follows_every_run_on_the_thread(
    served: server.RunningServer,
) -> None:
    client = get_client(url=served.url, api_key=None)
    graph = long_loop(5)
    run_ids = [uuid.uuid4(), uuid.uuid4()]

    async def follow() -> list[Any]:
        parts: list[Any] = []
        done = 0
        stream = client.threads.join_stream("followed")
        if inspect.isawaitable(stream):  # a coroutine in newer SDKs
            stream = await stream
        async for part in stream:
            parts.append(part)
            if part.event == "metadata" and part.data.get("status") == "run_done":
                done += 1
                if done == 2:
                    break
        return parts

    async def main() -> list[Any]:
        task = asyncio.create_task(follow())
        await asyncio.sleep(0.3)  # the client waits on the thread before any run starts
        for run_id in run_ids:
            config = {"configurable": {"thread_id": "followed"}, "run_id": run_id}
            await asyncio.to_thread(graph.invoke, {"count": 0, "log": []}, config)
        return await asyncio.wait_for(task, 20)

    parts = asyncio.run(main())
    starts = [i for i, p in enumerate(parts) if p.event == "metadata" and "attempt" in p.data]
    ends = [i for i, p in enumerate(parts) if p.event == "metadata" and "status" in p.data]
    assert [parts[i].data["run_id"] for i in starts] == [str(r) for r in run_ids]
    assert [parts[i].data["run_id"] for i in ends] == [str(r) for r in run_ids]
    for run_id, start, end in zip(run_ids, starts, ends, strict=True):
        single = asyncio.run(join(served.url, "followed", str(run_id)))
        assert list(map(part, parts[start:end])) == list(map(part, single))


@pytest.mark.timeout(60)
def test_record_filter_by_graph_name_and_thread(exporter: Any) -> None:
    kept = server.start(port=0, record=lambda graph, thread: thread == "keep")
    try:
        case = CASES["agent"]
        for thread in ("keep", "skip"):
            case.build().invoke(case.input, run_config(case, thread, uuid.uuid4()))
        client = get_client(url=kept.url, api_key=None)
        assert len(asyncio.run(client.runs.list("keep"))) == 1
        runs = asyncio.run(get_client(url=kept.url, api_key=None).http.get("/runs", params={}))
        assert [r["thread_id"] for r in runs] == ["keep"]
    finally:
        kept.stop()


@pytest.mark.timeout(60)
def test_mounted_in_another_starlette_app(exporter: Any) -> None:
    """``create_app()`` mounted under a prefix of the app's own: the SDK (base URL with the
    prefix), its reconnect ``Location`` and the viewer's links all work there."""
    import threading

    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    streams = server.create_app()

    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("the app's own page")

    app = Starlette(routes=[Route("/", home), Mount("/otelstream", app=streams)])
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        while not uv.started:
            assert thread.is_alive()
            time.sleep(0.01)
        base = f"http://127.0.0.1:{uv.servers[0].sockets[0].getsockname()[1]}"
        case = CASES["agent"]
        run_id = uuid.uuid4()
        case.build().invoke(case.input, run_config(case, "mounted", run_id))
        parts = asyncio.run(join(f"{base}/otelstream", "mounted", str(run_id)))
        assert parts[0].data["run_id"] == str(run_id)
        assert parts[-1].event == "events" and parts[-1].data["event"] == "on_chain_end"
        response = httpx.get(f"{base}/otelstream/threads/mounted/runs/{run_id}/stream")
        assert response.headers["location"] == f"/threads/mounted/runs/{run_id}/stream"
        page = httpx.get(f"{base}/otelstream/")
        assert 'const BASE = "/otelstream/"' in page.text
        assert httpx.get(base + "/").text == "the app's own page"
    finally:
        streams.state.recorder.close()
        uv.should_exit = True
        thread.join(10)

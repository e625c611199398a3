"""Helpers for the remote-stream tests: a real uvicorn server on loopback, runs with known
ids, the Platform's JSON form of in-process items, and raw SSE reads through httpx-sse."""

from __future__ import annotations

import asyncio
import base64
import functools
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from graphs import Case
from httpx_sse import connect_sse

import otelstream
from otelstream import server


def platform_json(obj: Any) -> Any:
    """``obj`` as LangGraph Platform's server puts it on the wire (``langgraph_api.serde``:
    orjson, pydantic models through ``model_dump()``), read back; where the Platform writes
    ``null`` for an object it does not know (a ``Send``), otelstream writes its ``repr``."""

    def default(o: Any) -> Any:
        if hasattr(o, "model_dump") and callable(o.model_dump):
            return o.model_dump()
        if isinstance(o, BaseException):
            return {"error": type(o).__name__, "message": str(o)}
        if isinstance(o, (set, frozenset)):
            return list(o)
        if isinstance(o, uuid.UUID):
            return str(o)
        if isinstance(o, bytes):
            return base64.b64encode(o).decode()
        return repr(o)

    return orjson.loads(orjson.dumps(obj, default=default, option=orjson.OPT_NON_STR_KEYS))


@pytest.fixture
def served(request: pytest.FixtureRequest, exporter: Any) -> Iterator[server.RunningServer]:
    """otelstream instrumented (in-memory spans) and serving on a free loopback port, its
    runs in memory, or (``@pytest.mark.parametrize("served", ["redis"], indirect=True)``) in
    the session's Redis, under a prefix of its own."""
    store = None
    if getattr(request, "param", "memory") == "redis":
        redis = request.getfixturevalue("redis_server")
        store = f"{redis.url}?prefix=t{uuid.uuid4().hex[:12]}"
    running = server.start(port=0, store=store)
    try:
        yield running
    finally:
        running.stop()


BOTH_STORES = pytest.mark.parametrize("served", ["memory", "redis"], indirect=True)
"""Runs a test with the in-memory store and with Redis."""


def settle(served: server.RunningServer) -> None:
    """Until the runs this process recorded are readable by any server (a shared store
    publishes from a background thread)."""
    assert served.app.state.store.flush(10), "the store did not take the runs in time"


def follower_waits(served: server.RunningServer) -> bool:
    """Whether some reader waits for news: on the in-memory store, or blocked in Redis."""
    store = served.app.state.store
    if isinstance(store, server.MemoryHistoryStore):
        return store.waiting() > 0
    import redis

    clients = redis.Redis.from_url(store.target.url).client_list()
    return any(c["cmd"] == "xread" and "b" in c["flags"] for c in clients)


def event_key(event_id: str) -> tuple[int, ...]:
    """An event id's order: ``"17"`` (in memory) or ``"1700000000000-3"`` (Redis)."""
    return tuple(int(part) for part in event_id.split("-"))


def run_config(case: Case, thread_id: str, run_id: uuid.UUID) -> dict[str, Any]:
    config = case.config(thread_id)
    config["configurable"] = {**config.get("configurable", {}), "thread_id": thread_id}
    config["run_id"] = run_id
    return config


class Background:
    """A graph run (any callable) in a thread, keeping its result or exception."""

    def __init__(self, target: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done_at: float | None = None
        self._target = target
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            result = self._target()
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            self.result = result
        except BaseException as exc:
            self.error = exc
        finally:
            self.done_at = time.monotonic()

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not finish"


def drive(
    case: Case, thread_id: str, run_id: uuid.UUID | None = None
) -> tuple[str, list[Any], list[Any], BaseException | None]:
    """Run ``case`` through LangGraph's own stream (values, updates, custom, subgraphs) while
    ``subscribe`` follows it; its run id, the native items, the subscriber's, the error."""
    run_id = run_id or uuid.uuid4()
    graph, config = case.build(), run_config(case, thread_id, run_id)
    native: list[Any] = []

    async def astream() -> None:
        async for item in graph.astream(case.input, config, stream_mode=MODES, subgraphs=True):
            native.append(item)

    def stream() -> None:
        native.extend(graph.stream(case.input, config, stream_mode=MODES, subgraphs=True))

    with otelstream.subscribe(run_id=run_id, modes=("events", "debug"), subgraphs=True) as sub:
        runner = Background(astream if case.is_async else stream)
        items = list(sub)
        runner.join()
    assert sub.dropped == 0
    return str(run_id), native, items, runner.error


async def adrive(
    case: Case, thread_id: str, run_id: uuid.UUID
) -> tuple[list[Any], list[Any], BaseException | None]:
    """``drive`` as a task of the caller's event loop: the native items, the subscriber's,
    the error."""
    graph, config = case.build(), run_config(case, thread_id, run_id)
    native: list[Any] = []
    items: list[Any] = []
    error = None
    with otelstream.subscribe(run_id=run_id, modes=("events", "debug"), subgraphs=True) as sub:

        async def follow() -> None:
            async for item in sub:
                items.append(item)

        follower = asyncio.create_task(follow())
        try:
            async for item in graph.astream(case.input, config, stream_mode=MODES, subgraphs=True):
                native.append(item)
        except Exception as exc:
            error = exc
        await follower
    assert sub.dropped == 0
    return native, items, error


MODES = ["values", "updates", "custom"]
"""LangGraph's own modes ``drive`` streams (``events``/``debug`` come from ``subscribe``)."""


def assert_same_run(
    parts: list[tuple[str, Any, str | None]], run_id: str, native: Any, items: list[Any]
) -> None:
    """A run's served stream (``(event, data, id)``, ids where the client gives them) is
    the Platform's JSON form of its in-process streams, item for item: ``native`` (LangGraph's
    own items, as ``platform_json``) and ``items`` (the subscriber's ``[mode, platform_json]``)."""
    assert parts[0][:2] == ("metadata", {"run_id": run_id, "attempt": 1})
    if parts[0][2] is not None:  # langgraph-sdk >= 0.3 gives the event ids
        ids = [event_key(i) for _, _, i in parts]
        assert ids == sorted(set(ids)), "event ids must be unique and increasing"
    got_events = [data for event, data, _ in parts if event == "events"]
    want_events = [chunk for mode, chunk in items if mode == "events"]
    want_events = as_recorded(want_events, got_events)
    assert got_events == want_events, difference("events", got_events, want_events)
    got_debug = [[list(split_name(e)[1]), data] for e, data, _ in parts if e.startswith("debug")]
    want_debug = [chunk for mode, chunk in items if mode == "debug"]
    want_debug = as_recorded(want_debug, got_debug)
    assert got_debug == want_debug, difference("debug", got_debug, want_debug)
    got_native = [
        [list(split_name(e)[1]), split_name(e)[0], data]
        for e, data, _ in parts
        if split_name(e)[0] in MODES
    ]
    want_native = as_recorded(native, got_native)
    assert got_native == want_native, difference("values/updates/custom", got_native, want_native)
    assert got_events and got_debug and got_native


def difference(what: str, got: list[Any], want: list[Any]) -> str:
    """Where two item lists part (helpers get no pytest assertion rewriting)."""
    pairs = enumerate(zip(got, want, strict=False))
    at = next((i for i, (g, w) in pairs if g != w), min(len(got), len(want)))
    served, in_process = (x[at] if at < len(x) else "(nothing)" for x in (got, want))
    counts = f"{len(got)} served, {len(want)} in process"
    return f"{what}: {counts}; item {at}: {served!r} != {in_process!r}"


def split_name(event: str) -> tuple[str, tuple[str, ...]]:
    """``mode|ns1|ns2`` -> ``(mode, (ns1, ns2))``."""
    mode, *namespace = event.split("|")
    return mode, tuple(namespace)


@functools.cache
def _client() -> httpx.Client:
    """One client for the session (creating one costs tens of milliseconds)."""
    return httpx.Client(timeout=30)


def sse_events(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: Any = None,
    limit: int | None = None,
    until_runs_done: int | None = None,
) -> list[tuple[str | None, str, Any]]:
    """``(id, event, data)`` of an SSE response read with httpx-sse (at most ``limit``; a
    thread's stream until that many ``run_done`` markers)."""
    out: list[tuple[str | None, str, Any]] = []
    with connect_sse(_client(), "GET", url, headers=dict(headers or {}), params=params) as source:
        source.response.raise_for_status()
        for sse in source.iter_sse():
            if not sse.data:  # a heartbeat comment: httpx-sse yields an empty "message"
                continue  # for one once an id was seen (it keeps the last id)
            out.append((sse.id or None, sse.event, orjson.loads(sse.data)))
            if limit is not None and len(out) >= limit:
                break
            if until_runs_done is not None and out[-1][2].get("status") == "run_done":
                until_runs_done -= 1
                if until_runs_done == 0:
                    break
    return out


def recorded(base: str, run_id: Any) -> dict[str, Any] | None:
    """The run's record as the server answers it (``GET /runs/{id}``), or None (404)."""
    response = _client().get(f"{base}/runs/{run_id}")
    return None if response.status_code == 404 else response.raise_for_status().json()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def as_recorded(want: Any, got: Any) -> Any:
    """``want`` (the in-process items, serialized after the run) with the message ids that
    LangGraph assigned after the event put back to ``None``: ``add_messages`` gives an id to
    a message returned without one, mutating the object the event carried, while the
    recorder serialized it when the event happened."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = {k: as_recorded(v, got.get(k)) for k, v in want.items()}
        if "type" in want and got.get("id") is None and isinstance(want.get("id"), str):
            out["id"] = None
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [as_recorded(w, g) for w, g in zip(want, got, strict=True)]
    return want

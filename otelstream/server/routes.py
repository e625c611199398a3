"""The LangGraph Platform endpoints ``langgraph_sdk`` reads runs from, over recorded runs.

``GET /threads/{tid}/runs/{rid}/stream`` (``client.runs.join_stream``), ``GET
/threads/{tid}/stream`` (``client.threads.join_stream``), ``GET /threads/{tid}/runs/{rid}``
(``runs.get``, what the SDK checks after a stream closes) and ``GET /threads/{tid}/runs``
(``runs.list``), with the Platform's paths, JSON and SSE framing, plus ``GET /runs`` (every
recorded run, for the viewer) and ``GET /runs/{rid}[/stream]`` (a run by its id alone).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from otelstream.server import store as st
from otelstream.server.auth import Access
from otelstream.server.errors import ApiError
from otelstream.server.sse import StreamResponse, comment, frame
from otelstream.server.wire import ERROR, MESSAGES, MESSAGES_TUPLE, METADATA, MODES

THREAD_MODES = {"run_modes": None, "lifecycle": frozenset(), "state_update": frozenset({"values"})}
"""``threads.join_stream`` modes: every run mode, only ``metadata`` events, or ``values``."""
_POLL = 30.0
"""Longest wait on the store before a reader looks again (heartbeats go on meanwhile)."""


@dataclass
class ServerState:
    store: st.HistoryStore
    access: Access
    heartbeat: float
    send_timeout: float
    pace: float = 0.0
    """Least time between two writes to one client: items arriving meanwhile go out in one
    write (fewer writes per item when items come fast, at most this much added latency)."""


def _modes(request: Request, names: tuple[str, ...], allowed: set[str]) -> list[str]:
    """The modes asked for: once, repeated, comma-separated or as a JSON list (all honoured)."""
    found: list[str] = []
    for name in names:
        for raw in request.query_params.getlist(name):
            raw = raw.strip()
            if raw.startswith("["):
                try:
                    values = json.loads(raw)
                except ValueError:
                    raise ApiError(422, "InvalidStreamMode", f"bad {name}: {raw!r}") from None
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise ApiError(422, "InvalidStreamMode", f"bad {name}: {raw!r}")
            else:
                values = [v for v in raw.split(",") if v.strip()]
            found.extend(v.strip() for v in values)
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise ApiError(
            422,
            "InvalidStreamMode",
            f"unknown or unrecorded stream mode(s) {unknown}; served: {sorted(allowed)}",
        )
    return found


def _selector(modes: list[str] | None) -> Callable[[str], bool]:
    """Which events go out: ``metadata`` and ``error`` always, the rest by mode."""
    if not modes:
        return lambda event: True
    wanted = frozenset(MESSAGES if m == MESSAGES_TUPLE else m for m in modes)
    return lambda event: event in (METADATA, ERROR) or event.partition("|")[0] in wanted


def _last_event_id(request: Request) -> str | None:
    value = request.headers.get("last-event-id")
    return value.strip() if value is not None and value.strip() else None


class Endpoints:
    """The request handlers of one app, over its store and access rules."""

    def __init__(self, state: ServerState) -> None:
        self.s = state

    # -- runs -----------------------------------------------------------------------------
    async def _run(self, request: Request, thread_id: str | None, run_id: str) -> st.RunRecord:
        self.s.access.authenticate(request)
        try:
            record = await self.s.store.get_run(run_id, thread_id)
        except st.HistoryEvicted:
            raise ApiError(410, "Gone", f"run {run_id} is no longer kept") from None
        if record is None:
            where = f" on thread {thread_id}" if thread_id is not None else ""
            raise ApiError(404, "NotFound", f"run {run_id} not found{where}")
        await self.s.access.check_thread(request, record.thread_id)
        return record

    async def get_run(self, request: Request) -> Response:
        p = request.path_params
        record = await self._run(request, p.get("thread_id"), p["run_id"])
        return JSONResponse(record.to_json())

    async def list_thread_runs(self, request: Request) -> Response:
        self.s.access.authenticate(request)
        thread_id = request.path_params["thread_id"]
        await self.s.access.check_thread(request, thread_id)
        records = await self.s.store.runs(thread_id)
        if not records:
            raise ApiError(404, "NotFound", f"thread {thread_id} has no recorded runs")
        return JSONResponse(await self._page(request, records))

    async def list_runs(self, request: Request) -> Response:
        self.s.access.authenticate(request)
        allowed = [
            r
            for r in await self.s.store.runs()
            if await self.s.access.allowed(request, r.thread_id)
        ]
        return JSONResponse(await self._page(request, allowed))

    @staticmethod
    async def _page(request: Request, records: list[st.RunRecord]) -> list[dict[str, object]]:
        q = request.query_params
        try:
            limit, offset = int(q.get("limit", "10")), int(q.get("offset", "0"))
        except ValueError:
            raise ApiError(422, "InvalidQuery", "limit and offset must be integers") from None
        if limit < 0 or offset < 0:
            raise ApiError(422, "InvalidQuery", "limit and offset must be >= 0")
        status = q.get("status")
        if status is not None and status not in st.STATUSES:
            raise ApiError(422, "InvalidQuery", f"unknown status {status!r}")
        if status is not None:
            records = [r for r in records if r.status == status]
        return [r.to_json() for r in records[offset : offset + limit]]

    # -- a run's stream ---------------------------------------------------------------------
    async def run_stream(self, request: Request) -> Response:
        self.s.access.authenticate(request)  # a stranger learns nothing, not even a 422
        p = request.path_params
        modes = _modes(request, ("stream_mode",), set(MODES))
        if request.query_params.get("cancel_on_disconnect", "false").lower() == "true":
            raise ApiError(
                422, "Unsupported", "cancel_on_disconnect: otelstream follows runs, never cancels"
            )
        record = await self._run(request, p.get("thread_id"), p["run_id"])
        try:
            cursor = await self.s.store.start(record, _last_event_id(request))
        except st.BadEventId as exc:
            raise ApiError(400, "InvalidLastEventId", str(exc)) from None
        except st.HistoryEvicted as exc:
            raise ApiError(410, "Gone", str(exc)) from None
        body = self._follow_run(record, cursor, _selector(modes))
        return self._respond(body, record)

    async def _follow_run(
        self, record: st.RunRecord, cursor: str, selected: Callable[[str], bool]
    ) -> AsyncIterator[bytes]:
        store = self.s.store
        while True:
            try:
                batch = await store.read(record, cursor, _POLL)
            except st.HistoryEvicted:  # this reader fell behind the bounded history
                yield comment("history evicted: reconnect with Last-Event-ID for a 410")
                return
            except st.StoreUnavailable:
                yield comment("stream store unavailable: reconnect with Last-Event-ID")
                return
            cursor = batch.cursor
            out = [frame(e.event, e.data, e.id) for e in batch.entries if selected(e.event)]
            if out:
                yield b"".join(out)
            if batch.ended:
                return
            if out and self.s.pace:  # the next write gathers what comes meanwhile
                await asyncio.sleep(self.s.pace)

    def _respond(self, body: AsyncIterator[bytes], record: st.RunRecord | None) -> Response:
        headers = {}
        if record is not None:
            run = (
                f"/threads/{quote(record.thread_id, safe='')}/runs/{quote(record.run_id, safe='')}"
            )
            headers = {"Location": f"{run}/stream", "Content-Location": run}
        return StreamResponse(
            body, headers=headers, heartbeat=self.s.heartbeat, send_timeout=self.s.send_timeout
        )

    # -- a thread's stream -----------------------------------------------------------------
    async def thread_stream(self, request: Request) -> Response:
        self.s.access.authenticate(request)
        thread_id = request.path_params["thread_id"]
        await self.s.access.check_thread(request, thread_id)
        asked = _modes(request, ("stream_modes", "stream_mode"), set(THREAD_MODES))
        selected: Callable[[str], bool]
        if not asked or "run_modes" in asked:
            selected = _selector(None)
        else:
            wanted = frozenset().union(*(THREAD_MODES[m] or () for m in asked))
            selected = _selector(sorted(wanted) or ["-"])
        last = _last_event_id(request)
        if last is not None:
            try:
                self.s.store.key(last)
            except st.BadEventId as exc:
                raise ApiError(400, "InvalidLastEventId", str(exc)) from None
        return self._respond(self._follow_thread(thread_id, last, selected), None)

    async def _follow_thread(
        self, thread_id: str, last: str | None, selected: Callable[[str], bool]
    ) -> AsyncIterator[bytes]:
        """Every run of the thread as it starts (with ``Last-Event-ID``: every kept item after
        it, then on), in id order; ``metadata {"status": "run_done"}`` after each run."""
        batches = self.s.store.follow_thread(thread_id, last)
        try:
            async for entries in batches:
                out = [frame(e.event, e.data, e.id) for e in entries if selected(e.event)]
                if out:
                    yield b"".join(out)
                    if self.s.pace:
                        await asyncio.sleep(self.s.pace)
        except st.StoreUnavailable:
            yield comment("stream store unavailable: reconnect with Last-Event-ID")
        finally:
            await batches.aclose()  # type: ignore[attr-defined]

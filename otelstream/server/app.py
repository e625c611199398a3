"""``create_app()``: the Starlette application that serves this process's runs over HTTP.

Creating it starts recording: from then on every root graph run the process starts (that
``record`` keeps) is recorded into the history store from its first event. Mount it in any
Starlette/FastAPI app (``app.mount("/otelstream", create_app())``) or serve it on its own
(``otelstream.server.start()``). With a shared store (Redis) it serves every process's runs,
and ``record=False`` makes a server that runs no graphs (``otelstream serve``).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otelstream.server.auth import Access, Authorize, token_from_env
from otelstream.server.errors import HANDLERS
from otelstream.server.memory import DEFAULT_MAX_BYTES, DEFAULT_MAX_ITEMS, DEFAULT_MAX_RUNS
from otelstream.server.recorder import RecordFilter, RunRecorder
from otelstream.server.routes import Endpoints, ServerState
from otelstream.server.store import HistoryStore
from otelstream.server.stores import open_store, warn_if_unreachable
from otelstream.server.viewer import viewer_page
from otelstream.server.wire import WirePolicy


def create_app(
    *,
    token: str | None = None,
    authorize: Authorize | None = None,
    record: RecordFilter | bool | None = None,
    store: HistoryStore | str | None = None,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_runs: int = DEFAULT_MAX_RUNS,
    cors_origins: Sequence[str] | None = None,
    heartbeat: float = 5.0,
    send_timeout: float = 10.0,
    pace: float = 0.005,
) -> Starlette:
    """The remote-stream app; it records runs from now on (``app.state.recorder.close()``
    stops that, ``app.state.store.close()`` then sends what a shared store still queues).

    ``token`` (default ``$OTELSTREAM_SERVER_TOKEN``) is then required on every request;
    ``authorize(request, thread_id)`` decides per thread; ``record(graph_name, thread_id)``
    chooses the runs recorded (default all; ``False``: none, this process only serves);
    ``store`` is a ``HistoryStore`` or a Redis URL (default ``$OTELSTREAM_STREAM_STORE``,
    else the in-memory history, whose bounds are ``max_items``/``max_bytes`` per run and
    ``max_runs`` finished runs);
    ``cors_origins`` allows browsers on those origins (CORS is off by default);
    ``send_timeout`` cuts a client that stops reading for that long; ``pace`` is the least
    time between two writes to one client (what arrives meanwhile goes in one write).
    """
    if heartbeat <= 0 or send_timeout <= 0 or pace < 0:
        raise ValueError("heartbeat and send_timeout must be positive, pace >= 0")
    history = open_store(store, max_items=max_items, max_bytes=max_bytes, max_runs=max_runs)
    access = Access(token_from_env(token), authorize)
    state = ServerState(history, access, heartbeat, send_timeout, pace)
    endpoints = Endpoints(state)
    recorder = None
    if record is not False:
        import otelstream

        instrumentor = otelstream.instrument()
        if instrumentor.hub is None or instrumentor.settings is None:
            raise RuntimeError("otelstream could not instrument LangChain (see the log)")
        warn_if_unreachable(history)
        keep = None if record is True else record
        policy = WirePolicy(instrumentor.settings)
        recorder = RunRecorder(instrumentor.hub, history, policy, keep)

    async def ok(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def viewer(request: Request) -> Response:
        access.authenticate(request)
        return viewer_page(request, access)

    routes = [
        Route("/", viewer),
        Route("/ok", ok),
        Route("/runs", endpoints.list_runs),
        Route("/runs/{run_id}", endpoints.get_run),
        Route("/runs/{run_id}/stream", endpoints.run_stream),
        Route("/threads/{thread_id}/runs", endpoints.list_thread_runs),
        Route("/threads/{thread_id}/runs/{run_id}", endpoints.get_run),
        Route("/threads/{thread_id}/runs/{run_id}/stream", endpoints.run_stream),
        Route("/threads/{thread_id}/stream", endpoints.thread_stream),
    ]
    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET"],
                allow_headers=["Authorization", "X-Api-Key", "Last-Event-ID", "Cache-Control"],
                expose_headers=["Location", "Content-Location"],
            )
        )
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=HANDLERS)  # type: ignore[arg-type]
    app.state.store = history
    app.state.recorder = recorder
    return app

"""``otelstream serve``: serve the runs in a shared stream store over HTTP, running no graphs.

Every process that runs graphs publishes its runs to Redis (``otelstream.server.publish()``
or an app with ``create_app(store=...)``); any number of ``otelstream serve`` processes, on
any machine, serve all of them with the LangGraph Platform endpoints. ``--workers N`` runs N
uvicorn worker processes on one port. Exits 2 with one line when the store is missing,
malformed, unreachable or refuses the credentials.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

STORE_ENV = "OTELSTREAM_STREAM_STORE"
TOKEN_ENV = "OTELSTREAM_SERVER_TOKEN"
"""As ``otelstream.server`` names them (not imported here: ``otelstream --help`` stays fast)."""


def add_parser(commands: Any) -> None:
    """``otelstream serve``'s options, on the command's subparsers."""
    serve = commands.add_parser(
        "serve",
        help="serve every run in a shared stream store (Redis) over HTTP",
        description="Serve the runs that instrumented processes publish to a Redis stream "
        "store, with LangGraph Platform's endpoints (langgraph-sdk's runs.join_stream, "
        "threads.join_stream, runs.get, runs.list) and the live run viewer. Runs no graphs. "
        "Exit code 2 when the store is missing, malformed or unreachable.",
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        help=f"redis://, rediss://, unix:// or redis+cluster:// URL (default ${STORE_ENV})",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    serve.add_argument("--port", type=int, default=8123)
    serve.add_argument(
        "--token", help=f"required from every client (default ${TOKEN_ENV}); needed beyond loopback"
    )
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--log-level", default="warning")
    serve.set_defaults(command=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    """Check the store and the options (one line and exit code 2 if wrong), then serve."""
    from otelstream.server.auth import is_loopback, token_from_env
    from otelstream.server.memory import MemoryHistoryStore
    from otelstream.server.store import StoreUnavailable
    from otelstream.server.stores import open_store

    def fail(message: str) -> int:
        print(f"otelstream serve: {message}", file=sys.stderr)
        return 2

    url = (args.store or os.environ.get(STORE_ENV) or "").strip()
    if not url:
        return fail(f"no stream store: give --store redis://... or set ${STORE_ENV}")
    try:
        store = open_store(url)
        if isinstance(store, MemoryHistoryStore):
            return fail("serving needs a shared store (a Redis URL), not memory")
        store.check()  # type: ignore[attr-defined]
        token = token_from_env(args.token)
    except (ValueError, StoreUnavailable) as exc:
        return fail(str(exc))
    if token is None and not is_loopback(args.host):
        return fail(f"--host {args.host} listens beyond this machine: give --token or ${TOKEN_ENV}")
    if args.workers < 1:
        return fail("--workers must be >= 1")
    try:
        import uvicorn
    except ImportError:
        return fail("serving needs the server extra: pip install 'otelstream[server,redis]'")

    os.environ[STORE_ENV] = url  # what each worker's app reads
    if token is not None:
        os.environ[TOKEN_ENV] = token
    uvicorn.run(
        "otelstream.cli.serve:app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    return 0


def app() -> Any:
    """The app of one worker: serving ``$OTELSTREAM_STREAM_STORE``, recording nothing."""
    from otelstream.server.app import create_app

    return create_app(record=False, store=os.environ[STORE_ENV])

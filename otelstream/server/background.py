"""``start()``: serve the remote-stream app from a background thread of this process.

For a script or a worker that runs graphs and has no web server of its own: uvicorn runs on
its own event loop in a daemon thread, so the process's graphs run as before. It binds to
loopback by default and refuses any other address without a token.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from otelstream.server.app import create_app
from otelstream.server.auth import TOKEN_ENV, is_loopback, token_from_env


class RunningServer:
    """A server started by :func:`start`: its ``url``, its ``app``, and ``stop()``."""

    def __init__(self, server: Any, thread: threading.Thread, app: Any, url: str) -> None:
        self._server = server
        self._thread = thread
        self.app = app
        self.url = url

    def stop(self, timeout: float = 5.0) -> None:
        """Stop recording and serving (open streams are closed; a shared store is sent
        what it still queues)."""
        if self.app.state.recorder is not None:
            self.app.state.recorder.close()
        self._server.should_exit = True
        self._thread.join(timeout)
        self.app.state.store.close(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    host: str = "127.0.0.1",
    port: int = 8123,
    *,
    token: str | None = None,
    log_level: str = "warning",
    **app_options: Any,
) -> RunningServer:
    """Serve this process's runs at ``http://host:port`` (``port=0``: any free port) from a
    background thread; ``app_options`` go to :func:`create_app`. Returns once it listens."""
    import uvicorn

    token = token_from_env(token)
    if token is None and not is_loopback(host):
        raise ValueError(
            f"otelstream.server.start(host={host!r}) listens beyond this machine: give a "
            f"token (token=... or ${TOKEN_ENV})"
        )
    app = create_app(token=token, **app_options)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="otelstream-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            if app.state.recorder is not None:
                app.state.recorder.close()
            raise RuntimeError(f"otelstream server could not listen on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(server, thread, app, f"http://{shown}:{bound[1]}")

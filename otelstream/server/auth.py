"""Who may read which runs: a bearer token for everything, an ``authorize`` hook per thread.

The token (``token=`` or ``OTELSTREAM_SERVER_TOKEN``) is accepted as ``Authorization: Bearer
<token>``, as ``X-Api-Key`` (what ``langgraph_sdk.get_client(api_key=...)`` sends), as a
``?token=`` query parameter (a browser's ``EventSource`` cannot set headers), or as the
``otelstream_token`` cookie the viewer sets once opened with ``?token=``. Without a token the
server is open: ``start()`` refuses that unless it binds to loopback only.
"""

from __future__ import annotations

import hmac
import inspect
import ipaddress
import os
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection

from otelstream.server.errors import ApiError

TOKEN_ENV = "OTELSTREAM_SERVER_TOKEN"
COOKIE = "otelstream_token"

Authorize = Callable[[HTTPConnection, str], "bool | Awaitable[bool]"]
"""``authorize(request, thread_id) -> bool`` (or an awaitable of it): may this request read
the runs of that thread?"""


def token_from_env(token: str | None) -> str | None:
    """The token given, else ``OTELSTREAM_SERVER_TOKEN``'s; ``ValueError`` for a blank one
    (a server that looks protected and is not must not start)."""
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise ValueError("the server token must not be empty")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def presented_token(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (
        request.headers.get("x-api-key")
        or request.query_params.get("token")
        or request.cookies.get(COOKIE)
    )


class Access:
    """The token check and the per-thread hook of one app."""

    def __init__(self, token: str | None, authorize: Authorize | None) -> None:
        self.token = token
        self._authorize = authorize

    def authenticate(self, request: HTTPConnection) -> None:
        if self.token is None:
            return
        given = presented_token(request)
        if given is None:
            raise ApiError(401, "Unauthorized", "a bearer token is required")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise ApiError(401, "Unauthorized", "wrong token")

    async def allowed(self, request: HTTPConnection, thread_id: str) -> bool:
        if self._authorize is None:
            return True
        verdict = self._authorize(request, thread_id)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        return bool(verdict)

    async def check_thread(self, request: HTTPConnection, thread_id: str) -> None:
        if not await self.allowed(request, thread_id):
            raise ApiError(403, "Forbidden", f"not allowed to read thread {thread_id}")

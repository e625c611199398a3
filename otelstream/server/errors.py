"""HTTP errors as JSON bodies (``{"detail": ..., "error": ...}``), never a traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from otelstream.server.store import StoreUnavailable

_logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered with ``status`` and a JSON body."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def json_error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "error": error}, status_code=status)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.error, exc.detail)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_error(exc.status_code, _REASONS.get(exc.status_code, "Error"), str(exc.detail))


async def on_store_unavailable(request: Request, exc: Exception) -> Response:
    if not _said:  # once: every later request while the store is away is a 503 too
        _said.append(True)
        _logger.warning("otelstream: serving %s: %s (answered 503)", request.url.path, exc)
    return json_error(503, "StoreUnavailable", str(exc))


_said: list[bool] = []


async def on_unexpected(request: Request, exc: Exception) -> Response:
    _logger.warning("otelstream: internal error serving %s: %r", request.url.path, exc)
    return json_error(500, "InternalError", "internal error")


_REASONS = {404: "NotFound", 405: "MethodNotAllowed"}

HANDLERS = {
    ApiError: on_api_error,
    HTTPException: on_http_error,
    StoreUnavailable: on_store_unavailable,
    Exception: on_unexpected,
}

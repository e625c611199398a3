"""The live run viewer: one static page (``viewer.html``), plain HTML and JavaScript.

It lists the process's recent runs (``GET runs``) and follows one with the browser's
``EventSource`` (``events``, ``debug`` and ``values``): the run tree grows as runs start,
tokens appear as the models stream, errors and interrupts are marked, and the final state is
shown. ``EventSource`` cannot send headers, so a page opened with ``?token=`` passes the
token on in its requests' query and also gets it as an HTTP-only cookie.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse

from otelstream.server.auth import COOKIE, Access


@cache
def _template() -> str:
    return files("otelstream.server").joinpath("viewer.html").read_text(encoding="utf-8")


def viewer_page(request: Request, access: Access) -> HTMLResponse:
    base = request.scope.get("root_path", "").rstrip("/") + "/"
    page = _template().replace("__BASE__", json.dumps(base))
    response = HTMLResponse(page, headers={"Cache-Control": "no-store"})
    token = request.query_params.get("token")
    if access.token is not None and token is not None:
        response.set_cookie(COOKIE, token, path=base, httponly=True, samesite="strict")
    return response

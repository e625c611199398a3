"""Who may read what, and bad input: tokens, the per-thread hook, CORS, the content policy,
and the HTTP status and JSON body of every refusal (never a traceback)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from graphs import CASES, long_loop
from langgraph_sdk import get_client
from server_support import run_config, served, sse_events

import otelstream
from otelstream import server
from otelstream.server.auth import TOKEN_ENV

__all__ = ["served"]

LOOP = {"count": 0, "log": []}


def one_run(thread_id: str = "t") -> str:
    run_id = uuid.uuid4()
    long_loop(2).invoke(LOOP, {"configurable": {"thread_id": thread_id}, "run_id": run_id})
    return str(run_id)


def assert_json_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error and body["detail"], body
    assert "Traceback" not in response.text


def test_refuses_to_listen_beyond_loopback_without_a_token(
    exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    for host in ("0.0.0.0", "::", "192.0.2.1", "example.com"):
        with pytest.raises(ValueError, match="token"):
            server.start(host=host, port=0)
    with pytest.raises(ValueError, match="empty"):
        server.start(port=0, token=" ")


def test_token_required_and_accepted_in_every_form(exporter: Any) -> None:
    with server.start(port=0, token="s3cret") as srv:
        run_id = one_run()
        path = f"{srv.url}/threads/t/runs/{run_id}"
        assert_json_error(httpx.get(path), 401, "Unauthorized")
        assert_json_error(
            httpx.get(path, headers={"Authorization": "Bearer nope"}), 401, "Unauthorized"
        )
        assert_json_error(
            httpx.get(f"{srv.url}/runs", params={"token": "nope"}), 401, "Unauthorized"
        )
        assert_json_error(httpx.get(f"{path}/stream"), 401, "Unauthorized")
        for bad in ({"stream_mode": "bogus"}, {"cancel_on_disconnect": "true"}):
            assert_json_error(httpx.get(f"{path}/stream", params=bad), 401, "Unauthorized")
        assert_json_error(httpx.get(f"{srv.url}/"), 401, "Unauthorized")
        for headers, params in (
            ({"Authorization": "Bearer s3cret"}, None),
            ({"X-Api-Key": "s3cret"}, None),
            ({}, {"token": "s3cret"}),
        ):
            assert httpx.get(path, headers=headers, params=params).json()["run_id"] == run_id
        # the SDK's api_key, and its headers
        for client in (
            get_client(url=srv.url, api_key="s3cret"),
            get_client(url=srv.url, api_key=None, headers={"Authorization": "Bearer s3cret"}),
        ):
            parts = asyncio.run(_join(client, "t", run_id))
            assert parts[0].event == "metadata" and parts[-1].data["event"] == "on_chain_end"
        # the viewer opened with ?token= sets a cookie that then suffices
        with httpx.Client() as browser:
            page = browser.get(f"{srv.url}/", params={"token": "s3cret"})
            assert page.status_code == 200 and "EventSource" in page.text
            assert "httponly" in page.headers["set-cookie"].lower()
            assert browser.get(f"{srv.url}/runs").status_code == 200


async def _join(client: Any, thread_id: str, run_id: str) -> list[Any]:
    return [p async for p in client.runs.join_stream(thread_id, run_id)]


def test_token_from_the_environment(exporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    with server.start(port=0) as srv:
        assert httpx.get(f"{srv.url}/runs").status_code == 401
        assert httpx.get(f"{srv.url}/runs", headers={"X-Api-Key": "from-env"}).status_code == 200


def test_authorize_hook_per_thread(exporter: Any) -> None:
    def authorize(request: Any, thread_id: str) -> bool:
        return request.headers.get("x-user") == thread_id

    with server.start(port=0, authorize=authorize) as srv:
        mine, theirs = one_run("alice"), one_run("bob")
        alice = {"X-User": "alice"}
        assert httpx.get(f"{srv.url}/threads/alice/runs/{mine}", headers=alice).status_code == 200
        for path in (
            f"/threads/bob/runs/{theirs}",
            f"/threads/bob/runs/{theirs}/stream",
            f"/runs/{theirs}",
            "/threads/bob/runs",
            "/threads/bob/stream",
        ):
            assert_json_error(httpx.get(srv.url + path, headers=alice), 403, "Forbidden")
        listed = httpx.get(f"{srv.url}/runs", headers=alice).json()
        assert [r["run_id"] for r in listed] == [mine]


def test_cors_off_unless_configured(exporter: Any) -> None:
    origin = {"Origin": "http://app.example"}
    with server.start(port=0) as srv:
        assert (
            "access-control-allow-origin"
            not in httpx.get(f"{srv.url}/runs", headers=origin).headers
        )
    with server.start(port=0, cors_origins=["http://app.example"]) as srv:
        run_id = one_run()
        response = httpx.get(f"{srv.url}/threads/t/runs/{run_id}/stream", headers=origin)
        assert response.headers["access-control-allow-origin"] == "http://app.example"
        assert "Location" in response.headers["access-control-expose-headers"]
        preflight = httpx.options(
            f"{srv.url}/runs",
            headers={
                **origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "last-event-id",
            },
        )
        assert preflight.status_code == 200


def test_bad_input_gets_the_right_status_and_a_json_body(served: server.RunningServer) -> None:
    run_id = one_run()
    base = served.url
    stream = f"{base}/threads/t/runs/{run_id}/stream"
    assert_json_error(httpx.get(f"{base}/threads/t/runs/{uuid.uuid4()}"), 404, "NotFound")
    assert_json_error(httpx.get(f"{base}/threads/other/runs/{run_id}"), 404, "NotFound")
    assert_json_error(httpx.get(f"{base}/threads/never/runs"), 404, "NotFound")
    assert_json_error(httpx.get(f"{base}/threads/t/runs/{uuid.uuid4()}/stream"), 404, "NotFound")
    assert_json_error(httpx.get(f"{base}/nowhere"), 404, "NotFound")
    assert_json_error(httpx.post(f"{base}/runs"), 405, "MethodNotAllowed")
    for bad in ("abc", "1.5", "-7", "99999999"):
        assert_json_error(
            httpx.get(stream, headers={"Last-Event-ID": bad}), 400, "InvalidLastEventId"
        )
    assert_json_error(
        httpx.get(f"{base}/threads/t/stream", headers={"Last-Event-ID": "x"}),
        400,
        "InvalidLastEventId",
    )
    for mode in ("bogus", "messages", "tasks", '["events", "nope"]', "[1]", "[oops"):
        assert_json_error(httpx.get(stream, params={"stream_mode": mode}), 422, "InvalidStreamMode")
    assert_json_error(
        httpx.get(f"{base}/threads/t/stream", params={"stream_mode": "bogus"}),
        422,
        "InvalidStreamMode",
    )
    assert_json_error(
        httpx.get(stream, params={"cancel_on_disconnect": "true"}), 422, "Unsupported"
    )
    assert_json_error(
        httpx.get(f"{base}/threads/t/runs", params={"limit": "x"}), 422, "InvalidQuery"
    )
    assert_json_error(
        httpx.get(f"{base}/threads/t/runs", params={"status": "odd"}), 422, "InvalidQuery"
    )
    # an id issued to another run is not this run's
    other = sse_events(f"{base}/threads/t/runs/{one_run()}/stream")
    assert_json_error(
        httpx.get(stream, headers={"Last-Event-ID": other[-1][0]}), 400, "InvalidLastEventId"
    )


def test_stream_headers_and_framing_as_the_platform(served: server.RunningServer) -> None:
    run_id = one_run()
    response = httpx.get(f"{served.url}/threads/t/runs/{run_id}/stream")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["location"] == f"/threads/t/runs/{run_id}/stream"
    assert response.headers["content-location"] == f"/threads/t/runs/{run_id}"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    first = response.content.split(b"\r\n\r\n")[0]
    assert (
        first == b'event: metadata\r\ndata: {"run_id":"%s","attempt":1}\r\nid: 1' % run_id.encode()
    )
    assert b"\n" not in response.content.replace(b"\r\n", b"")


def test_heartbeat_comment_while_waiting(exporter: Any) -> None:
    with (
        server.start(port=0, heartbeat=0.2) as srv,
        httpx.stream("GET", f"{srv.url}/threads/quiet/stream") as r,
    ):
        assert next(r.iter_raw()) == b": heartbeat\r\n\r\n"


@pytest.mark.parametrize("mode", ["off", "redact"])
def test_payloads_follow_the_content_policy(mode: str) -> None:
    options: dict[str, Any] = (
        {"capture_content": False}
        if mode == "off"
        else {"redact": lambda key, text: text.replace("add", "***")}
    )
    from opentelemetry.sdk.trace import TracerProvider

    otelstream.instrument(tracer_provider=TracerProvider(), **options)
    try:
        with server.start(port=0) as srv:
            case = CASES["agent"]
            run_id = uuid.uuid4()
            case.build().invoke(case.input, run_config(case, "policy", run_id))
            failing = CASES["failing"]
            failed_id = uuid.uuid4()
            with pytest.raises(failing.raises):
                failing.build().invoke(failing.input, run_config(failing, "policy", failed_id))
            items = sse_events(f"{srv.url}/threads/policy/runs/{run_id}/stream")
            error = sse_events(f"{srv.url}/threads/policy/runs/{failed_id}/stream")[-1]
            record = httpx.get(f"{srv.url}/runs/{failed_id}").json()
    finally:
        otelstream.uninstrument()
    text = str(items)
    leaks = [item for item in items if "add 1+2 and 3+4" in str(item)]
    assert not leaks, leaks[0]
    if mode == "off":
        assert "the sums are" not in text
    events = [data for _, event, data in items if event == "events"]
    assert {e["event"] for e in events} >= {"on_chat_model_stream", "on_tool_start", "on_chain_end"}
    assert events[0]["name"] == "LangGraph" and events[0]["metadata"]["thread_id"] == "policy"
    if mode == "off":
        assert all(v == "[redacted]" for e in events for v in e["data"].values())
        assert error[2] == {"error": "NodeFailed", "message": "[redacted]"}
        assert record["error"]["message"] == "[redacted]"
    else:
        assert "*** 1+2 and 3+4" in text  # redacted text, still JSON
        starts = [e for e in events if e["event"] == "on_chain_start"]
        assert starts[0]["data"]["input"]["messages"][0]["content"] == "*** 1+2 and 3+4"
        assert error[2] == {"error": "NodeFailed", "message": "node failed on purpose"}


def test_a_deeply_nested_payload_does_not_crash_the_process() -> None:
    """A state holding tuples nested thousands deep (orjson, the Platform's encoder,
    overflows the C stack on them) is put on the wire as bounded JSON, in a fresh process so
    that a crash would show as one."""
    import subprocess
    import sys

    code = (
        "import json\n"
        "from otelstream.server.wire import dumpb\n"
        "from otelstream.serialization import dumps\n"
        "deep = ()\n"
        "for _ in range(5000): deep = (deep,)\n"
        "for value in (deep, {'state': deep}, [float('nan'), deep]):\n"
        "    json.loads(dumpb(value)); json.loads(dumps(value))\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("a\x00b", "ab"),  # NULs are dropped, as the Platform drops them
        ("\\u0000", "\\u0000"),  # a backslash and "u0000" are text, kept
        ({"path": "C:\\u0000x\x00"}, {"path": "C:\\u0000x"}),
        (["\\\x00", "\\\\u0000"], ["\\", "\\\\u0000"]),
    ],
)
def test_wire_json_drops_nul_characters_only(value: Any, sent: Any) -> None:
    from otelstream.server.wire import dumpb

    assert json.loads(dumpb(value)) == sent

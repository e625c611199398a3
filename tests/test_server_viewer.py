"""The live run viewer in a real browser: Debian's headless Chromium, driven by Playwright
(the Python package; its own browser downloads are never used), on a real uvicorn server.

Set ``OTELSTREAM_VIEWER_SCREENSHOT=path.png`` to keep the screenshot (the README's comes from
here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import cache_dir, file_lock
from graphs import CASES, FakeChatModel, add, answer, ask_tool
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from server_support import Background, run_config, served, wait_for

from otelstream import server

__all__ = ["served"]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def ensure_chromium() -> str:
    """Debian's chromium (and a font), installed with apt-get the first time."""
    if shutil.which("chromium"):
        return CHROMIUM
    with file_lock(cache_dir() / "chromium-apt.lock"):
        if not shutil.which("chromium"):
            install = [
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "chromium",
                "fonts-dejavu-core",
            ]
            if subprocess.run(install, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
                subprocess.run(install, capture_output=True, check=True, timeout=1200)
    return CHROMIUM


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=executable, args=ARGS, viewport={"width": 1000, "height": 640}
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


class SlowModel(FakeChatModel):
    """Streams a word every ``delay`` seconds, so a page can watch it happen."""

    delay: float = 0.25

    def _stream(self, *args: Any, **kwargs: Any) -> Any:
        for chunk in super()._stream(*args, **kwargs):
            time.sleep(self.delay)
            yield chunk


def slow_agent() -> Any:
    model = SlowModel(
        responses=[
            ask_tool("add", "call_1", a=3, b=4),
            answer("three plus four makes seven, says the tool, and the tool is never wrong"),
        ]
    )

    def call_model(s: MessagesState) -> dict[str, Any]:
        return {"messages": [model.bind_tools([add]).invoke(s["messages"])]}

    def route(s: MessagesState) -> str:
        return "tools" if getattr(s["messages"][-1], "tool_calls", None) else END

    g = StateGraph(MessagesState)
    g.add_node("model", call_model)
    g.add_node("tools", ToolNode([add]))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", route, ["tools", END])
    g.add_edge("tools", "model")
    return g.compile(name="assistant")


@pytest.mark.timeout(180)
def test_viewer_shows_a_run_live(served: server.RunningServer, page: Any, tmp_path: Path) -> None:
    page.goto(served.url + "/")
    page.wait_for_selector("#title")
    run_id = uuid.uuid4()
    config = {"configurable": {"thread_id": "viewer"}, "run_id": run_id}
    runner = Background(
        lambda: slow_agent().invoke({"messages": [HumanMessage("what is 3+4?")]}, config)
    )

    # the page picks the new run up and shows tokens while the model still streams
    page.wait_for_function(
        "(document.querySelector('.tokens') || {textContent: ''}).textContent.length > 0",
        timeout=30_000,
    )
    partial = page.inner_text(".tokens")
    assert runner.done_at is None, "the page must show tokens before the run ends"
    assert page.get_attribute("#title", "data-status") == "running"

    runner.join()
    page.wait_for_function(
        "document.querySelector('#title').dataset.status === 'success'", timeout=30_000
    )
    tokens = page.locator(".tokens").all_inner_texts()
    assert tokens[-1] == "three plus four makes seven, says the tool, and the tool is never wrong"
    assert partial and tokens[-1].startswith(partial)
    tree = page.inner_text("#tree")
    for name in ("assistant", "model", "tools", "add", "SlowModel", "route"):
        assert name in tree, name
    assert page.locator(".node.running").count() == 0
    assert page.locator(".node.done").count() >= 8
    state = page.inner_text("#state")
    assert "three plus four makes seven" in state and '"tool_call_id": "call_1"' in state
    assert page.inner_text(".run.selected").startswith("assistant")
    page.wait_for_function(
        "document.querySelector('.run.selected .status').textContent === 'success'"
    )
    shot = Path(os.environ.get("OTELSTREAM_VIEWER_SCREENSHOT") or tmp_path / "viewer.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["failing", "interrupt"])
def test_viewer_marks_errors_and_interrupts(
    name: str, served: server.RunningServer, page: Any
) -> None:
    case = CASES[name]
    run_id = uuid.uuid4()
    try:
        case.build().invoke(case.input, run_config(case, f"viewer-{name}", run_id))
    except Exception as exc:
        assert type(exc) is case.raises
    page.goto(f"{served.url}/?run={run_id}")
    status = "error" if name == "failing" else "interrupted"
    page.wait_for_function(
        f"document.querySelector('#title').dataset.status === '{status}'", timeout=30_000
    )
    if name == "failing":
        assert page.inner_text("#error") == "NodeFailed: node failed on purpose"
        assert page.locator(".node.error .label").first.inner_text().startswith("LangGraph")
        assert "boom" in page.inner_text("#tree")
    else:
        assert "approve?" in page.inner_text("#interrupt")
        assert page.locator(".node.interrupted").count() >= 1


@pytest.mark.timeout(120)
def test_viewer_with_a_token(exporter: Any, page: Any) -> None:
    with server.start(port=0, token="view-token") as srv:
        run_id = uuid.uuid4()
        case = CASES["linear"]
        case.build().invoke(case.input, run_config(case, "tok", run_id))
        response = page.goto(srv.url + "/")
        assert response.status == 401
        page.goto(f"{srv.url}/?token=view-token&run={run_id}")
        page.wait_for_function(
            "document.querySelector('#title').dataset.status === 'success'", timeout=30_000
        )
        assert "a" in page.inner_text("#tree")
        wait_for(lambda: page.locator(".run").count() == 1)

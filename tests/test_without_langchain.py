"""otelstream where neither langchain-core nor LangGraph is installed.

An instrumentation imports the instrumented library only when it instruments: ``import
otelstream``, ``otelstream --help``, ``otelstream replay FILE``, the ``otelstream_file``
exporter and ``opentelemetry-instrument`` must all work in a virtualenv holding only
otelstream's own dependencies. The virtualenv is real (``pip install -e`` of this checkout,
no extras), built once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from graphs import CORPUS
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from test_parity import run_subscribed

import otelstream
from otelstream.export.otlp_file import OtlpJsonFileSpanExporter
from otelstream.streams.replay import replay

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` directory of a virtualenv with otelstream and its dependencies only."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    done = subprocess.run(
        [*pip, "install", "-q", "-e", str(ROOT)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-4000:]
    listed = subprocess.run([*pip, "list"], capture_output=True, text=True, check=True).stdout
    assert "langchain" not in listed and "langgraph" not in listed, listed
    return venv / "bin"


def run(bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSTREAM_"))}
    clean["PATH"] = f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}"
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=120, env={**clean, **env}
    )


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Path]:
    """An OTLP/JSON file holding the agent corpus run, recorded here (with LangChain)."""
    path = tmp_path / "otlp.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFileSpanExporter(path)))
    otelstream.instrument(tracer_provider=provider)
    try:
        run_subscribed(next(c for c in CORPUS if c.name == "agent"), "bare-replay")
    finally:
        otelstream.uninstrument()
    yield path


def test_import_and_help(bare: Path) -> None:
    done = run(bare, "python", "-c", "import otelstream; print(otelstream.__version__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == otelstream.__version__
    done = run(bare, "otelstream", "--help")
    assert done.returncode == 0, done.stderr
    assert "replay" in done.stdout and "demo" in done.stdout


def test_commands_that_need_langgraph_say_so(bare: Path) -> None:
    done = run(bare, "otelstream", "demo")
    assert done.returncode == 1
    assert "needs LangGraph and langchain-core" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay(bare: Path, recorded: Path) -> None:
    """The replay of a run recorded with LangChain, read where LangChain is absent, is the
    same stream as the replay here."""
    done = run(bare, "otelstream", "replay", str(recorded))
    assert done.returncode == 0, done.stderr
    replayed = [json.loads(line) for line in done.stdout.splitlines()]
    assert replayed == replay(recorded)
    assert [e["event"] for e in replayed][:2] == ["on_chain_start", "on_chain_start"]


def test_instrument_is_a_no_op(bare: Path) -> None:
    """``instrument()`` without LangChain instruments nothing (BaseInstrumentor's dependency
    check) and raises nothing; asking for a live stream is a clear error."""
    code = textwrap.dedent(
        """
        import otelstream
        otelstream.instrument()
        print(otelstream.OtelStreamInstrumentor().is_instrumented_by_opentelemetry)
        try:
            otelstream.subscribe(thread_id="t")
        except RuntimeError as exc:
            print("error:", exc)
        """
    )
    done = run(bare, "python", "-c", code, OTELSTREAM_FILE="/dev/null")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "False",
        "error: otelstream could not instrument LangChain (see the log)",
    ]


def test_zero_code_with_the_file_exporter(bare: Path, tmp_path: Path) -> None:
    """``opentelemetry-instrument`` loads otelstream's entry points (instrumentor and
    exporters) without LangChain: the app's own spans reach the OTLP/JSON file."""
    app = tmp_path / "app.py"
    app.write_text(
        "from opentelemetry import trace\n"
        "with trace.get_tracer('app').start_as_current_span('work'):\n"
        "    print('ran')\n"
    )
    out = tmp_path / "zero.jsonl"
    done = run(
        bare,
        "opentelemetry-instrument",
        "python",
        str(app),
        OTEL_TRACES_EXPORTER="otelstream_file",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTELSTREAM_FILE=str(out),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran"
    assert "Traceback" not in done.stderr
    names = [
        span["name"]
        for line in out.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    assert names == ["work"]

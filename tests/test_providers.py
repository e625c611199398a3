"""``configure()`` and the embedded default: providers from ``OTEL_*`` variables, an existing
provider respected, and the OTLP/JSON file (read back with OpenTelemetry's own protobuf
types, so it is valid OTLP/JSON).

Global providers can be set once per process, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_receiver import OtlpReceiver

TESTS = Path(__file__).parent

APP = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from opentelemetry import metrics, trace
    import otelstream
    from graphs import CASES

    {before}
    instrumentor = otelstream.instrument()
    setup = otelstream.configure()
    for name in ("linear", "agent"):
        case = CASES[name]
        case.build().invoke(case.input, case.config("t-" + name))
    trace.get_tracer_provider().force_flush()
    metrics.get_meter_provider().force_flush()
    print("SETUP " + json.dumps({{"traces": setup.traces, "metrics": setup.metrics,
          "file": str(setup.file) if setup.file else None,
          "tracer_provider": type(trace.get_tracer_provider()).__name__}}))
    {after}
    """
)


def run_app(
    tmp_path: Path, before: str = "", after: str = "", **env: str
) -> tuple[dict[str, Any], str]:
    script = tmp_path / "app.py"
    script.write_text(APP.format(tests=str(TESTS), before=before, after=after))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSTREAM_"))}
    clean.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), **env)
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("SETUP ")]
    return json.loads(line.removeprefix("SETUP ")), proc.stderr


def read_otlp_json(path: Path) -> tuple[list[Any], list[Any]]:
    """Every line parsed into OTLP protobuf requests (ids converted from hex)."""
    traces, metrics = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        if "resourceSpans" in obj:
            traces.append(ParseDict(_base64_ids(obj), ExportTraceServiceRequest()))
        else:
            assert "resourceMetrics" in obj, sorted(obj)
            metrics.append(ParseDict(_base64_ids(obj), ExportMetricsServiceRequest()))
    return traces, metrics


def _base64_ids(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("traceId", "spanId", "parentSpanId"):
                assert len(v) in (16, 32) and int(v, 16) >= 0, f"{k} is not hex: {v!r}"
                out[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = _base64_ids(v)
        return out
    if isinstance(value, list):
        return [_base64_ids(v) for v in value]
    return value


def test_embedded_default_writes_otlp_json(tmp_path: Path) -> None:
    info, stderr = run_app(tmp_path, OTEL_SERVICE_NAME="default-file-test")
    path = tmp_path / "state" / "otelstream" / "otlp.jsonl"
    assert info["traces"] == info["metrics"] == ["otelstream_file"]
    assert info["file"] == str(path)
    assert stderr.count(str(path)) == 1, stderr  # the path is told once
    traces, metrics = read_otlp_json(path)
    spans = [
        span
        for request in traces
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    names = {s.name for s in spans}
    assert {"invoke_workflow LangGraph", "invoke_agent LangGraph", "chat fake-model-1"} <= names
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == 2 and all(len(s.trace_id) == 16 for s in spans)
    assert all(s.parent_span_id in by_id for s in spans if s.parent_span_id)
    resource = traces[0].resource_spans[0].resource
    attrs = {a.key: a.value.string_value for a in resource.attributes}
    assert attrs["service.name"] == "default-file-test"
    metric_names = {
        m.name
        for request in metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {"langgraph.run.duration", "langgraph.node.duration"} <= metric_names
    assert "gen_ai.client.token.usage" in metric_names


def test_file_path_from_otelstream_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "run.jsonl"
    info, _ = run_app(tmp_path, OTELSTREAM_FILE=str(target))
    assert info["file"] == str(target)
    traces, _ = read_otlp_json(target)
    assert traces


def test_existing_provider_is_kept(tmp_path: Path) -> None:
    before = textwrap.dedent(
        """
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        memory = InMemorySpanExporter()
        mine = TracerProvider()
        mine.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(mine)
        import atexit
        atexit.register(lambda: print("MINE", len(memory.get_finished_spans()), file=sys.stderr))
        """
    )
    script_info, stderr = run_app(tmp_path, before=before)
    assert script_info["traces"] == "existing"
    assert script_info["tracer_provider"] == "TracerProvider"
    # no file: traces go to the app's provider; metrics had no provider, so they use the file
    traces, metrics = read_otlp_json(tmp_path / "state" / "otelstream" / "otlp.jsonl")
    assert traces == [] and metrics
    [mine] = [line for line in stderr.splitlines() if line.startswith("MINE ")]
    assert int(mine.split()[1]) >= 10  # the two runs' spans, in the app's own exporter


@pytest.mark.parametrize(
    ("protocol", "label"), [(None, "otlp grpc"), ("http/protobuf", "otlp http/protobuf")]
)
def test_otlp_endpoint_selects_the_otlp_exporter(
    tmp_path: Path, protocol: str | None, label: str
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    if protocol:
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    env["OTEL_BSP_EXPORT_TIMEOUT"] = "1000"
    info, _ = run_app(tmp_path, **env)
    assert info["traces"] == [label] and info["metrics"] == [label]
    assert info["file"] is None
    assert not (tmp_path / "state" / "otelstream" / "otlp.jsonl").exists()


BAD_SETTINGS: dict[str, tuple[dict[str, str], list[str]]] = {
    # name: (environment, what the one-line message must say)
    "protocol typo, no endpoint": (
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "htttp"},
        ["OTEL_EXPORTER_OTLP_PROTOCOL='htttp'", "accepted: grpc, http/protobuf"],
    ),
    "http/json": (
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
        },
        [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json'",
            "OpenTelemetry Python has no exporter for it",
            "accepted: grpc, http/protobuf",
        ],
    ),
    "metrics protocol with the file": (
        {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "carrier-pigeon"},
        ["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL='carrier-pigeon'", "accepted: grpc"],
    ),
    "traces exporter": (
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        [
            "OTEL_TRACES_EXPORTER='jaeger'",
            "no traces exporter named 'jaeger' is installed",
            "console, none, otelstream_file, otlp",
        ],
    ),
    "none with others": (
        {"OTEL_METRICS_EXPORTER": "otlp,none"},
        ["OTEL_METRICS_EXPORTER='otlp,none'", "'none' stands alone"],
    ),
    "file size": (
        {"OTELSTREAM_FILE_MAX_BYTES": "64MiB"},
        ["OTELSTREAM_FILE_MAX_BYTES='64MiB'", "accepted: a whole number of bytes"],
    ),
}

ERRORS_APP = textwrap.dedent(
    """
    import json, os, sys
    from opentelemetry import metrics, trace
    import otelstream

    results = {}
    for name, env in json.loads(sys.argv[1]).items():
        os.environ.update(env)
        for call in (otelstream.configure, otelstream.instrument):
            try:
                call()
                results[name + " " + call.__name__] = None
            except otelstream.ConfigurationError as exc:
                results[name + " " + call.__name__] = [
                    type(exc).__name__, isinstance(exc, ValueError), str(exc)]
        for key in env:
            del os.environ[key]
    results["providers"] = [type(trace.get_tracer_provider()).__name__,
                            type(metrics.get_meter_provider()).__name__]
    print("ERRORS " + json.dumps(results))
    """
)


def test_bad_settings_are_one_line_configuration_errors(tmp_path: Path) -> None:
    """configure() and instrument() raise ``otelstream.ConfigurationError`` (a ValueError)
    naming the variable, its value and the accepted values, before setting anything up."""
    script = tmp_path / "errors.py"
    script.write_text(ERRORS_APP)
    cases = {name: env for name, (env, _) in BAD_SETTINGS.items()}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSTREAM_"))}
    clean.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(cases)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("ERRORS ")]
    results = json.loads(line.removeprefix("ERRORS "))
    for name, (_, wanted) in BAD_SETTINGS.items():
        for call in ("configure", "instrument"):
            result = results[f"{name} {call}"]
            assert result is not None, f"{name}: {call}() accepted it"
            kind, is_value_error, message = result
            assert kind == "ConfigurationError" and is_value_error, result
            assert "\n" not in message, message
            for part in wanted:
                assert part in message, (name, message)
    # nothing was set up by the failed calls
    assert results["providers"] == ["ProxyTracerProvider", "_ProxyMeterProvider"]
    assert not (tmp_path / "state").exists()


def test_metrics_endpoint_that_rejects_metrics_is_told_once_and_stopped(tmp_path: Path) -> None:
    """A traces-only OTLP/HTTP endpoint (404 on /v1/metrics): one warning naming the fix,
    then no more metrics requests, while traces keep arriving."""
    with OtlpReceiver() as receiver:
        info, stderr = run_app(
            tmp_path,
            before="import time",
            after="time.sleep(1.5)",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_METRIC_EXPORT_INTERVAL="100",
        )
        assert info["metrics"] == ["otlp http/protobuf"]
        told = [line for line in stderr.splitlines() if "does not accept OTLP metrics" in line]
        assert len(told) == 1, stderr
        assert f"{receiver.endpoint}/v1/metrics" in told[0] and "(HTTP 404)" in told[0]
        assert "OTEL_METRICS_EXPORTER=none" in told[0]
        assert "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" in told[0]
        assert "Failed to export" not in stderr, stderr
        # about 15 export intervals (and the flush at exit), one request
        assert receiver.rejected == ["/v1/metrics"]
        names = {span.name for span in receiver.spans}
        assert {"invoke_workflow LangGraph", "invoke_agent LangGraph"} <= names


def test_opentelemetry_instrument_can_use_the_file_exporter(tmp_path: Path) -> None:
    """``otelstream_file`` is registered as an exporter entry point for zero-code setups."""
    target = tmp_path / "zc.jsonl"
    script = tmp_path / "zc.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(TESTS)!r})
            from graphs import CASES
            case = CASES["linear"]
            case.build().invoke(case.input, case.config())
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSTREAM_"))}
    env.update(
        OTEL_TRACES_EXPORTER="otelstream_file",
        OTEL_METRICS_EXPORTER="otelstream_file",
        OTEL_LOGS_EXPORTER="none",
        OTELSTREAM_FILE=str(target),
    )
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    proc = subprocess.run(
        [str(instrument), sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    traces, metrics = read_otlp_json(target)
    names = {
        span.name
        for request in traces
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert "invoke_workflow LangGraph" in names and "node a" in names
    assert metrics


def test_an_exporter_that_fails_to_start_leaves_the_sdk_as_it_was(tmp_path: Path) -> None:
    """A third-party traces exporter (an entry point, as `OTEL_TRACES_EXPORTER` names them)
    whose constructor raises: configure() raises that error, and neither provider is set, so
    the app can still set up its own."""
    site = tmp_path / "site"
    dist = site / "broken_exporter-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-exporter\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[opentelemetry_traces_exporter]\nbroken = broken_exporter:Broken\n"
    )
    (site / "broken_exporter.py").write_text(
        "class Broken:\n    def __init__(self):\n        raise RuntimeError('no credentials')\n"
    )
    script = tmp_path / "app.py"
    script.write_text(
        "import otelstream\n"
        "from opentelemetry import metrics, trace\n"
        "try:\n"
        "    otelstream.configure()\n"
        "except RuntimeError as exc:\n"
        "    print('RAISED', exc)\n"
        "print('PROVIDERS', type(trace.get_tracer_provider()).__name__,"
        " type(metrics.get_meter_provider()).__name__)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSTREAM_"))}
    clean.update(
        HOME=str(tmp_path),
        XDG_STATE_HOME=str(tmp_path / "state"),
        PYTHONPATH=str(site),
        OTEL_TRACES_EXPORTER="broken",
    )
    proc = subprocess.run(
        [sys.executable, str(script)], env=clean, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "RAISED no credentials" in proc.stdout
    assert "PROVIDERS ProxyTracerProvider _ProxyMeterProvider" in proc.stdout

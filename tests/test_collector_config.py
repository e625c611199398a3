"""The OpenTelemetry Collector configurations and the compose stack in ``collector-config/``.

There is no usable ``otelcol-contrib`` binary here (backends.md section 1), so:

- a structural checker (below) does what ``otelcol-contrib validate`` does for structure:
  known top-level keys and component types (of the contrib distribution), every pipeline
  reference defined, connectors wired, components used with signals they support, processor
  order, well-formed ``${env:NAME:-default}`` references; it is tested on broken configs too;
- each trace exporter is proven to accept real OTLP: its endpoint variables are pointed at a
  real backend (Arize Phoenix, from ``tests/backends.py``) and real otelstream spans are sent
  through the matching OTLP exporter (gRPC or HTTP, TLS, compression, headers as configured)
  and read back intact;
- the tail-sampling policies are evaluated on real otelstream traces (failed, interrupted,
  resumed, slow, plain runs);
- the compose file names the ports and files that exist;
- if ``otelcol-contrib`` is on PATH, ``otelcol-contrib validate`` runs on each config.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
import yaml
from backends import Phoenix, compare_spans
from conftest import memory_provider
from graphs import CASES, sequence
from langgraph.types import Command
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from typing_extensions import TypedDict

import otelstream

pytest_plugins = ["backends"]

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "collector-config"
COLLECTOR_CONFIGS = ["agent.yaml", "gateway-loadbalancer.yaml", "gateway-sampler.yaml"]
COMPOSE = CONFIG_DIR / "compose.yaml"

# --- what otelcol-contrib knows ---------------------------------------------------------------
ALL = frozenset({"traces", "metrics", "logs"})


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: component types of the otelcol-contrib distribution (manifest of v0.136), by kind
KNOWN: dict[str, frozenset[str]] = {
    "receivers": words(
        "otlp nop prometheus prometheus_simple prometheusremotewrite jaeger zipkin kafka "
        "hostmetrics filelog journald syslog tcplog udplog k8s_cluster k8s_events k8sobjects "
        "kubeletstats docker_stats httpcheck statsd fluentforward influxdb carbon collectd "
        "otlpjsonfile otelarrow receiver_creator redis postgresql mysql mongodb elasticsearch "
        "nginx apache rabbitmq sqlquery splunk_hec signalfx skywalking awsxray datadog "
        "googlecloudpubsub azureeventhub awsfirehose webhookevent windowseventlog"
    ),
    "processors": words(
        "batch memory_limiter attributes resource resourcedetection filter transform "
        "tail_sampling probabilistic_sampler groupbytrace groupbyattrs k8sattributes span "
        "cumulativetodelta deltatocumulative deltatorate metricstransform metricsgeneration "
        "metricstarttime redaction interval logdedup remotetap schema geoip "
        "isolationforest"
    ),
    "exporters": words(
        "otlp otlphttp debug nop prometheus prometheusremotewrite loadbalancing file kafka "
        "zipkin otelarrow clickhouse elasticsearch opensearch datadog awsxray awsemf "
        "googlecloud googlemanagedprometheus azuremonitor splunk_hec signalfx sapm "
        "influxdb carbon pulsar rabbitmq sentry syslog"
    ),
    "connectors": words(
        "forward count exceptions failover roundrobin routing servicegraph spanmetrics sum "
        "signaltometrics otlpjson datadog grafanacloud"
    ),
    "extensions": words(
        "health_check healthcheckv2 pprof zpages basicauth bearertokenauth headers_setter "
        "oauth2client oidc file_storage db_storage opamp sigv4auth k8s_observer "
        "docker_observer host_observer jaegerremotesampling"
    ),
}
#: signals a component supports, where not all three
SIGNALS: dict[tuple[str, str], frozenset[str]] = {
    ("receivers", "prometheus"): frozenset({"metrics"}),
    ("receivers", "hostmetrics"): frozenset({"metrics"}),
    ("receivers", "jaeger"): frozenset({"traces"}),
    ("receivers", "zipkin"): frozenset({"traces"}),
    ("receivers", "filelog"): frozenset({"logs"}),
    ("processors", "tail_sampling"): frozenset({"traces"}),
    ("processors", "groupbytrace"): frozenset({"traces"}),
    ("processors", "probabilistic_sampler"): frozenset({"traces", "logs"}),
    ("processors", "span"): frozenset({"traces"}),
    ("processors", "cumulativetodelta"): frozenset({"metrics"}),
    ("processors", "deltatocumulative"): frozenset({"metrics"}),
    ("processors", "metricstransform"): frozenset({"metrics"}),
    ("exporters", "prometheus"): frozenset({"metrics"}),
    ("exporters", "prometheusremotewrite"): frozenset({"metrics"}),
    ("exporters", "zipkin"): frozenset({"traces"}),
}
#: connector type -> the (exporting pipeline signal, receiving pipeline signal) pairs it joins
SAME = frozenset((s, s) for s in ALL)
TO_METRICS = frozenset((s, "metrics") for s in ALL)
CONNECTOR_SIGNALS: dict[str, frozenset[tuple[str, str]]] = {
    "forward": SAME,
    "routing": SAME,
    "failover": SAME,
    "roundrobin": SAME,
    "count": TO_METRICS,
    "sum": TO_METRICS,
    "signaltometrics": TO_METRICS,
    "spanmetrics": frozenset({("traces", "metrics")}),
    "servicegraph": frozenset({("traces", "metrics")}),
    "exceptions": frozenset({("traces", "metrics"), ("traces", "logs")}),
}
TOP_LEVEL = {"receivers", "processors", "exporters", "connectors", "extensions", "service"}
TOP_LEVEL_SERVICE = {"extensions", "pipelines", "telemetry"}
ENV_REF = re.compile(r"\$\{(?P<body>[^}]*)\}")
ENV_BODY = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?$")
BARE_ENV = re.compile(r"(?<!\$)\$(?!\{)(?!\$)[A-Za-z_]")


# --- the structural checker --------------------------------------------------------------------
def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a YAML document (keys and values), with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, str(key)
            yield from strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def env_errors(doc: Any) -> list[str]:
    """Malformed environment references: only ``${env:NAME}`` and ``${env:NAME:-default}``
    expand (``$$`` escapes a dollar); bare ``$NAME`` and ``${NAME}`` are gone from otelcol."""
    errors = []
    for where, text in strings(doc):
        unescaped = text.replace("$$", "")
        for match in ENV_REF.finditer(unescaped):
            if not ENV_BODY.match(match["body"]):
                errors.append(
                    f"{where}: {match[0]!r} is not ${{env:NAME}} / ${{env:NAME:-default}}"
                )
        if BARE_ENV.search(ENV_REF.sub("", unescaped)):
            errors.append(f"{where}: bare $NAME in {text!r}: write ${{env:NAME}}")
        if unescaped.count("${") != len(ENV_REF.findall(unescaped)):
            errors.append(f"{where}: unclosed ${{ in {text!r}")
    return errors


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def check_config(doc: Any) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` for a parsed collector config."""
    errors: list[str] = []
    warnings: list[str] = []
    if not isinstance(doc, dict):
        return ["the config is not a mapping"], []
    errors += [f"unknown top-level key {key!r}" for key in doc if key not in TOP_LEVEL]
    errors += env_errors(doc)
    defined: dict[str, set[str]] = {}
    for kind, known in KNOWN.items():
        section = doc.get(kind) or {}
        if not isinstance(section, dict):
            errors.append(f"{kind} is not a mapping")
            continue
        defined[kind] = set(section)
        for component_id in section:
            if not re.fullmatch(r"[a-z0-9_]+(/[^/\s]+)?", str(component_id)):
                errors.append(f"{kind}: bad component id {component_id!r}")
            elif component_type(component_id) not in known:
                errors.append(f"{kind}: unknown type {component_type(component_id)!r}")
    service = doc.get("service")
    if not isinstance(service, dict):
        return [*errors, "no service section"], warnings
    errors += [f"unknown service key {k!r}" for k in service if k not in TOP_LEVEL_SERVICE]
    for extension in service.get("extensions") or []:
        if extension not in defined["extensions"]:
            errors.append(f"service.extensions: {extension!r} is not defined under extensions")
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        errors.append("no pipelines")
    used: dict[str, set[str]] = {kind: set() for kind in KNOWN}
    connector_ends: dict[str, dict[str, set[str]]] = {}
    for pipeline_id, pipeline in pipelines.items():
        match = re.fullmatch(r"(traces|metrics|logs)(/[^/\s]+)?", str(pipeline_id))
        if not match:
            errors.append(f"pipeline id {pipeline_id!r} is not traces|metrics|logs[/name]")
            continue
        signal = match[1]
        pipeline = pipeline or {}
        errors += [
            f"pipeline {pipeline_id}: unknown key {k!r}"
            for k in pipeline
            if k not in ("receivers", "processors", "exporters")
        ]
        for role, kind in (("receivers", "receivers"), ("processors", "processors")):
            errors += check_refs(pipeline_id, pipeline, role, kind, defined, signal, used)
        errors += check_refs(pipeline_id, pipeline, "exporters", "exporters", defined, signal, used)
        for role in ("receivers", "exporters"):
            if not pipeline.get(role):
                errors.append(f"pipeline {pipeline_id}: no {role}")
            for ref in pipeline.get(role) or []:
                if ref in defined["connectors"]:
                    end = "exporter" if role == "exporters" else "receiver"
                    connector_ends.setdefault(ref, {}).setdefault(end, set()).add(signal)
        processors = [component_type(p) for p in pipeline.get("processors") or []]
        if "memory_limiter" in processors and processors[0] != "memory_limiter":
            errors.append(f"pipeline {pipeline_id}: memory_limiter must be the first processor")
        if {"tail_sampling", "batch"} <= set(processors) and processors.index(
            "batch"
        ) < processors.index("tail_sampling"):
            errors.append(f"pipeline {pipeline_id}: batch before tail_sampling")
    for connector in defined["connectors"]:
        ends = connector_ends.get(connector, {})
        if not ends.get("exporter") or not ends.get("receiver"):
            errors.append(
                f"connector {connector!r} must be an exporter in one pipeline and a receiver "
                "in another"
            )
            continue
        supported = CONNECTOR_SIGNALS.get(component_type(connector))
        if supported is not None:
            pairs = {(a, b) for a in ends["exporter"] for b in ends["receiver"]}
            if not pairs & supported:
                errors.append(f"connector {connector!r} cannot join {sorted(pairs)}")
    for kind in ("receivers", "processors", "exporters", "connectors"):
        for unused in sorted(defined[kind] - used[kind]):
            warnings.append(f"{kind}: {unused!r} is defined but in no pipeline")
    return errors, warnings


def check_refs(
    pipeline_id: str,
    pipeline: Mapping[str, Any],
    role: str,
    kind: str,
    defined: Mapping[str, set[str]],
    signal: str,
    used: dict[str, set[str]],
) -> list[str]:
    errors = []
    refs = pipeline.get(role) or []
    if len(refs) != len(set(refs)):
        errors.append(f"pipeline {pipeline_id}: duplicate {role}")
    can_be_connector = role in ("receivers", "exporters")
    for ref in refs:
        if ref in defined[kind]:
            used[kind].add(ref)
            supported = SIGNALS.get((kind, component_type(ref)), ALL)
            if signal not in supported:
                errors.append(f"pipeline {pipeline_id}: {kind[:-1]} {ref!r} has no {signal}")
        elif can_be_connector and ref in defined["connectors"]:
            used["connectors"].add(ref)
        else:
            errors.append(f"pipeline {pipeline_id}: {kind[:-1]} {ref!r} is not defined")
    return errors


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """``node`` with ``${env:...}`` expanded as the collector does: a value that is one whole
    reference takes the YAML type of what it expands to, embedded ones are spliced in."""

    def value_of(match: re.Match[str]) -> str:
        body = ENV_BODY.match(match["body"])
        assert body, match[0]
        if body["name"] in env:
            return env[body["name"]]
        return body["default"] if body["default"] is not None else ""

    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, env) for value in node]
    if isinstance(node, str):
        whole = ENV_REF.fullmatch(node)
        if whole:
            return yaml.safe_load(value_of(whole)) if value_of(whole) else None
        return ENV_REF.sub(value_of, node)
    return node


def load_config(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CONFIG_DIR / name).read_text()))


# --- structure ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_config_structure(name: str) -> None:
    errors, warnings = check_config(load_config(name))
    assert not errors, "\n".join(errors)
    assert not warnings, "\n".join(warnings)


def test_every_yaml_file_is_accounted_for() -> None:
    """Each YAML file under collector-config/ is a collector config or used by compose.yaml."""
    compose_text = COMPOSE.read_text()
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        relative = path.relative_to(CONFIG_DIR)
        if path == COMPOSE or relative.name in COLLECTOR_CONFIGS:
            continue
        mounted = str(relative) in compose_text or str(relative.parent) in compose_text
        assert mounted, f"{relative} is neither a collector config nor mounted by compose.yaml"


BROKEN = """
receivers:
  otlp:
    protocols: {grpc: {endpoint: "${env:GRPC:-0.0.0.0:4317}"}}
  prometheus: {}
processors:
  batch: {}
  memory_limiter: {check_interval: 1s, limit_percentage: 80}
  bogus_processor: {}
exporters:
  otlp: {endpoint: "${JAEGER}"}
  prometheus: {endpoint: "$PROM_ENDPOINT"}
connectors:
  spanmetrics: {}
  forward/dangling: {}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch, memory_limiter, batchh]
      exporters: [otlp, otlp/tempo, spanmetrics, prometheus]
    metrics:
      receivers: [spanmetrics, prometheus]
      exporters: [prometheus]
    spans:
      receivers: [otlp]
      exporters: [otlp]
"""


def test_checker_reports_broken_configs() -> None:
    errors, warnings = check_config(yaml.safe_load(BROKEN))
    text = "\n".join(errors)
    for expected in (
        "unknown type 'bogus_processor'",
        "processor 'batchh' is not defined",
        "exporter 'otlp/tempo' is not defined",
        "'${JAEGER}' is not ${env:NAME}",
        "bare $NAME",
        "memory_limiter must be the first processor",
        "exporter 'prometheus' has no traces",
        "connector 'forward/dangling' must be an exporter",
        "'health_check' is not defined under extensions",
        "pipeline id 'spans'",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"
    assert "spanmetrics" not in text  # wired traces -> metrics: fine
    assert any("bogus_processor" in w for w in warnings)


def test_checker_checks_connector_signals() -> None:
    config = yaml.safe_load(
        """
receivers: {otlp: {protocols: {grpc: {}}}}
exporters: {debug: {}}
connectors: {spanmetrics: {}}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [spanmetrics]}
    metrics: {receivers: [spanmetrics], exporters: [debug]}
"""
    )
    errors, _ = check_config(config)
    assert any("cannot join" in e for e in errors), errors


def test_env_references_resolve_like_the_collector() -> None:
    doc = {"a": "${env:X:-4317}", "b": "http://${env:H:-tempo}:4318", "c": "${env:T:-true}"}
    assert resolve(doc, {}) == {"a": 4317, "b": "http://tempo:4318", "c": True}
    assert resolve(doc, {"X": "1", "H": "h", "T": "false"}) == {
        "a": 1,
        "b": "http://h:4318",
        "c": False,
    }


def host_port(value: Any) -> tuple[str, int]:
    match = re.fullmatch(r"(?:[a-z]+://)?(?P<host>[^:/]+):(?P<port>\d+)", str(value))
    assert match, f"{value!r} is not host:port"
    return match["host"], int(match["port"])


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_endpoints_come_from_env_with_sane_defaults(name: str) -> None:
    raw = load_config(name)
    config = resolve(raw, {})
    for receiver, settings in config["receivers"].items():
        for protocol, options in settings["protocols"].items():
            endpoint = raw["receivers"][receiver]["protocols"][protocol]["endpoint"]
            assert endpoint.startswith("${env:"), f"{receiver}.{protocol}: {endpoint}"
            host, port = host_port(options["endpoint"])
            assert host == "0.0.0.0", f"{receiver}.{protocol} listens on {host} only"
            assert port == {"grpc": 4317, "http": 4318}[protocol]
    for exporter_id, settings in config["exporters"].items():
        kind = component_type(exporter_id)
        if kind == "otlp":
            host_port(settings["endpoint"])
        elif kind == "otlphttp":
            assert urlsplit(settings["endpoint"]).scheme in ("http", "https"), exporter_id
        elif kind == "prometheus":
            assert host_port(settings["endpoint"])[1] == 8889
        elif kind == "prometheusremotewrite":
            assert settings["endpoint"].endswith("/api/v1/write")
        elif kind == "loadbalancing":
            assert settings["routing_key"] == "traceID"
            assert settings["resolver"]["dns"]["hostname"]
        raw_endpoints = endpoint_fields(raw["exporters"][exporter_id], kind)
        assert raw_endpoints and all("${env:" in str(v) for _, v in raw_endpoints), exporter_id


@pytest.mark.skipif(not shutil.which("otelcol-contrib"), reason="otelcol-contrib not on PATH")
@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_otelcol_contrib_validate(name: str) -> None:
    result = subprocess.run(
        ["otelcol-contrib", "validate", f"--config={CONFIG_DIR / name}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- trace exporters against a real backend ------------------------------------------------------
def endpoint_fields(settings: Mapping[str, Any], kind: str) -> list[tuple[str, Any]]:
    """``(field, raw value)`` of the settings that say where an exporter sends."""
    if kind != "loadbalancing":
        return [(key, settings[key]) for key in ("endpoint", "traces_endpoint") if key in settings]
    resolver = settings["resolver"]
    if "dns" in resolver:
        dns = resolver["dns"]
        return [(f"dns.{key}", dns[key]) for key in ("hostname", "port") if key in dns]
    return [(f"static[{i}]", h) for i, h in enumerate(resolver["static"]["hostnames"])]


def pointed_at(default: str, port: int) -> str:
    """``default`` (an endpoint default) with host and port swapped for 127.0.0.1:port."""
    if "://" in default:
        parts = urlsplit(default)
        return urlunsplit((parts.scheme, f"127.0.0.1:{port}", parts.path, "", ""))
    if default.isdigit():
        return str(port)
    if ":" in default:
        return f"127.0.0.1:{port}"
    return "127.0.0.1"


def trace_exporters() -> list[tuple[str, str]]:
    found = []
    for name in COLLECTOR_CONFIGS:
        pipelines = load_config(name)["service"]["pipelines"]
        for pipeline_id, pipeline in pipelines.items():
            if pipeline_id.split("/")[0] == "traces":
                found += [(name, exporter) for exporter in pipeline["exporters"]]
    return found


TRACE_EXPORTERS = trace_exporters()


def python_exporter(kind: str, settings: Mapping[str, Any]) -> tuple[SpanExporter, str]:
    """The Python OTLP exporter sending as the collector's exporter would; and where to."""
    if kind == "loadbalancing":
        resolver = settings["resolver"]
        if "dns" in resolver:
            dns = resolver["dns"]
            endpoint = f"{dns['hostname']}:{dns.get('port') or 4317}"
        else:
            endpoint = resolver["static"]["hostnames"][0]
        return python_exporter("otlp", {**settings["protocol"]["otlp"], "endpoint": endpoint})
    headers = {str(k): str(v) for k, v in (settings.get("headers") or {}).items()}
    gzip = (settings.get("compression") or "gzip") == "gzip"  # the collector's default
    if kind == "otlp":
        endpoint = str(settings["endpoint"])
        insecure = bool((settings.get("tls") or {}).get("insecure"))
        compression = grpc.Compression.Gzip if gzip else None
        exporter = GrpcSpanExporter(
            endpoint=endpoint, insecure=insecure, headers=headers, compression=compression
        )
        return exporter, f"grpc {endpoint} (insecure={insecure})"
    if kind == "otlphttp":
        url = settings.get("traces_endpoint") or settings["endpoint"].rstrip("/") + "/v1/traces"
        compression = HttpCompression.Gzip if gzip else HttpCompression.NoCompression
        return HttpSpanExporter(endpoint=url, headers=headers, compression=compression), url
    raise AssertionError(f"no OTLP trace exporter of type {kind}")


def instrumented_run(provider: TracerProvider, names: list[str]) -> None:
    """Run corpus graphs traced by otelstream into ``provider``."""
    otelstream.instrument(tracer_provider=provider)
    try:
        for name in names:
            case = CASES[name]
            config = {"run_name": name, "configurable": {"thread_id": f"t-{uuid.uuid4()}"}}
            try:
                case.build().invoke(case.input, config)
            except Exception as error:
                assert case.raises and isinstance(error, case.raises)
    finally:
        otelstream.uninstrument()


@pytest.mark.parametrize(("name", "exporter_id"), TRACE_EXPORTERS)
def test_trace_exporter_accepts_real_otlp(phoenix: Phoenix, name: str, exporter_id: str) -> None:
    """Point the exporter's endpoint variables at Phoenix, send otelstream spans the way the
    exporter would, read them back intact."""
    raw = load_config(name)["exporters"][exporter_id]
    kind = component_type(exporter_id)
    protocol_port = phoenix.http_port if kind == "otlphttp" else phoenix.grpc_port
    env = {}
    for _, value in endpoint_fields(raw, kind):
        for match in ENV_REF.finditer(str(value)):
            body = ENV_BODY.match(match["body"])
            assert body and body["default"], f"{exporter_id}: {match[0]} has no default"
            env[body["name"]] = pointed_at(body["default"], protocol_port)
    assert env, f"{exporter_id} has no endpoint variable to point at a backend"
    exporter, target = python_exporter(kind, resolve(raw, env))
    project = f"collector-{name.removesuffix('.yaml')}-{exporter_id.replace('/', '-')}"
    project = f"{project}-{uuid.uuid4().hex[:8]}"
    resource = Resource.create(
        {"service.name": "otelstream-collector-test", "openinference.project.name": project}
    )
    provider = TracerProvider(resource=resource)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        instrumented_run(provider, ["linear", "failing"])
    finally:
        provider.shutdown()
    sent = memory.get_finished_spans()
    received = phoenix.wait_for_spans(project, len(sent))
    problems = compare_spans(sent, received)
    assert not problems, f"{exporter_id} -> {target} ({env}):\n" + "\n".join(problems)


# --- tail sampling on real traces ---------------------------------------------------------------
def traces_of(spans: list[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    return by_trace


def policy_keeps(policy: Mapping[str, Any], trace: list[ReadableSpan]) -> bool | None:
    """The tail_sampling processor's verdict of one policy on one trace (``None``: random)."""
    kind = policy["type"]
    settings = policy.get(kind) or {}
    if kind == "status_code":
        codes = {StatusCode[c] for c in settings["status_codes"]}
        return any(span.status.status_code in codes for span in trace)
    if kind == "boolean_attribute":
        key, value = settings["key"], settings["value"]
        return any(
            (span.attributes or {}).get(key) is value or span.resource.attributes.get(key) is value
            for span in trace
        )
    if kind == "latency":
        start = min(span.start_time or 0 for span in trace)
        end = max(span.end_time or 0 for span in trace)
        millis = (end - start) / 1e6
        upper = settings.get("upper_threshold_ms")
        return millis >= settings["threshold_ms"] and (not upper or millis <= upper)
    if kind == "probabilistic":
        return None
    raise AssertionError(f"no evaluator for tail_sampling policy type {kind!r}")


class Slow(TypedDict):
    done: bool


def slow_graph() -> Any:
    def wait(state: Slow) -> dict[str, Any]:
        time.sleep(1.0)
        return {"done": True}

    return sequence(Slow, wait)


def test_tail_sampling_keeps_failed_interrupted_resumed_and_slow_runs() -> None:
    sampler = resolve(load_config("gateway-sampler.yaml"), {"SLOW_RUN_MS": "700"})
    policies = sampler["processors"]["tail_sampling"]["policies"]
    assert policies[-1]["type"] == "probabilistic"
    assert 0 < policies[-1]["probabilistic"]["sampling_percentage"] < 100
    provider, memory = memory_provider()
    instrumented_run(provider, ["linear", "failing"])
    otelstream.instrument(tracer_provider=provider)
    try:
        review = CASES["interrupt"].build()
        thread = {"run_name": "interrupt", "configurable": {"thread_id": "t-sample"}}
        review.invoke(CASES["interrupt"].input, thread)
        review.invoke(Command(resume="approved"), thread)
        slow_graph().invoke({"done": False}, {"run_name": "slow"})
    finally:
        otelstream.uninstrument()
    verdicts: dict[str, set[str]] = {}
    for trace in traces_of(list(memory.get_finished_spans())).values():
        root = next(s for s in trace if s.parent is None)
        name = (root.attributes or {}).get("langgraph.graph.name")
        if (root.attributes or {}).get("langgraph.resumed"):
            name = "resumed"
        verdicts[str(name)] = {p["name"] for p in policies if policy_keeps(p, trace)}
    assert verdicts == {
        "linear": set(),
        "failing": {"errors"},
        "interrupt": {"interrupted"},
        "resumed": {"resumed"},
        "slow": {"slow"},
    }


# --- compose ---------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def mounts(service: Mapping[str, Any]) -> dict[str, Path]:
    """container path -> repository path of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        assert source.startswith("."), f"not a bind mount of a repository file: {volume}"
        found[target] = (CONFIG_DIR / source).resolve()
    return found


def published(service: Mapping[str, Any]) -> dict[int, int]:
    """container port -> host port."""
    ports = {}
    for mapping in service.get("ports", []):
        host, container = str(mapping).split(":")[-2:]
        ports[int(container)] = int(host)
    return ports


def flag(args: list[str], name: str) -> str:
    for arg in args:
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"no {name}= in {args}")


def test_compose_services_mount_files_that_exist() -> None:
    services = compose()["services"]
    assert set(services) == {"otelcol", "jaeger", "tempo", "prometheus", "grafana"}
    for name, service in services.items():
        assert re.search(r":[\w.]+$", service["image"]), f"{name}: pin the image version"
        for target, source in mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
        for dependency in service.get("depends_on", []):
            assert dependency in services


def test_compose_collector_runs_the_agent_config_on_its_ports() -> None:
    services = compose()["services"]
    otelcol = services["otelcol"]
    config_path = flag(otelcol["command"], "--config")
    assert mounts(otelcol)[config_path] == CONFIG_DIR / "agent.yaml"
    agent = resolve(
        load_config("agent.yaml"), {str(k): str(v) for k, v in otelcol["environment"].items()}
    )
    ports = published(otelcol)
    for protocol, options in agent["receivers"]["otlp"]["protocols"].items():
        port = host_port(options["endpoint"])[1]
        assert ports.get(port) == port, f"OTLP {protocol} port {port} not published as is"
    metrics_port = host_port(agent["exporters"]["prometheus"]["endpoint"])[1]
    health_port = host_port(agent["extensions"]["health_check"]["endpoint"])[1]
    assert metrics_port in ports and health_port in ports
    # the exporters reach the compose services on the ports they receive OTLP on
    jaeger_host, jaeger_port = host_port(agent["exporters"]["otlp/jaeger"]["endpoint"])
    assert jaeger_host == "jaeger" and jaeger_port == 4317  # Jaeger v2: OTLP gRPC on 4317
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")
    tempo_url = urlsplit(agent["exporters"]["otlphttp/tempo"]["endpoint"])
    tempo = yaml.safe_load((CONFIG_DIR / "tempo.yaml").read_text())
    tempo_http = tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert tempo_url.hostname == "tempo" and tempo_url.port == host_port(tempo_http)[1]
    assert host_port(tempo_http)[0] == "0.0.0.0"
    # compose overrides only variables the config reads
    agent_text = (CONFIG_DIR / "agent.yaml").read_text()
    names = {m["name"] for m in map(ENV_BODY.match, ENV_REF.findall(agent_text)) if m}
    assert set(otelcol["environment"]) <= names


def test_compose_prometheus_scrapes_the_collector() -> None:
    services = compose()["services"]
    prometheus = services["prometheus"]
    config_file = mounts(prometheus)[flag(prometheus["command"], "--config.file")]
    config = yaml.safe_load(config_file.read_text())
    agent = resolve(load_config("agent.yaml"), {})
    metrics_port = host_port(agent["exporters"]["prometheus"]["endpoint"])[1]
    (job,) = config["scrape_configs"]
    assert job["honor_labels"] is True  # keep job/instance from service.name/.instance.id
    assert job["static_configs"][0]["targets"] == [f"otelcol:{metrics_port}"]
    assert published(prometheus) == {9090: 9090}
    gateway = resolve(load_config("gateway-loadbalancer.yaml"), {})
    write_url = urlsplit(gateway["exporters"]["prometheusremotewrite"]["endpoint"])
    assert (write_url.hostname, write_url.port) == ("prometheus", 9090)
    assert "--web.enable-remote-write-receiver" in prometheus["command"]


def test_compose_tempo_and_grafana_provisioning() -> None:
    services = compose()["services"]
    tempo_service = services["tempo"]
    tempo_config = mounts(tempo_service)[flag(tempo_service["command"], "-config.file")]
    tempo = yaml.safe_load(tempo_config.read_text())
    tempo_port = tempo["server"]["http_listen_port"]
    assert published(tempo_service) == {tempo_port: tempo_port}

    grafana = services["grafana"]
    grafana_mounts = mounts(grafana)
    datasources_dir = grafana_mounts["/etc/grafana/provisioning/datasources"]
    datasources = yaml.safe_load((datasources_dir / "datasources.yaml").read_text())
    urls = {d["type"]: urlsplit(d["url"]) for d in datasources["datasources"]}
    assert (urls["prometheus"].hostname, urls["prometheus"].port) == ("prometheus", 9090)
    assert (urls["tempo"].hostname, urls["tempo"].port) == ("tempo", tempo_port)
    assert (urls["jaeger"].hostname, urls["jaeger"].port) == ("jaeger", 16686)
    assert 16686 in published(services["jaeger"])

    providers_dir = grafana_mounts["/etc/grafana/provisioning/dashboards"]
    (provider,) = yaml.safe_load((providers_dir / "dashboards.yaml").read_text())["providers"]
    dashboards_path = provider["options"]["path"]
    assert grafana_mounts[dashboards_path] == ROOT / "dashboards"
    assert sorted((ROOT / "dashboards").glob("*.json")), "no dashboard to provision"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / Path(home).relative_to(dashboards_path)).is_file()
    assert published(grafana) == {3000: 3000}

"""The Grafana dashboards in ``dashboards/`` work on real data and are valid for Grafana.

- Against a real Prometheus (Debian's package) scraping ``tests/prometheus_app.py``, a real
  instrumented app running graphs: every PromQL panel query, with Grafana's macros and the
  template variables substituted, returns ``success`` and a non-empty result (All selected),
  and ``success`` for a concrete selection; every variable query lists values.
- Offline: PromQL syntax (``promql-parser``), TraceQL syntax (Grafana's grammar), Grafana's
  own TypeScript types (``@grafana/schema`` + ``tsc --strict``), regenerating the JSON from
  ``dashboards/build.py`` changes nothing, and the span attributes the TraceQL panels filter
  on are the ones otelstream records.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import promql_parser
import pytest
from dash_support import (
    ROOT,
    Target,
    all_selection,
    dashboard_files,
    load,
    panels,
    substitute,
    targets,
    traceql_errors,
    typecheck,
    typescript_source,
    variables,
)
from graphs import CASES
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prom_support import MetricsStack

pytest_plugins = ["backends"]

FILES = dashboard_files()
TARGETS = [t for path in FILES for t in targets(path)]
PROMQL = [t for t in TARGETS if t.datasource == "prometheus"]
TRACEQL = [t for t in TARGETS if t.datasource == "tempo"]
QUERY_VARIABLES = [(path, v) for path in FILES for v in variables(path) if v["type"] == "query"]
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def by_id(items: list[Target]) -> dict[str, Any]:
    return {"argvalues": items, "ids": [t.id for t in items]}


def selection_for(target: Target) -> dict[str, str]:
    return all_selection(ROOT / "dashboards" / f"{target.dashboard}.json")


# --- against real data ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsStack]:
    """Prometheus scraping the instrumented app every second, after 3 scrapes of its data."""
    stack = MetricsStack(tmp_path_factory.mktemp("metrics"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def samples(answer: dict[str, Any]) -> list[float]:
    """The values of an instant query's answer (vector or scalar)."""
    data = answer["data"]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    return [float(series["value"][1]) for series in data["result"]]


@pytest.mark.parametrize("target", **by_id(PROMQL))
def test_panel_query_returns_data(prometheus: MetricsStack, target: Target) -> None:
    """All selected: the query succeeds and returns at least one finite number."""
    expr = substitute(target.expr, selection_for(target))
    answer = prometheus.query(expr)
    assert answer["status"] == "success", f"{target.id}: {expr}\n{answer}"
    values = samples(answer)
    assert values, f"{target.id} is empty: {expr}"
    assert any(math.isfinite(v) for v in values), f"{target.id} has no finite value: {values}"
    if "histogram_quantile" in expr and "_seconds_bucket" in expr:
        # the app's runs take milliseconds: a quantile of seconds means millisecond buckets
        # (the SDK's defaults, 0, 5, 10, ... give p50 = 2.5 s, p95 = 4.75 s)
        assert max(v for v in values if math.isfinite(v)) < 2.0, f"{target.id}: {values}"


@pytest.mark.parametrize("target", **by_id(PROMQL))
def test_panel_query_with_a_concrete_selection(prometheus: MetricsStack, target: Target) -> None:
    """One value picked in each variable (regex-escaped, as Grafana does): still valid."""
    path = ROOT / "dashboards" / f"{target.dashboard}.json"
    selection = all_selection(path)
    concrete = {
        "service": prometheus.service,
        "graph": "agent",
        "node": "model",
        "model": "fake-model-1",
    }
    picked = {k: v for k, v in concrete.items() if k in selection}
    expr = substitute(target.expr, {**selection, **picked}, regex=set(picked))
    answer = prometheus.query(expr)
    assert answer["status"] == "success", f"{target.id}: {expr}\n{answer}"


@pytest.mark.parametrize(
    ("path", "variable"),
    QUERY_VARIABLES,
    ids=[f"{p.stem}:{v['name']}" for p, v in QUERY_VARIABLES],
)
def test_variable_query_lists_values(
    prometheus: MetricsStack, path: Path, variable: dict[str, Any]
) -> None:
    """Each ``label_values`` variable lists what the app recorded."""
    match = LABEL_VALUES.match(variable["query"])
    assert match, f"not a label_values query: {variable['query']}"
    selector = substitute(match["selector"] or "{__name__=~'.+'}", all_selection(path))
    values = prometheus.label_values(match["label"], selector)
    assert values, f"{variable['name']}: nothing for {selector}"
    if variable["name"] == "service":
        assert values == [prometheus.service]


def test_every_recorded_metric_is_on_a_dashboard(prometheus: MetricsStack) -> None:
    """No otelstream metric the app exposes is left off the dashboards."""
    answer = prometheus.query('count by (__name__) ({otel_scope_name="otelstream"})')
    names = {series["metric"]["__name__"] for series in answer["data"]["result"]}
    assert names, "the app exposed no otelstream metric"
    queried = " ".join(t.expr for t in PROMQL)
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}
    missing = sorted(f for f in families if f not in queried)
    assert not missing, f"metrics on no dashboard: {missing}"


# --- offline ------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", **by_id(PROMQL))
def test_promql_syntax(target: Target) -> None:
    expr = substitute(target.expr, selection_for(target))
    assert "$" not in expr, f"unsubstituted variable or macro in {expr}"
    promql_parser.parse(expr)  # raises ValueError on a syntax error


def test_promql_syntax_check_catches_errors() -> None:
    for bad in ("sum(rate(x[1m])", "rate(x[$__rate_interval])", "x{a=~}"):
        with pytest.raises(ValueError):
            promql_parser.parse(bad)


def test_traceql_syntax() -> None:
    queries = [substitute(t.expr, selection_for(t)) for t in TRACEQL]
    assert queries, "no Tempo panel"
    errors = traceql_errors([*queries, "{ span.a = }"])
    assert errors[-1], "the TraceQL grammar accepted a broken query"
    assert errors[:-1] == [None] * len(queries), errors


def test_dashboards_typecheck_against_grafana_schema() -> None:
    errors = typecheck(FILES)
    assert not any(errors.values()), json.dumps(errors, indent=1)


def test_typecheck_catches_errors(tmp_path: Path) -> None:
    """The type check is not vacuous: a bad enum, a string width, an unknown key fail."""
    broken = load(FILES[0])
    panel = next(p for p in panels(broken) if p["type"] == "timeseries")
    panel["gridPos"]["w"] = "12"
    panel["options"]["legend"]["displayMode"] = "sideways"
    broken["graphTooltip"] = 7
    broken["templating"]["list"][0]["colour"] = "red"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert "TimeSeries.Options" in typescript_source(path)
    errors = typecheck([path])["broken.json"]
    text = "\n".join(errors)
    for needle in ("'string' is not assignable to type 'number'", '"sideways"', "colour"):
        assert needle in text, text
    assert "7" in text


def build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards_build", ROOT / "dashboards/build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerating_the_dashboards_changes_nothing() -> None:
    pytest.importorskip("grafana_foundation_sdk", reason="the SDK needs Python >= 3.11")
    rendered = build_module().render()
    assert sorted(rendered) == [p.name for p in FILES], "a dashboard JSON without a builder"
    for name, text in rendered.items():
        committed = (ROOT / "dashboards" / name).read_text()
        assert committed == text, f"{name} is stale: run python dashboards/build.py"


def test_dashboard_conventions() -> None:
    """uids, variables, datasources and filters every dashboard needs."""
    uids = set()
    for path in FILES:
        dashboard = load(path)
        uids.add(dashboard["uid"])
        names = [v["name"] for v in variables(path)]
        assert {"datasource", "service"} <= set(names), path.name
        if "llm" not in path.stem:
            assert "graph" in names, path.name
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in panels(dashboard):
            assert panel.get("description"), f"{path.name}: {panel['title']} says no question"
            kind = panel["datasource"]["type"]
            assert panel["datasource"]["uid"] == (
                "${datasource}" if kind == "prometheus" else "${tempo}"
            )
        for target in targets(path):
            if target.datasource == "prometheus":
                assert 'job=~"$service"' in target.expr, target.id
                if "graph" in names and "langgraph_" in target.expr:
                    assert 'langgraph_graph_name=~"$graph"' in target.expr, target.id
    assert len(uids) == len(FILES)


def test_readme_maps_panels_to_questions() -> None:
    """The README's dashboard section names every panel (paste it from the issue-5 report)."""
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"{path.stem}: {panel['title']}"
        for path in FILES
        for panel in panels(load(path))
        if panel["title"] not in readme
    ]
    assert not missing, f"panels the README does not mention: {missing}"


# --- the attributes the TraceQL panels filter on ------------------------------------------------
def run_case(name: str, thread: str = "t-dash") -> None:
    CASES[name].run_to_end({"run_name": name, "configurable": {"thread_id": thread}})


def test_traceql_attributes_are_recorded(exporter: InMemorySpanExporter) -> None:
    """Node spans carry graph, node and thread; graph spans the operation; an interrupt marks
    its spans; a failure sets status ERROR: what the Tempo panels select on."""
    for name in ("linear", "interrupt", "failing"):
        run_case(name)
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    nodes = [s for s in spans if s.name.startswith("node ")]
    assert nodes
    for span in nodes:
        attributes = span.attributes or {}
        assert attributes.get("langgraph.graph.name") in ("linear", "interrupt", "failing")
        assert attributes.get("langgraph.node")
        assert attributes.get("gen_ai.conversation.id") == "t-dash"
    roots = [
        s
        for s in spans
        if (s.attributes or {}).get("gen_ai.operation.name")
        in (
            "invoke_agent",
            "invoke_workflow",
        )
    ]
    assert {(s.attributes or {}).get("langgraph.graph.name") for s in roots} == {
        "linear",
        "interrupt",
        "failing",
    }
    interrupted = [s for s in spans if (s.attributes or {}).get("langgraph.interrupted") is True]
    assert {s.name for s in interrupted} >= {"node review"}
    assert any(s.status.status_code is StatusCode.ERROR for s in spans if "failing" in s.name)

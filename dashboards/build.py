"""Generate otelstream's Grafana dashboards (the JSON files next to this script).

    pip install 'grafana-foundation-sdk==1769699379!11.6.0'
    python dashboards/build.py            # rewrite the JSON files
    python dashboards/build.py --check    # exit 1 if a JSON file differs from what this writes
    python dashboards/build.py --markdown # the README's table: which panel answers what

The dashboards read the metrics otelstream records, as Prometheus names them (through the
Collector's ``prometheus`` exporter or ``opentelemetry-exporter-prometheus``):
``langgraph_run_duration_seconds_*``, ``langgraph_node_duration_seconds_*``,
``langgraph_interrupts_total``, ``otelstream_subscriber_dropped_total``,
``gen_ai_client_operation_duration_seconds_*``, ``gen_ai_client_token_usage_*`` and
``gen_ai_client_operation_time_to_first_chunk_seconds_*``; the trace dashboard searches Tempo
with TraceQL. ``job`` is the service (the Collector's exporter sets it from ``service.name``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, table, tempo, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from grafana_foundation_sdk.models.tempo import SearchTableType

HERE = Path(__file__).resolve().parent
TAGS = ["otelstream", "langgraph"]

PROM = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
TEMPO = model.DataSourceRef(type_val="tempo", uid="${tempo}")

RUNS = "langgraph_run_duration_seconds"
NODES = "langgraph_node_duration_seconds"
INTERRUPTS = "langgraph_interrupts_total"
DROPPED = "otelstream_subscriber_dropped_total"
LLM_DURATION = "gen_ai_client_operation_duration_seconds"
TOKENS = "gen_ai_client_token_usage"
FIRST_CHUNK = "gen_ai_client_operation_time_to_first_chunk_seconds"

RUN_SEL = 'job=~"$service", langgraph_graph_name=~"$graph"'
NODE_SEL = 'job=~"$service", langgraph_graph_name=~"$graph", langgraph_node=~"$node"'
LLM_SEL = 'job=~"$service", gen_ai_request_model=~"$model"'
QUANTILES = (0.5, 0.95, 0.99)

Query = cogbuilder.Builder[cogvariants.Dataquery]


# --- PromQL helpers --------------------------------------------------------------------------
def rate(metric: str, selector: str, by: str = "") -> str:
    """``sum by (by) (rate(metric{selector}[$__rate_interval]))``."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}[$__rate_interval]))"


def ratio(metric: str, selector: str, matcher: str, by: str = "") -> str:
    """The share of ``metric``'s rate that matches ``matcher``: 0, not nothing, when none do."""
    part = rate(metric, f"{selector}, {matcher}", by)
    whole = rate(metric, selector, by)
    return f"({part} or {whole} * 0) / {whole}"


def quantile(q: float, histogram: str, selector: str, by: str = "") -> str:
    """The ``q`` quantile of a histogram's buckets, per ``by``."""
    grouping = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, {rate(histogram + '_bucket', selector, grouping)})"


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Query:
    query = (
        prometheus.Dataquery()
        .datasource(PROM)
        .expr(expr)
        .ref_id(ref)
        .legend_format(legend or "__auto")
    )
    return query.instant().format(PromQueryFormat.TABLE) if instant else query.range()


def quantile_targets(histogram: str, selector: str, by: str, label: str) -> list[Query]:
    return [
        target(quantile(q, histogram, selector, by), f"p{round(q * 100)} {label}", chr(65 + i))
        for i, q in enumerate(QUANTILES)
    ]


# --- panels ----------------------------------------------------------------------------------
def graph_panel(
    title: str,
    description: str,
    targets: list[Query],
    unit: str,
    width: int = 12,
    height: int = 8,
) -> timeseries.Panel:
    legend = (
        common_builder.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["mean", "max", "lastNotNull"])
    )
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .targets(list(targets))
        .unit(unit)
        .min(0)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(legend)
        .tooltip(common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
        .span(width)
        .height(height)
    )


def stat_panel(
    title: str, description: str, expr: str, unit: str, no_value: str = "0", width: int = 4
) -> stat.Panel:
    reduce = common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .with_target(target(expr))
        .unit(unit)
        .no_value(no_value)
        .reduce_options(reduce)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .span(width)
        .height(4)
    )


def table_panel(
    title: str, description: str, columns: list[tuple[str, str, str]], by: str, width: int = 24
) -> table.Panel:
    """A table with one row per ``by`` value and one column per ``(name, expr, unit)``."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .targets(
            [
                target(expr, name, chr(65 + i), instant=True)
                for i, (name, expr, _) in enumerate(columns)
            ]
        )
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {
                        f"Value #{chr(65 + i)}": name for i, (name, _, _) in enumerate(columns)
                    },
                },
            )
        )
        .frame_index(0)
        .show_header(True)
        .span(width)
        .height(8)
    )
    for name, _, unit in columns:  # after the rename: overrides match display names
        panel = panel.override_by_name(name, [model.DynamicConfigValue(id_val="unit", value=unit)])
    return panel


# --- variables and dashboards ------------------------------------------------------------------
def prometheus_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def query_variable(name: str, label: str, query: str) -> dash.QueryVariable:
    """A multi-value variable from a ``label_values`` query, defaulting to All (``.*``)."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(PROM)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def service_variable(metric: str = RUNS + "_count") -> dash.QueryVariable:
    return query_variable("service", "Service", f"label_values({metric}, job)")


def graph_variable() -> dash.QueryVariable:
    return query_variable(
        "graph", "Graph", f'label_values({RUNS}_count{{job=~"$service"}}, langgraph_graph_name)'
    )


def node_variable() -> dash.QueryVariable:
    return query_variable(
        "node",
        "Node",
        f'label_values({NODES}_count{{job=~"$service", langgraph_graph_name=~"$graph"}}, '
        "langgraph_node)",
    )


def links() -> list[cogbuilder.Builder[model.DashboardLink]]:
    return [
        dash.DashboardLink("otelstream")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(["otelstream"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]


def base(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .links(list(links()))
    )


def overview() -> dash.Dashboard:
    """Runs per second, error and interrupt rates, run latency quantiles by graph."""
    return (
        base(
            "otelstream-overview",
            "otelstream / LangGraph overview",
            "Graph runs (subgraph runs included, under their own graph name): rate, outcomes, "
            "latency. From otelstream's langgraph.run.duration histogram.",
        )
        .with_variable(prometheus_variable())
        .with_variable(service_variable())
        .with_variable(graph_variable())
        .with_row(dash.Row("Now"))
        .with_panel(
            stat_panel(
                "Runs/s",
                "How much traffic are the graphs getting?",
                rate(RUNS + "_count", RUN_SEL),
                "ops",
            )
        )
        .with_panel(
            stat_panel(
                "Error rate",
                "What share of runs end in an exception?",
                ratio(RUNS + "_count", RUN_SEL, 'langgraph_outcome="error"'),
                "percentunit",
            )
        )
        .with_panel(
            stat_panel(
                "Interrupt rate",
                "What share of runs stop at an interrupt() and wait for a human?",
                ratio(RUNS + "_count", RUN_SEL, 'langgraph_outcome="interrupted"'),
                "percentunit",
            )
        )
        .with_panel(
            stat_panel(
                "p95 run latency",
                "How long do 95% of runs take at most?",
                quantile(0.95, RUNS, RUN_SEL),
                "s",
            )
        )
        .with_panel(
            stat_panel(
                "Cancelled runs/s",
                "How many runs are abandoned by their caller (a consumer that stopped "
                "iterating, a cancelled task)?",
                rate(RUNS + "_count", f'{RUN_SEL}, langgraph_outcome="cancelled"'),
                "ops",
            )
        )
        .with_panel(
            stat_panel(
                "Dropped stream items/s",
                "Are live subscribers (otelstream.subscribe / stream) too slow, so that "
                "their buffers overflow?",
                rate(DROPPED, 'job=~"$service"'),
                "ops",
            )
        )
        .with_row(dash.Row("By graph"))
        .with_panel(
            graph_panel(
                "Runs/s by graph and outcome",
                "Which graphs run, and how do their runs end (success, error, interrupted, "
                "cancelled)?",
                [
                    target(
                        rate(RUNS + "_count", RUN_SEL, "langgraph_graph_name, langgraph_outcome"),
                        "{{langgraph_graph_name}} {{langgraph_outcome}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph_panel(
                "Run latency quantiles by graph",
                "How long do runs of each graph take (p50, p95, p99)?",
                quantile_targets(RUNS, RUN_SEL, "langgraph_graph_name", "{{langgraph_graph_name}}"),
                "s",
            )
        )
        .with_panel(
            graph_panel(
                "Error rate by graph",
                "Which graph fails, and how often?",
                [
                    target(
                        ratio(
                            RUNS + "_count",
                            RUN_SEL,
                            'langgraph_outcome="error"',
                            "langgraph_graph_name",
                        ),
                        "{{langgraph_graph_name}}",
                    )
                ],
                "percentunit",
            )
        )
        .with_panel(
            graph_panel(
                "Interrupt rate by graph",
                "Which graph waits on humans, and how often?",
                [
                    target(
                        ratio(
                            RUNS + "_count",
                            RUN_SEL,
                            'langgraph_outcome="interrupted"',
                            "langgraph_graph_name",
                        ),
                        "{{langgraph_graph_name}}",
                    )
                ],
                "percentunit",
            )
        )
        .with_panel(
            graph_panel(
                "Failed runs/s by graph and error type",
                "Which exceptions end runs?",
                [
                    target(
                        rate(
                            RUNS + "_count",
                            f'{RUN_SEL}, langgraph_outcome="error"',
                            "langgraph_graph_name, error_type",
                        ),
                        "{{langgraph_graph_name}} {{error_type}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph_panel(
                "Mean run duration by graph",
                "What does a typical run cost in wall-clock time, and is it drifting?",
                [
                    target(
                        f"{rate(RUNS + '_sum', RUN_SEL, 'langgraph_graph_name')} / "
                        f"{rate(RUNS + '_count', RUN_SEL, 'langgraph_graph_name')}",
                        "{{langgraph_graph_name}}",
                    )
                ],
                "s",
            )
        )
        .with_row(dash.Row("Summary"))
        .with_panel(
            table_panel(
                "Graphs",
                "Which graph is busiest, slowest, most failing?",
                [
                    ("runs/s", rate(RUNS + "_count", RUN_SEL, "langgraph_graph_name"), "ops"),
                    (
                        "error rate",
                        ratio(
                            RUNS + "_count",
                            RUN_SEL,
                            'langgraph_outcome="error"',
                            "langgraph_graph_name",
                        ),
                        "percentunit",
                    ),
                    (
                        "interrupt rate",
                        ratio(
                            RUNS + "_count",
                            RUN_SEL,
                            'langgraph_outcome="interrupted"',
                            "langgraph_graph_name",
                        ),
                        "percentunit",
                    ),
                    ("p50", quantile(0.5, RUNS, RUN_SEL, "langgraph_graph_name"), "s"),
                    ("p95", quantile(0.95, RUNS, RUN_SEL, "langgraph_graph_name"), "s"),
                    ("p99", quantile(0.99, RUNS, RUN_SEL, "langgraph_graph_name"), "s"),
                ],
                "langgraph_graph_name",
            )
        )
    )


def nodes() -> dash.Dashboard:
    """Per-node rate, latency quantiles, errors, interrupts."""
    by = "langgraph_graph_name, langgraph_node"
    legend = "{{langgraph_graph_name}}/{{langgraph_node}}"
    return (
        base(
            "otelstream-nodes",
            "otelstream / LangGraph nodes",
            "Node tasks (one per node per super-step; Send gives one per task): rate, "
            "latency, errors and interrupts. From langgraph.node.duration and "
            "langgraph.interrupts.",
        )
        .with_variable(prometheus_variable())
        .with_variable(service_variable())
        .with_variable(graph_variable())
        .with_variable(node_variable())
        .with_panel(
            graph_panel(
                "Node runs/s",
                "Which nodes run most (loops and fan-out multiply node runs per graph run)?",
                [target(rate(NODES + "_count", NODE_SEL, by), legend)],
                "ops",
            )
        )
        .with_panel(
            graph_panel(
                "Node latency p95",
                "Which node is slow?",
                [target(quantile(0.95, NODES, NODE_SEL, by), legend)],
                "s",
            )
        )
        .with_panel(
            graph_panel(
                "Node latency quantiles",
                "How is each node's latency distributed (p50, p95, p99)?",
                quantile_targets(NODES, NODE_SEL, by, legend),
                "s",
            )
        )
        .with_panel(
            graph_panel(
                "Time spent by node",
                "Where does the wall-clock time go (node-seconds per second)?",
                [target(rate(NODES + "_sum", NODE_SEL, by), legend)],
                "s",
            )
        )
        .with_panel(
            graph_panel(
                "Node errors/s by error type",
                "Which node raises which exception?",
                [
                    target(
                        rate(
                            NODES + "_count",
                            f'{NODE_SEL}, langgraph_outcome="error"',
                            f"{by}, error_type",
                        ),
                        legend + " {{error_type}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph_panel(
                "Node error rate",
                "What share of each node's runs fail?",
                [
                    target(
                        ratio(NODES + "_count", NODE_SEL, 'langgraph_outcome="error"', by), legend
                    )
                ],
                "percentunit",
            )
        )
        .with_panel(
            graph_panel(
                "Interrupts/s by node",
                "Which nodes stop for human input (interrupt()), and how often?",
                [target(rate(INTERRUPTS, NODE_SEL, by), legend)],
                "ops",
            )
        )
        .with_panel(
            graph_panel(
                "Node outcomes/s",
                "How do node tasks end (success, error, interrupted, cancelled)?",
                [
                    target(
                        rate(NODES + "_count", NODE_SEL, f"{by}, langgraph_outcome"),
                        legend + " {{langgraph_outcome}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            table_panel(
                "Nodes",
                "Which node is busiest, slowest, most failing?",
                [
                    ("runs/s", rate(NODES + "_count", NODE_SEL, by), "ops"),
                    (
                        "error rate",
                        ratio(NODES + "_count", NODE_SEL, 'langgraph_outcome="error"', by),
                        "percentunit",
                    ),
                    ("p50", quantile(0.5, NODES, NODE_SEL, by), "s"),
                    ("p95", quantile(0.95, NODES, NODE_SEL, by), "s"),
                    ("p99", quantile(0.99, NODES, NODE_SEL, by), "s"),
                ],
                by,
            )
        )
    )


def llm() -> dash.Dashboard:
    """Token usage by model and type, time to first chunk, operation duration."""
    by_model = "gen_ai_request_model"
    return (
        base(
            "otelstream-llm",
            "otelstream / LLM calls",
            "Chat and completion calls made inside graphs: token usage, latency, time to "
            "first chunk, errors. From the GenAI client metrics (gen_ai.client.*), by "
            "requested model.",
        )
        .with_variable(prometheus_variable())
        .with_variable(service_variable(LLM_DURATION + "_count"))
        .with_variable(
            query_variable(
                "model",
                "Model",
                f'label_values({LLM_DURATION}_count{{job=~"$service"}}, gen_ai_request_model)',
            )
        )
        .with_panel(
            stat_panel(
                "Input tokens in range",
                "How many prompt tokens were sent in the selected time range?",
                f'sum(increase({TOKENS}_sum{{{LLM_SEL}, gen_ai_token_type="input"}}[$__range]))',
                "short",
                width=6,
            )
        )
        .with_panel(
            stat_panel(
                "Output tokens in range",
                "How many tokens did the models generate in the selected time range?",
                f'sum(increase({TOKENS}_sum{{{LLM_SEL}, gen_ai_token_type="output"}}[$__range]))',
                "short",
                width=6,
            )
        )
        .with_panel(
            stat_panel(
                "Model calls/s",
                "How many model calls are made?",
                rate(LLM_DURATION + "_count", LLM_SEL),
                "ops",
                width=6,
            )
        )
        .with_panel(
            stat_panel(
                "Model call error rate",
                "What share of model calls fail?",
                ratio(LLM_DURATION + "_count", LLM_SEL, 'error_type!=""'),
                "percentunit",
                width=6,
            )
        )
        .with_panel(
            graph_panel(
                "Tokens/s by model and type",
                "Which model consumes how many input and output tokens?",
                [
                    target(
                        rate(TOKENS + "_sum", LLM_SEL, f"{by_model}, gen_ai_token_type"),
                        "{{gen_ai_request_model}} {{gen_ai_token_type}}",
                    )
                ],
                "short",
            )
        )
        .with_panel(
            graph_panel(
                "Tokens per call p95 by model and type",
                "How big are prompts and completions?",
                [
                    target(
                        quantile(0.95, TOKENS, LLM_SEL, f"{by_model}, gen_ai_token_type"),
                        "{{gen_ai_request_model}} {{gen_ai_token_type}}",
                    )
                ],
                "short",
            )
        )
        .with_panel(
            graph_panel(
                "Operation duration quantiles by model",
                "How long do model calls take, from request to response (p50, p95, p99)?",
                quantile_targets(LLM_DURATION, LLM_SEL, by_model, "{{gen_ai_request_model}}"),
                "s",
            )
        )
        .with_panel(
            graph_panel(
                "Time to first chunk by model",
                "How long until a streamed response starts (p50, p95, p99)? Streamed calls only.",
                quantile_targets(FIRST_CHUNK, LLM_SEL, by_model, "{{gen_ai_request_model}}"),
                "s",
            )
        )
        .with_panel(
            graph_panel(
                "Model calls/s by model and operation",
                "Which models and operations (chat, text_completion) are called?",
                [
                    target(
                        rate(
                            LLM_DURATION + "_count", LLM_SEL, f"{by_model}, gen_ai_operation_name"
                        ),
                        "{{gen_ai_request_model}} {{gen_ai_operation_name}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph_panel(
                "Model call errors/s by error type",
                "Which model calls fail, with which exception?",
                [
                    target(
                        rate(
                            LLM_DURATION + "_count",
                            f'{LLM_SEL}, error_type!=""',
                            f"{by_model}, gen_ai_provider_name, error_type",
                        ),
                        "{{gen_ai_request_model}} ({{gen_ai_provider_name}}) {{error_type}}",
                    )
                ],
                "ops",
            )
        )
    )


def traceql(*conditions: str) -> str:
    """A TraceQL spanset filter over otelstream spans, scoped by the dashboard variables."""
    scope = [
        'resource.service.name =~ "${service:regex}"',
        'span.langgraph.graph.name =~ "${graph:regex}"',
        *conditions,
        '(span.gen_ai.conversation.id = "$thread" || "$thread" = "")',
    ]
    return "{ " + " && ".join(scope) + " }"


def trace_panel(title: str, description: str, query: str, height: int = 10) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(TEMPO)
        .with_target(
            tempo.TempoQuery()
            .datasource(TEMPO)
            .ref_id("A")
            .query_type("traceql")
            .query(query)
            .table_type(SearchTableType.TRACES)
            .limit(50)
            .spss(5)
        )
        .frame_index(0)
        .show_header(True)
        .span(24)
        .height(height)
    )


def traces() -> dash.Dashboard:
    """A Tempo trace search (TraceQL) by service, graph, node and thread."""
    return (
        base(
            "otelstream-traces",
            "otelstream / LangGraph traces",
            "Find the traces of graph runs in Tempo with TraceQL: by service, graph, node and "
            "thread (gen_ai.conversation.id, from the run's thread_id). Every graph run is one "
            "trace; click a trace ID to open it.",
        )
        .with_variable(prometheus_variable())
        .with_variable(dash.DatasourceVariable("tempo").label("Tempo").type("tempo"))
        .with_variable(service_variable())
        .with_variable(graph_variable())
        .with_variable(node_variable())
        .with_variable(
            dash.TextBoxVariable("thread")
            .label("Thread ID")
            .description("A thread_id (gen_ai.conversation.id); empty for all threads.")
        )
        .with_variable(
            dash.CustomVariable("slow")
            .label("Slow run")
            .description("A graph run at least this long counts as slow.")
            .values("1s,5s,10s,30s,1m,5m")
            .current(model.VariableOption(selected=True, text="10s", value="10s"))
        )
        .with_panel(
            trace_panel(
                "Runs by graph, node and thread",
                "Which runs went through these nodes (of this thread)?",
                traceql('span.langgraph.node =~ "${node:regex}"'),
            )
        )
        .with_panel(
            trace_panel(
                "Failed or interrupted runs",
                "Which runs raised an exception, or stopped at an interrupt()?",
                traceql("(status = error || span.langgraph.interrupted = true)"),
            )
        )
        .with_panel(
            trace_panel(
                "Slow runs",
                "Which graph runs took longer than $slow?",
                traceql(
                    'span.gen_ai.operation.name =~ "invoke_agent|invoke_workflow"',
                    "duration >= $slow",
                ),
            )
        )
    )


DASHBOARDS = {
    "otelstream-overview.json": overview,
    "otelstream-nodes.json": nodes,
    "otelstream-llm.json": llm,
    "otelstream-traces.json": traces,
}


def tidy(dashboard: dict[str, Any]) -> dict[str, Any]:
    """Number the panels; drop the interval-variable keys (``auto``, ``auto_count``,
    ``auto_min``) the SDK writes on every variable, which Grafana's schema does not know."""
    number = 0
    for panel in dashboard.get("panels", []):
        for each in [panel, *panel.get("panels", [])]:
            number += 1
            each["id"] = number
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "interval":
            for key in ("auto", "auto_count", "auto_min"):
                variable.pop(key, None)
    return dashboard


def render() -> dict[str, str]:
    """Every dashboard's JSON text, by file name."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    out = {}
    for name, build in DASHBOARDS.items():
        dashboard = tidy(json.loads(encoder.encode(build().build())))
        out[name] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    return out


def markdown() -> str:
    """A Markdown table: which panel answers which question (for the README)."""
    rows = ["| dashboard | panel | answers |", "|---|---|---|"]
    for text in render().values():
        dashboard = json.loads(text)
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                title = dashboard["title"].split(" / ", 1)[-1]
                rows.append(f"| {title} | {panel['title']} | {panel['description']} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate otelstream's Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--markdown", action="store_true", help="print the README panel table")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(), end="")
        return 0
    stale = []
    for name, text in render().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python dashboards/build.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

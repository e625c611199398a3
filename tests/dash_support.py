"""Reading otelstream's Grafana dashboards the way Grafana does, and checking them offline.

- ``panels()`` / ``targets()`` walk every panel (rows included) and query;
- ``substitute()`` replaces Grafana macros and template variables as Grafana would for a given
  selection (All by default: each variable's ``allValue``);
- ``ensure_node_tools()`` installs Grafana's own TypeScript types (``@grafana/schema``, pinned to
  the Grafana the compose file runs), ``typescript`` and Grafana's TraceQL grammar
  (``@grafana/lezer-traceql``) with npm into the test cache, never into the repository;
- ``typecheck()`` runs ``tsc --noEmit --strict --skipLibCheck`` over each dashboard typed as
  ``Dashboard``, and each panel typed by its plugin's ``Options``/``FieldConfig``;
- ``traceql_errors()`` parses TraceQL with Grafana's grammar.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends import cache_dir, file_lock

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"

NPM_PACKAGES = {
    "@grafana/schema": "11.6.16",  # the Grafana of collector-config/compose.yaml
    "typescript": "5.9.3",
    "@grafana/lezer-traceql": "1.0.0",
    "@lezer/lr": "1.4.12",
}

#: What Grafana puts for its macros, for a one-hour dashboard scraped every second or more.
MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "${__rate_interval}": "1m",
    "${__interval}": "15s",
    "${__range}": "1h",
}


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


@dataclass(frozen=True)
class Target:
    """One query of one panel."""

    dashboard: str
    panel: str
    panel_type: str
    datasource: str  # the datasource plugin type: prometheus or tempo
    ref_id: str
    expr: str
    instant: bool

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.panel}:{self.ref_id}"


def targets(path: Path) -> list[Target]:
    dashboard = load(path)
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel.get("datasource") or {}
            kind = source.get("type", "")
            found.append(
                Target(
                    dashboard=path.stem,
                    panel=panel.get("title", ""),
                    panel_type=panel.get("type", ""),
                    datasource=kind,
                    ref_id=target.get("refId", ""),
                    expr=target.get("expr") if kind == "prometheus" else target.get("query"),
                    instant=bool(target.get("instant")),
                )
            )
    return found


def variables(path: Path) -> list[dict[str, Any]]:
    return list(load(path).get("templating", {}).get("list", []))


def all_selection(path: Path) -> dict[str, str]:
    """Each variable's value when its default (All, or its current value) is selected."""
    chosen = {}
    for variable in variables(path):
        current = (variable.get("current") or {}).get("value")
        if variable.get("includeAll") and current in ("$__all", ["$__all"], None):
            chosen[variable["name"]] = variable.get("allValue") or ".*"
        elif variable["type"] == "textbox":
            chosen[variable["name"]] = variable.get("query", "")
        elif isinstance(current, str):
            chosen[variable["name"]] = current
    return chosen


_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


def regex_escape(value: str) -> str:
    """A value as Grafana puts a single selected value into a regex matcher (Prometheus-style
    escaping of regex metacharacters)."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def substitute(expr: str, selection: Mapping[str, str], *, regex: set[str] | None = None) -> str:
    """``expr`` with Grafana's macros and the template variables in ``selection`` replaced.

    Values of variables named in ``regex`` are concrete selections and are regex-escaped, as
    Grafana does for a multi-value variable; others (All values) go in as they are.
    """
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name not in selection:
            return match.group(0)
        value = selection[name]
        return regex_escape(value) if regex and name in regex else value

    return _VARIABLE.sub(replace, expr)


# --- npm tools in the cache ------------------------------------------------------------------
def ensure_node_tools() -> Path:
    """A directory whose ``node_modules`` holds ``NPM_PACKAGES`` (installed once, cached)."""
    if not shutil.which("npm") or not shutil.which("node"):
        raise RuntimeError("node and npm are needed to check the dashboards (apt install npm)")
    key = "-".join(f"{name.replace('/', '_').strip('@')}@{v}" for name, v in NPM_PACKAGES.items())
    home = cache_dir() / "node-tools" / key
    marker = home / ".installed"
    if marker.exists():
        return home
    with file_lock(cache_dir() / "node-tools.lock"):
        if marker.exists():
            return home
        home.mkdir(parents=True, exist_ok=True)
        specs = [f"{name}@{version}" for name, version in NPM_PACKAGES.items()]
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(home), *specs],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm install {' '.join(specs)} failed:\n{result.stderr[-4000:]}")
        marker.write_text("\n".join(specs) + "\n")
    return home


_COMPOSABLE = "@grafana/schema/dist/esm/raw/composable"
#: panel type -> (TypeScript name of its Options, of its FieldConfig) in ``panel_types.ts``
PANEL_TYPES = {
    "timeseries": ("TimeSeries.Options", "TimeSeries.FieldConfig"),
    "stat": ("Stat.Options", "NoCustom"),
    "table": ("Table.Options", "Table.FieldConfig"),
}

PRELUDE = f"""\
import type {{ DataQuery, Dashboard, FieldConfig, FieldConfigSource }} from "@grafana/schema";
import type {{ Panel }} from "@grafana/schema";
import type * as Stat from "{_COMPOSABLE}/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as Table from "{_COMPOSABLE}/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as TimeSeries from "{_COMPOSABLE}/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";
import type {{ TempoQuery }} from "{_COMPOSABLE}/tempo/dataquery/x/TempoDataQuery_types.gen";

type NoCustom = Record<string, never>;

/** Grafana's Prometheus query model (@grafana/prometheus dataquery.ts); not in @grafana/schema. */
interface PromQuery extends DataQuery {{
  expr: string;
  editorMode?: "code" | "builder";
  exemplar?: boolean;
  format?: "time_series" | "table" | "heatmap";
  instant?: boolean;
  interval?: string;
  intervalFactor?: number;
  legendFormat?: string;
  range?: boolean;
}}

/** A type as JSON spells it: TypeScript enums become the union of their values (JSON has
 * "value" where the types say BigValueColorMode.Value); everything else is unchanged. */
type Json<T> = T extends string
  ? `${{T}}`
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends object
        ? {{ [K in keyof T]: Json<T[K]> }}
        : T;

/** A panel whose options, field config and queries are checked against its plugin's types. */
type Typed<O, C, Q> = Json<
  Omit<Panel, "options" | "fieldConfig" | "targets"> & {{
    options: O;
    fieldConfig?: Omit<FieldConfigSource, "defaults"> & {{
      defaults: Omit<FieldConfig, "custom"> & {{ custom?: C }};
    }};
    targets: Q[];
  }}
>;
"""


def typescript_source(path: Path) -> str:
    """The dashboard as TypeScript: the whole as ``Dashboard``, each panel as its plugin's type."""
    dashboard = load(path)
    lines = [PRELUDE, f"export const dashboard: Json<Dashboard> = {json.dumps(dashboard)};"]
    for index, panel in enumerate(panels(dashboard)):
        options, custom = PANEL_TYPES[panel["type"]]
        sources = {(t.get("datasource") or {}).get("type") for t in panel.get("targets", [])}
        query = "TempoQuery" if sources == {"tempo"} else "PromQuery"
        lines.append(
            f"export const panel{index}: Typed<{options}, {custom}, {query}> = {json.dumps(panel)};"
        )
    return "\n".join(lines) + "\n"


def typecheck(paths: list[Path]) -> dict[str, list[str]]:
    """``tsc --noEmit --strict --skipLibCheck`` over every dashboard: errors by file name."""
    tools = ensure_node_tools()
    with tempfile.TemporaryDirectory(dir=tools) as scratch:
        names = {}
        for path in paths:
            source = Path(scratch) / (path.stem.replace("-", "_") + ".ts")
            source.write_text(typescript_source(path))
            names[source.name] = path.name
        tsc = tools / "node_modules" / "typescript" / "bin" / "tsc"
        result = subprocess.run(
            [
                "node",
                str(tsc),
                "--noEmit",
                "--strict",
                "--skipLibCheck",
                "--target",
                "es2022",
                "--module",
                "esnext",
                "--moduleResolution",
                "node10",
                *sorted(names),
            ],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=300,
        )
        errors: dict[str, list[str]] = {name: [] for name in names.values()}
        for line in (result.stdout + result.stderr).splitlines():
            source_name = line.split("(", 1)[0]
            if source_name in names:
                errors[names[source_name]].append(line)
            elif line.strip():
                errors.setdefault("<tsc>", []).append(line)
        if result.returncode != 0 and not any(errors.values()):
            errors["<tsc>"] = [f"tsc exited {result.returncode}", result.stdout, result.stderr]
        return errors


_TRACEQL_CHECK = """
const { parser } = require("@grafana/lezer-traceql");
const queries = JSON.parse(require("fs").readFileSync(0, "utf8"));
const errors = queries.map((q) => {
  const bad = [];
  parser.parse(q).iterate({ enter: (n) => { if (n.type.isError) bad.push(n.from); } });
  return bad.length ? `syntax error at ${bad.join(", ")}: ${q}` : null;
});
process.stdout.write(JSON.stringify(errors));
"""


def traceql_errors(queries: list[str]) -> list[str | None]:
    """Grafana's TraceQL grammar's verdict on each query: ``None`` or an error."""
    tools = ensure_node_tools()
    result = subprocess.run(
        ["node", "-e", _TRACEQL_CHECK],
        input=json.dumps(queries),
        cwd=tools,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"node failed: {result.stderr}")
    return list(json.loads(result.stdout))

"""Parity: otelstream's ``events``/``debug`` streams equal LangGraph's own, event for event.

Every corpus graph (``graphs.py``) and every further shape users build (``shapes.py``: LCEL
chains outside any graph, the functional API, the prebuilt agent, ``Command``, ``Send`` to
subgraphs, nested subgraphs, resume, retries, fallbacks, batches) runs three ways, each on a
fresh graph or chain:

(a) natively: ``astream_events(..., version="v2")`` and, for graphs,
    ``graph.stream(stream_mode="debug")`` (``astream`` for async cases);
(b) through ``otelstream.astream_events`` and ``otelstream.stream``/``astream``;
(c) followed by ``otelstream.subscribe`` while another thread runs it as its users do: a plain
    ``invoke``/``ainvoke`` of a graph (or the case's own start, e.g. a ``batch``), and
    ``stream``/``astream`` of a chain.

A debug-only subscription is compared with LangGraph's own ``stream_mode="debug"`` (models do
not stream for it), and ``otelstream.stream`` with LangGraph's own modes beside ``events``
and ``debug`` (``messages``, ``updates``, ``subgraphs``) with the native modes.

Streams are compared after normalizing what differs from run to run: run ids, task ids,
checkpoint ids, message ids and interrupt ids become placeholders numbered by first appearance
in the stream, and debug timestamps are dropped. Everything else (event, name, tags, metadata,
parent_ids, data) must be identical. Cases whose branches run in parallel (``Send``, parallel
tool calls, ``RunnableParallel``, functional tasks) interleave their runs as threads and the
event loop schedule them, natively too, so their streams are compared per run (each run's
events in order) rather than in global order.
"""

from __future__ import annotations

import asyncio
import difflib
import pprint
import re
import threading
import uuid
from collections import Counter
from typing import Any

import pytest
from graphs import CORPUS, Case
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from shapes import SHAPES

import otelstream

CASES = CORPUS + SHAPES
GRAPHS = [case for case in CASES if case.graph]


def params(cases: list[Case], events: bool = True) -> list[Any]:
    """The cases as test parameters. One whose native ``astream_events`` is broken in the
    installed LangGraph is skipped where events are compared."""
    return [
        pytest.param(
            c,
            id=c.name,
            marks=[
                pytest.mark.skipif(events and c.native_bug is not None, reason=str(c.native_bug))
            ],
        )
        for c in cases
    ]


# uuids (run, task, checkpoint and message ids: ``lc_run--<uuid>``, ``run-<uuid>``) and 32-hex
# digests (interrupt ids)
_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])"
)


# --- normalization ---
class Ids:
    """Replaces ids by ``<prefixN>`` in order of first appearance (with optional fixed names)."""

    def __init__(self, prefix: str = "id", fixed: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.fixed = dict(fixed or {})
        self.seen: dict[str, str] = {}

    def get(self, raw: str) -> str:
        if raw in self.fixed:
            return self.fixed[raw]
        if raw not in self.seen:
            self.seen[raw] = f"<{self.prefix}{len(self.seen)}>"
        return self.seen[raw]

    def sub(self, text: str) -> str:
        return _ID.sub(lambda m: self.get(m.group()), text)


class Wildcard(Ids):
    """Every id becomes ``<id>`` (for labels that must not depend on ids)."""

    def get(self, raw: str) -> str:
        return self.fixed.get(raw, "<id>")


def canon(obj: Any, ids: Ids) -> Any:
    """A plain, comparable copy of ``obj`` with ids replaced; dicts walked in key order."""
    if isinstance(obj, str):
        return ids.sub(obj)
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if isinstance(obj, dict):
        keys = sorted(obj, key=repr)
        return {canon(k, ids): canon(obj[k], ids) for k in keys}
    if isinstance(obj, list):
        return [canon(v, ids) for v in obj]
    if isinstance(obj, tuple):
        return tuple(canon(v, ids) for v in obj)
    # messages, documents, interrupts, exceptions, ...: their repr, type included
    return f"{type(obj).__module__}.{type(obj).__qualname__}: {ids.sub(repr(obj))}"


_EVENT_KEYS = ("run_id", "parent_ids", "event", "name", "tags", "metadata", "data")


def norm_event(event: dict[str, Any], ids: Ids) -> dict[str, Any]:
    assert set(event) == set(_EVENT_KEYS), f"unexpected keys {sorted(event)}"
    return {k: canon(event[k], ids) for k in _EVENT_KEYS}


def norm_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = Ids("r")
    return [norm_event(e, ids) for e in events]


def norm_debug_item(item: dict[str, Any], ids: Ids) -> dict[str, Any]:
    assert "timestamp" in item, item
    return canon({k: v for k, v in item.items() if k != "timestamp"}, ids)


def norm_debug(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = Ids("id")
    return [norm_debug_item(item, ids) for item in items]


# --- unordered (parallel branches) ---
def run_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run's events in order, but for its consecutive ``on_chain_stream`` chunks, put in a
    canonical order (compared as a multiset): a graph or a ``RunnableParallel`` reports its
    branches' outputs in the order they finish, which threads and the event loop decide."""
    ordered: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []

    def key(e: dict[str, Any]) -> str:
        return repr(canon(e["data"], Wildcard()))

    for e in events:
        if e["event"] == "on_chain_stream":
            chunks.append(e)
            continue
        ordered.extend(sorted(chunks, key=key))
        chunks = []
        ordered.append(e)
    return ordered + sorted(chunks, key=key)


def run_labels(events: list[dict[str, Any]]) -> dict[str, str]:
    """A label per run id that does not depend on ids or on the interleaving of runs.

    A run is named by its parent's label, its name and the content of its own events (other
    ids wildcarded); identical siblings are numbered in order of appearance.
    """
    per_run: dict[str, list[dict[str, Any]]] = {}
    parents: dict[str, str | None] = {}
    for e in events:
        per_run.setdefault(e["run_id"], []).append(e)
        parents.setdefault(e["run_id"], e["parent_ids"][-1] if e["parent_ids"] else None)
    labels: dict[str, str] = {}
    counts: Counter[str] = Counter()

    def label(run_id: str) -> str:
        if run_id not in labels:
            parent = parents.get(run_id)
            prefix = label(parent) if parent in per_run else "" if parent is None else "<ext>"
            wild = Wildcard(fixed={run_id: "<self>"})
            body = [
                {k: canon(e[k], wild) for k in ("event", "name", "data")}
                for e in run_order(per_run[run_id])
            ]
            base = f"{prefix}/{per_run[run_id][0]['name']}{{{abs(hash(repr(body))) % 10**8}}}"
            labels[run_id] = f"{base}#{counts[base]}"
            counts[base] += 1
        return labels[run_id]

    for run_id in per_run:
        label(run_id)
    return labels


def norm_events_by_run(events: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Each run's events (see ``run_order``), keyed by an interleaving-independent label; other
    ids (message ids) numbered in that order, run by run in label order."""
    labels = run_labels(events)
    fixed = {raw: f"<{lab}>" for raw, lab in labels.items()}
    # task ids: named after the shallowest run whose checkpoint namespace carries them
    for e in sorted(events, key=lambda e: (len(e["parent_ids"]), labels[e["run_id"]])):
        for key in ("langgraph_checkpoint_ns", "checkpoint_ns"):
            for raw in _ID.findall(str(e["metadata"].get(key, ""))):
                fixed.setdefault(raw, f"<task of {labels[e['run_id']]}>")
    ids = Ids("other", fixed)
    per_run: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        per_run.setdefault(labels[e["run_id"]], []).append(e)
    return {
        label: [norm_event(e, ids) for e in run_order(per_run[label])] for label in sorted(per_run)
    }


def norm_debug_unordered(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Debug items of parallel tasks: task ids named by task name and input; task results as a
    multiset, everything else in order within its namespace (parallel subgraphs run their
    loops side by side)."""
    fixed: dict[str, str] = {}
    for item in items:
        if item["type"] == "task":
            p = item["payload"]
            fixed.setdefault(p["id"], f"<task {p['name']} {canon(p['input'], Wildcard())!r}>")
    ids = Ids("id", fixed)
    ordered: dict[str, list[Any]] = {}
    for item in items:
        if item["type"] != "task_result":
            namespace = repr(canon(item.get("namespace", ()), ids))
            ordered.setdefault(namespace, []).append(norm_debug_item(item, ids))
    results = [norm_debug_item(i, ids) for i in items if i["type"] == "task_result"]
    return {"ordered": ordered, "task_results": sorted(results, key=repr)}


# --- assertions ---
def assert_same(expected: Any, actual: Any, what: str) -> None:
    if expected == actual:
        return
    left = pprint.pformat(expected, width=110, sort_dicts=False).splitlines()
    right = pprint.pformat(actual, width=110, sort_dicts=False).splitlines()
    diff = "\n".join(difflib.unified_diff(left, right, "native", "otelstream", lineterm="", n=4))
    pytest.fail(f"{what} differs from the native stream:\n{diff}", pytrace=False)


def compare_events(case: Case, native: list[Any], ours: list[Any], what: str) -> None:
    assert ours, f"{what}: no events"
    if case.parallel:
        assert_same(norm_events_by_run(native), norm_events_by_run(ours), what)
        assert_same(
            sorted(map(repr, norm_events_by_run(native).values())),
            sorted(map(repr, norm_events_by_run(ours).values())),
            what,
        )
    else:
        assert_same(norm_events(native), norm_events(ours), what)


def compare_debug(case: Case, native: list[Any], ours: list[Any], what: str) -> None:
    assert ours, f"{what}: no debug items"
    if case.parallel:
        assert_same(norm_debug_unordered(native), norm_debug_unordered(ours), what)
    else:
        assert_same(norm_debug(native), norm_debug(ours), what)


# --- the three ways to run a case ---
def config_for(case: Case, thread_id: str) -> dict[str, Any]:
    config = case.config(thread_id)
    config["configurable"] = {**config.get("configurable", {}), "thread_id": thread_id}
    # astream_events fills in the config's defaults, over a graph's own with_config (the
    # prebuilt agent's recursion_limit); a plain invoke does not: give every run the same.
    config["recursion_limit"] = 25
    return config


def fresh(case: Case, thread_id: str) -> tuple[Any, dict[str, Any]]:
    """A new graph or chain and its run's config (past the case's ``before`` step)."""
    runnable, config = case.build(), config_for(case, thread_id)
    if case.before is not None:
        case.before(runnable, config)
    return runnable, config


async def acollect(aiter: Any) -> tuple[list[Any], BaseException | None]:
    out: list[Any] = []
    try:
        async for item in aiter:
            out.append(item)
    except Exception as exc:
        return out, exc
    return out, None


def collect(it: Any) -> tuple[list[Any], BaseException | None]:
    out: list[Any] = []
    try:
        for item in it:
            out.append(item)
    except Exception as exc:
        return out, exc
    return out, None


def check_raised(case: Case, error: BaseException | None, what: str) -> None:
    if case.raises is None:
        assert error is None, f"{what} raised {error!r}"
    else:
        assert type(error) is case.raises, f"{what}: expected {case.raises}, got {error!r}"


def stream_native(case: Case, thread_id: str, **kwargs: Any) -> tuple[list[Any], Any]:
    """The items of LangGraph's own ``stream`` (``astream`` for async cases) of a fresh graph."""
    graph, config = fresh(case, thread_id)
    config.update(kwargs.pop("config", {}))
    if case.is_async:
        return asyncio.run(acollect(graph.astream(case.input, config, **kwargs)))
    return collect(graph.stream(case.input, config, **kwargs))


class StreamingModels(BaseCallbackHandler, _StreamingCallbackHandler):  # type: ignore[type-arg]
    """A pass-through streaming handler: with it, LangChain streams chat models, as it does
    under an ``events`` consumer, and nothing else changes."""

    def tap_output_iter(self, run_id: Any, output: Any) -> Any:
        return output

    def tap_output_aiter(self, run_id: Any, output: Any) -> Any:
        return output


def native_debug(case: Case, thread_id: str, *, tokens: bool = False) -> list[Any]:
    """LangGraph's own ``debug`` stream. With ``tokens``, chat models stream as they do under
    an ``events`` consumer (streamed messages carry the run's id, ``lc_run--<id>``, where a
    plain call gives ``lc_run--<id>-0``)."""
    config = {"callbacks": [StreamingModels()]} if tokens else {}
    items, error = stream_native(case, thread_id, stream_mode="debug", config=config)
    check_raised(case, error, "native debug stream")
    return items


def run_native(case: Case, thread_id: str) -> tuple[list[Any], list[Any]]:
    runnable, config = fresh(case, thread_id)
    events, error = asyncio.run(acollect(runnable.astream_events(case.input, config, version="v2")))
    check_raised(case, error, "native astream_events")
    return events, native_debug(case, thread_id) if case.graph else []


def run_otelstream(case: Case, thread_id: str) -> tuple[list[Any], list[Any]]:
    runnable, config = fresh(case, thread_id)
    events, error = asyncio.run(acollect(otelstream.astream_events(runnable, case.input, config)))
    check_raised(case, error, "otelstream.astream_events")
    if not case.graph:
        return events, []
    graph, config = fresh(case, thread_id)
    if case.is_async:
        debug, error = asyncio.run(
            acollect(otelstream.astream(graph, case.input, config, stream_mode="debug"))
        )
    else:
        debug, error = collect(otelstream.stream(graph, case.input, config, stream_mode="debug"))
    check_raised(case, error, "otelstream debug stream")
    return events, debug


def run_subscribed(
    case: Case,
    thread_id: str,
    modes: tuple[str, ...] = ("events", "debug"),
    subgraphs: bool = False,
) -> tuple[list[Any], list[Any]]:
    """The streams of a subscription to a run another thread starts: by thread id for a graph,
    by run id for a chain."""
    runnable, config = fresh(case, thread_id)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            case.run(config, runnable)
        except BaseException as exc:
            errors.append(exc)

    if case.graph:
        sub = otelstream.subscribe(thread_id=thread_id, modes=modes, subgraphs=subgraphs)
    else:
        config["run_id"] = uuid.uuid4()
        sub = otelstream.subscribe(run_id=config["run_id"], modes=modes)
    with sub:
        worker = threading.Thread(target=target)
        worker.start()
        items = list(sub)
        worker.join(10)
    assert not worker.is_alive()
    check_raised(case, errors[0] if errors else None, "subscribed run")
    if case.raises is not None:
        assert type(sub.error) is case.raises, f"Subscription.error is {sub.error!r}"
    assert sub.dropped == 0
    kinds = Counter(mode for mode, _ in items)
    assert set(kinds) <= set(modes), kinds
    events = [chunk for mode, chunk in items if mode == "events"]
    debug = [chunk for mode, chunk in items if mode == "debug"]
    if not case.graph:
        assert debug == [], "a chain has no debug stream"
    return events, debug


# --- tests ---
def test_normalization_is_stable_across_native_runs() -> None:
    """Two native runs normalize to the same streams (the normalizer hides only ids)."""
    for case in (c for c in CASES if c.native_bug is None):
        thread_id = f"parity-self-{case.name}"
        first, second = run_native(case, thread_id), run_native(case, thread_id)
        compare_events(case, first[0], second[0], f"{case.name}: native events (rerun)")
        if case.graph:
            compare_debug(case, first[1], second[1], f"{case.name}: native debug (rerun)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", params(CASES))
def test_astream_events_and_stream_match_native(case: Case, exporter: InMemorySpanExporter) -> None:
    thread_id = f"parity-{case.name}"
    native_events, reference = run_native(case, thread_id)
    events, debug = run_otelstream(case, thread_id)
    compare_events(case, native_events, events, f"{case.name}: otelstream.astream_events")
    if case.graph:
        mode_fn = "astream" if case.is_async else "stream"
        compare_debug(case, reference, debug, f"{case.name}: otelstream.{mode_fn}(debug)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", params(CASES))
def test_subscriber_matches_native(case: Case, exporter: InMemorySpanExporter) -> None:
    thread_id = f"parity-{case.name}"
    native_events, _ = run_native(case, thread_id)
    events, debug = run_subscribed(case, thread_id)
    if case.known_difference is not None:  # asserted exactly, then the rest must be equal
        events = case.known_difference(native_events, events)
    compare_events(case, native_events, events, f"{case.name}: subscribe() events")
    if case.graph:
        # The subscription asks for events, so the run's chat models stream: compare its debug
        # stream with LangGraph's for a run whose models stream too.
        reference = native_debug(case, thread_id, tokens=True)
        compare_debug(case, reference, debug, f"{case.name}: subscribe() debug")


def with_namespaces(items: list[Any]) -> list[Any]:
    """``(namespace, chunk)`` debug items (``subgraphs``) as chunks that carry their namespace."""
    return [{**chunk, "namespace": namespace} for namespace, chunk in items]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("subgraphs", [False, True], ids=["flat", "subgraphs"])
@pytest.mark.parametrize("case", params(GRAPHS, events=False))
def test_debug_subscriber_matches_native(
    case: Case, subgraphs: bool, exporter: InMemorySpanExporter
) -> None:
    """A debug-only subscription: LangGraph's own ``stream_mode="debug"`` (with ``subgraphs``,
    namespaces and subgraph chunks included), models not streamed (a streamed message's id
    would differ)."""
    thread_id = f"parity-debug-{case.name}"
    events, debug = run_subscribed(case, thread_id, modes=("debug",), subgraphs=subgraphs)
    assert events == []
    if subgraphs:
        reference, error = stream_native(case, thread_id, stream_mode="debug", subgraphs=True)
        check_raised(case, error, "native debug stream")
        reference, debug = with_namespaces(reference), with_namespaces(debug)
    else:
        reference = native_debug(case, thread_id)
    compare_debug(case, reference, debug, f"{case.name}: debug subscription")


FILTERED = [c for c in CASES if c.name in ("agent", "custom_events", "lcel_sequence", "resume")]
FILTERS = {
    "types": {"include_types": ["chat_model", "chain"], "exclude_names": ["RunnableSequence"]},
    "names": {"include_names": ["FakeChatModel", "tools", "respond", "review", "progress"]},
    "tags": {"include_tags": ["corpus"], "exclude_tags": ["seq:step:1"]},
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("filters", list(FILTERS))
@pytest.mark.parametrize("case", params(FILTERED))
def test_astream_events_filters_match_native(
    case: Case, filters: str, exporter: InMemorySpanExporter
) -> None:
    """``include_*``/``exclude_*`` as ``astream_events`` applies them, also when they leave
    the root out (then the first event it yields carries the caller's input)."""
    runnable, config = fresh(case, "parity-filters")
    kwargs = FILTERS[filters]
    native, error = asyncio.run(
        acollect(runnable.astream_events(case.input, config, version="v2", **kwargs))
    )
    check_raised(case, error, "native astream_events")
    runnable, config = fresh(case, "parity-filters")
    ours, error = asyncio.run(
        acollect(otelstream.astream_events(runnable, case.input, config, **kwargs))
    )
    check_raised(case, error, "otelstream.astream_events")
    compare_events(case, native, ours, f"{case.name}: astream_events({filters} filters)")


WITH_MODELS = [c for c in GRAPHS if c.name in ("agent", "react_agent", "nested_subgraphs")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("subgraphs", [False, True], ids=["flat", "subgraphs"])
@pytest.mark.parametrize("case", params(WITH_MODELS))
def test_stream_with_native_modes_matches_native(
    case: Case, subgraphs: bool, exporter: InMemorySpanExporter
) -> None:
    """``messages`` and ``updates`` pass through beside ``events`` and ``debug``, each mode as
    LangGraph yields it (``subgraphs`` namespaces included)."""
    thread_id = f"parity-modes-{case.name}"
    native_modes = ["messages", "updates", "debug"]
    native, error = stream_native(case, thread_id, stream_mode=native_modes, subgraphs=subgraphs)
    check_raised(case, error, "native stream")
    graph, config = fresh(case, thread_id)
    ours, error = collect(
        otelstream.stream(
            graph, case.input, config, stream_mode=[*native_modes, "events"], subgraphs=subgraphs
        )
    )
    check_raised(case, error, "otelstream.stream")

    def by_mode(items: list[Any]) -> dict[str, list[Any]]:
        """Each mode's chunks; with ``subgraphs``, debug chunks carry their namespace."""
        modes: dict[str, list[Any]] = {}
        for item in items:
            *namespace, mode, chunk = item
            if subgraphs and mode == "debug":
                chunk = with_namespaces([(namespace[0], chunk)])[0]
            elif subgraphs and mode != "events":
                chunk = (namespace[0], chunk)
            modes.setdefault(mode, []).append(chunk)
        return modes

    expected, got = by_mode(native), by_mode(ours)
    assert set(got) == {*expected, "events"}
    for mode in set(expected) - {"debug"}:
        if case.parallel:  # parallel tools: their messages and updates in completion order
            assert_same(
                sorted(map(repr, canon(expected[mode], Wildcard()))),
                sorted(map(repr, canon(got[mode], Wildcard()))),
                f"{case.name}: {mode}",
            )
        else:
            assert_same(
                canon(expected[mode], Ids()), canon(got[mode], Ids()), f"{case.name}: {mode}"
            )
    compare_debug(case, expected["debug"], got["debug"], f"{case.name}: debug beside native modes")
    native_events, _ = run_native(case, thread_id)
    compare_events(case, native_events, got["events"], f"{case.name}: events beside native modes")

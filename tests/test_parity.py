"""Parity: otelstream's ``events``/``debug`` streams equal LangGraph's own, event for event.

Every corpus graph runs three ways, each on a fresh graph:

(a) natively: ``graph.astream_events(..., version="v2")`` and ``graph.stream(stream_mode="debug")``
    (``astream`` for async graphs);
(b) through ``otelstream.astream_events`` and ``otelstream.stream``/``astream``;
(c) as a plain ``invoke``/``ainvoke`` in another thread, followed by ``otelstream.subscribe``.

Streams are compared after normalizing what differs from run to run: run ids, task ids,
checkpoint ids, message ids and interrupt ids become placeholders numbered by first appearance
in the stream, and debug timestamps are dropped. Everything else (event, name, tags, metadata,
parent_ids, data) must be identical. The ``fanout`` graph runs its branches in parallel, so its
streams are compared per run (each run's events in order) rather than in global order.
"""

from __future__ import annotations

import asyncio
import difflib
import pprint
import re
import threading
from collections import Counter
from typing import Any

import pytest
from graphs import CORPUS, Case
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelstream

UNORDERED = {"fanout"}  # parallel branches: compare per run, not in global order

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
                {k: canon(e[k], wild) for k in ("event", "name", "data")} for e in per_run[run_id]
            ]
            base = f"{prefix}/{per_run[run_id][0]['name']}{{{abs(hash(repr(body))) % 10**8}}}"
            labels[run_id] = f"{base}#{counts[base]}"
            counts[base] += 1
        return labels[run_id]

    for run_id in per_run:
        label(run_id)
    return labels


def norm_events_by_run(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each run's events in order, keyed by an interleaving-independent label."""
    labels = run_labels(events)
    fixed = {raw: f"<{lab}>" for raw, lab in labels.items()}
    # task ids: named after the shallowest run whose checkpoint namespace carries them
    for e in sorted(events, key=lambda e: (len(e["parent_ids"]), labels[e["run_id"]])):
        for key in ("langgraph_checkpoint_ns", "checkpoint_ns"):
            for raw in _ID.findall(str(e["metadata"].get(key, ""))):
                fixed.setdefault(raw, f"<task of {labels[e['run_id']]}>")
    ids = Ids("other", fixed)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_run.setdefault(labels[e["run_id"]], []).append(norm_event(e, ids))
    return by_run


def norm_debug_unordered(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Debug items of parallel tasks: task ids named by task name and input; task results as a
    multiset, everything else in order."""
    fixed: dict[str, str] = {}
    for item in items:
        if item["type"] == "task":
            p = item["payload"]
            fixed.setdefault(p["id"], f"<task {p['name']} {canon(p['input'], Wildcard())!r}>")
    ids = Ids("id", fixed)
    ordered = [norm_debug_item(i, ids) for i in items if i["type"] != "task_result"]
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
    if case.name in UNORDERED:
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
    if case.name in UNORDERED:
        assert_same(norm_debug_unordered(native), norm_debug_unordered(ours), what)
    else:
        assert_same(norm_debug(native), norm_debug(ours), what)


# --- the three ways to run a case ---
def config_for(case: Case, thread_id: str) -> dict[str, Any]:
    config = case.config(thread_id)
    config["configurable"] = {**config.get("configurable", {}), "thread_id": thread_id}
    return config


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


def native_debug(case: Case, thread_id: str, *, tokens: bool = False) -> list[Any]:
    """LangGraph's own ``debug`` stream. With ``tokens``, the ``messages`` mode is asked for too,
    so chat models stream as they do under an ``events`` consumer (streamed messages carry the
    run's id, ``lc_run--<id>``, where a plain call gives ``lc_run--<id>-0``)."""
    graph = case.build()
    mode: Any = ["debug", "messages"] if tokens else "debug"
    if case.is_async:
        items, error = asyncio.run(
            acollect(graph.astream(case.input, config_for(case, thread_id), stream_mode=mode))
        )
    else:
        items, error = collect(
            graph.stream(case.input, config_for(case, thread_id), stream_mode=mode)
        )
    check_raised(case, error, "native debug stream")
    return [chunk for m, chunk in items if m == "debug"] if tokens else items


def run_native(case: Case, thread_id: str) -> tuple[list[Any], list[Any]]:
    events, error = asyncio.run(
        acollect(case.build().astream_events(case.input, config_for(case, thread_id), version="v2"))
    )
    check_raised(case, error, "native astream_events")
    return events, native_debug(case, thread_id)


def run_otelstream(case: Case, thread_id: str) -> tuple[list[Any], list[Any]]:
    events, error = asyncio.run(
        acollect(otelstream.astream_events(case.build(), case.input, config_for(case, thread_id)))
    )
    check_raised(case, error, "otelstream.astream_events")
    graph = case.build()
    if case.is_async:
        debug, error = asyncio.run(
            acollect(
                otelstream.astream(
                    graph, case.input, config_for(case, thread_id), stream_mode="debug"
                )
            )
        )
    else:
        debug, error = collect(
            otelstream.stream(graph, case.input, config_for(case, thread_id), stream_mode="debug")
        )
    check_raised(case, error, "otelstream debug stream")
    return events, debug


def run_subscribed(case: Case, thread_id: str) -> tuple[list[Any], list[Any]]:
    config = config_for(case, thread_id)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            case.run(config)
        except BaseException as exc:
            errors.append(exc)

    with otelstream.subscribe(thread_id=thread_id, modes=("events", "debug")) as sub:
        worker = threading.Thread(target=target)
        worker.start()
        items = list(sub)
        worker.join(10)
    assert not worker.is_alive()
    check_raised(case, errors[0] if errors else None, "subscribed invoke")
    if case.raises is not None:
        assert type(sub.error) is case.raises, f"Subscription.error is {sub.error!r}"
    assert sub.dropped == 0
    modes = Counter(mode for mode, _ in items)
    assert set(modes) <= {"events", "debug"}, modes
    events = [chunk for mode, chunk in items if mode == "events"]
    debug = [chunk for mode, chunk in items if mode == "debug"]
    return events, debug


# --- tests ---
def test_normalization_is_stable_across_native_runs() -> None:
    """Two native runs normalize to the same streams (the normalizer hides only ids)."""
    for case in CORPUS:
        thread_id = f"parity-self-{case.name}"
        first, second = run_native(case, thread_id), run_native(case, thread_id)
        compare_events(case, first[0], second[0], f"{case.name}: native events (rerun)")
        compare_debug(case, first[1], second[1], f"{case.name}: native debug (rerun)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_astream_events_and_stream_match_native(case: Case, exporter: InMemorySpanExporter) -> None:
    thread_id = f"parity-{case.name}"
    native_events, reference = run_native(case, thread_id)
    events, debug = run_otelstream(case, thread_id)
    compare_events(case, native_events, events, f"{case.name}: otelstream.astream_events")
    mode_fn = "astream" if case.is_async else "stream"
    compare_debug(case, reference, debug, f"{case.name}: otelstream.{mode_fn}(debug)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_subscriber_matches_native(case: Case, exporter: InMemorySpanExporter) -> None:
    thread_id = f"parity-{case.name}"
    native_events, _ = run_native(case, thread_id)
    events, debug = run_subscribed(case, thread_id)
    compare_events(case, native_events, events, f"{case.name}: subscribe() events")
    # The subscription asks for events, so the run's chat models stream: compare its debug
    # stream with LangGraph's for a run whose models stream too.
    reference = native_debug(case, thread_id, tokens=True)
    compare_debug(case, reference, debug, f"{case.name}: subscribe() debug")

"""Replay: a recorded run's ``events`` or ``debug`` stream, rebuilt from its exported spans.

Reads OTLP/JSON lines (the embedded default's file, or a Collector ``file`` exporter's) and
rebuilds what the live subscriber delivered for one root run, from the spans alone: each span
is a run (its ``langchain.run.*`` attributes give the event's run id, name, tags, metadata,
parents, input and output; where a GenAI or OpenInference attribute carries the same
payload, that one is read instead, see ``spans/payloads.py``), its span events hold the
stream chunks (message chunks in the compact form of ``spans/tokens.py``), custom events and
tool errors, and the ``*_seq`` attributes give the order in which everything happened.
Payloads come back in their JSON form. Where content capture was off they read
``"[redacted]"``, and where a payload was cut by the length limit it stays cut (marked):
nothing is invented.

The ``debug`` stream is in the trace only for runs that had a live ``debug`` consumer (that is
when LangGraph produces it); for other runs replay says so instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from otelstream import lifecycle
from otelstream import semconv as sc
from otelstream.export.otlp_file import default_path
from otelstream.export.recorded import (
    RecordedSpan,
    RecordingError,
    default_recordings,
    newest_run_trace,
    run_spans,
)
from otelstream.spans import tokens
from otelstream.spans.attributes import implied_name
from otelstream.streams import formats
from otelstream.streams.formats import DEBUG, EVENTS

# OpenInference's names (``spans/openinference.py``), spelled out: replay runs without the
# optional ``openinference-semantic-conventions`` package.
OI_INPUT = "input.value"
OI_OUTPUT = "output.value"
OI_METADATA = "metadata"


class ReplayError(Exception):
    """The file holds no run to replay (or not the one asked for)."""


# --- choosing the run -------------------------------------------------------------------------
def _files(path: str | Path | None) -> list[Path]:
    """``path``, or the embedded default's file and its rotated files."""
    if path is not None:
        return [Path(path)]
    files = default_recordings()
    if not files:
        raise ReplayError(
            f"no recorded runs: {default_path()} does not exist (otelstream writes it when no "
            "exporter or endpoint is configured; OTELSTREAM_FILE moves it)"
        )
    return files


def _run(files: list[Path], trace_id: str | None) -> list[RecordedSpan]:
    """The spans of one root run: in ``trace_id``, else in the trace of the newest root run;
    read from the files without holding other traces in memory."""
    try:
        wanted = trace_id.lower() if trace_id is not None else newest_run_trace(files)
        runs = run_spans(files, wanted) if wanted is not None else []
    except RecordingError as exc:
        raise ReplayError(str(exc)) from exc
    if not runs:
        if trace_id is not None:
            raise ReplayError(f"no otelstream run in trace {trace_id}")
        raise ReplayError(f"no otelstream run in {', '.join(map(str, files))}")
    return _root_run(runs)


def _root_run(runs: list[RecordedSpan]) -> list[RecordedSpan]:
    """The latest root run of one trace's run spans, with its descendants."""
    by_id = {s.span_id: s for s in runs}
    roots = [s for s in runs if s.parent_span_id not in by_id]
    root = max(roots, key=lambda s: (s.end_ns, s.attributes.get(sc.LC_START_SEQ, 0)))
    children: dict[str, list[RecordedSpan]] = {}
    for s in runs:
        children.setdefault(s.parent_span_id, []).append(s)
    subtree, todo = [], [root]
    while todo:
        span = todo.pop()
        subtree.append(span)
        todo.extend(children.get(span.span_id, ()))
    return subtree


# --- rebuilding the streams -------------------------------------------------------------------
def replay(
    path: str | Path | None = None,
    *,
    stream_mode: str = EVENTS,
    trace_id: str | None = None,
    subgraphs: bool = False,
) -> list[Any]:
    """The ``events`` (v2 event dicts) or ``debug`` stream of a recorded root run.

    ``path`` is an OTLP/JSON lines file; by default, the embedded default's file and its
    rotated files. ``trace_id`` picks the trace (default: the one whose root run ended last);
    its latest root run is replayed.
    """
    if stream_mode not in (EVENTS, DEBUG):
        raise ValueError(f"stream_mode must be 'events' or 'debug', got {stream_mode!r}")
    run = _run(_files(path), trace_id)
    if stream_mode == EVENTS:
        return [event for _, event in sorted(_events(run), key=lambda pair: pair[0])]
    chunks = sorted(_debug(run, subgraphs), key=lambda pair: pair[0])
    if not chunks:
        raise ReplayError(
            "this run has no recorded debug stream: LangGraph produces it only for runs with a "
            "live debug consumer (otelstream.stream/subscribe with 'debug')"
        )
    return [chunk for _, chunk in chunks]


def _load(text: Any) -> Any:
    """A recorded payload: its JSON value, or the text itself (redacted or truncated)."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _metadata(a: dict[str, Any]) -> Any:
    """A run's metadata, in either flavour."""
    return _load(a.get(sc.LC_RUN_METADATA, a.get(OI_METADATA, "{}")))


def _name(span: RecordedSpan, metadata: Any) -> str:
    """The run's name: recorded, or the one its span's name implies."""
    a = span.attributes
    if sc.LC_RUN_NAME in a:
        return str(a[sc.LC_RUN_NAME])
    return implied_name(span.name, lifecycle.is_node_run(metadata, a.get(sc.LC_RUN_TAGS, [])))


def _is_task(span: RecordedSpan) -> bool:
    """A node or functional task run (the runs whose output LangGraph may stream)."""
    a = span.attributes
    metadata = _metadata(a)
    return lifecycle.is_node_run(metadata, a.get(sc.LC_RUN_TAGS, [])) or (
        formats.is_functional_task(_name(span, metadata), metadata)
    )


# Where a run's payloads are, by flavour (``spans/payloads.py``): the first attribute found.
_INPUTS = {
    "retriever": (sc.GEN_AI_RETRIEVAL_QUERY_TEXT, OI_INPUT),  # the query, as text
    "tool": (sc.LC_RUN_INPUT, sc.GEN_AI_TOOL_CALL_ARGUMENTS, OI_INPUT),
}
_DEFAULT_INPUTS = (sc.LC_RUN_INPUT, OI_INPUT)
_OUTPUTS = (sc.LC_RUN_OUTPUT, sc.GEN_AI_TOOL_CALL_RESULT, sc.GEN_AI_RETRIEVAL_DOCUMENTS, OI_OUTPUT)


def _input(run_type: str, a: dict[str, Any]) -> tuple[bool, Any]:
    """Whether the run's input was recorded, and its value."""
    for key in _INPUTS.get(run_type, _DEFAULT_INPUTS):
        if key in a:
            if run_type == "retriever":
                return True, {"query": a[key]}
            return True, _load(a[key])
    return False, None


def _output(a: dict[str, Any]) -> Any:
    """The run's output (the caller checked one was recorded)."""
    if sc.LC_RUN_OUTPUT in a:
        output = _load(a[sc.LC_RUN_OUTPUT])
        if isinstance(output, dict) and "content" not in output and sc.GEN_AI_TOOL_CALL_RESULT in a:
            return {"content": a[sc.GEN_AI_TOOL_CALL_RESULT], **output}  # a ToolMessage's text
        return output
    if sc.GEN_AI_TOOL_CALL_RESULT in a:
        return _load(a[sc.GEN_AI_TOOL_CALL_RESULT])
    if sc.GEN_AI_RETRIEVAL_DOCUMENTS in a:
        found = _load(a[sc.GEN_AI_RETRIEVAL_DOCUMENTS])
        if not isinstance(found, list):  # redacted, or cut
            return found
        return [
            {
                "id": doc.get("id"),
                "metadata": doc.get("metadata", {}),
                "page_content": doc.get("content"),
                "type": "Document",
            }
            for doc in found
        ]
    return _load(a[OI_OUTPUT])


def _chunks(ea: dict[str, Any], count: int) -> list[Any]:
    """The chunks of one coalesced stream span event (compact message chunks or a plain JSON
    list); redacted or cut ones repeat the recorded text, ``count`` times."""
    if sc.LC_EVENT_TEXT_LENGTHS in ea:
        decoded = tokens.decode(
            ea.get(sc.LC_EVENT_TEXT),
            ea.get(sc.LC_EVENT_TEXT_LENGTHS),
            _load(ea.get(sc.LC_EVENT_CHUNK)),
            _load(ea.get(sc.LC_EVENT_DELTAS)),
        )
        if decoded is not None:
            return decoded
        return [ea.get(sc.LC_EVENT_TEXT)] * count
    chunks = _load(ea.get(sc.LC_EVENT_DATA_LIST))
    return chunks if isinstance(chunks, list) else [chunks] * count


def _seqs(ea: dict[str, Any]) -> list[int]:
    """The sequence numbers of a coalesced stream event's chunks: listed, or the range from
    the first when they follow each other."""
    if sc.LC_EVENT_SEQS in ea:
        return list(ea[sc.LC_EVENT_SEQS])
    first = ea.get(sc.LC_EVENT_SEQ, 0)
    return list(range(first, first + int(ea.get(sc.LC_EVENT_COUNT, 0))))


def _events(spans: list[RecordedSpan]) -> Iterator[tuple[float, dict[str, Any]]]:
    root = spans[0]
    by_span = {span.span_id: span for span in spans}
    # A run whose nodes streamed (it ran asynchronously) recorded their chunks.
    nodes_stream = any(
        any(e.name == formats.NODE_CHUNK_EVENT for e in span.events) and _is_task(span)
        for span in spans
    )
    # Parent ids are recorded where a span's parent is not its parent run's span; else they
    # are the parent's and its run id (spans come parents first).
    parent_ids: dict[str, list[str]] = {}
    for span in spans:
        a = span.attributes
        run_type = a.get(sc.LC_RUN_TYPE, "chain")
        metadata = _metadata(a)
        if sc.LC_RUN_PARENT_IDS in a or span.parent_span_id not in parent_ids:
            ids = list(a.get(sc.LC_RUN_PARENT_IDS, []))
        else:
            parent = by_span[span.parent_span_id]
            ids = [*parent_ids[span.parent_span_id], parent.attributes[sc.LC_RUN_ID]]
        parent_ids[span.span_id] = ids
        base = {
            "run_id": a[sc.LC_RUN_ID],
            "name": _name(span, metadata),
            "tags": a.get(sc.LC_RUN_TAGS, []),
            "metadata": metadata,
            "parent_ids": ids,
        }
        has_input, value_in = _input(run_type, a)
        if span is root:
            start_data = formats.first_event_data({}, value_in)
        elif run_type == "tool":
            start_data = {"input": value_in or {}}
        else:
            start_data = {"input": value_in} if has_input else {}
        start = a.get(sc.LC_START_SEQ, 0)
        yield start, {"event": f"on_{run_type}_start", "data": start_data, **base}
        streamed = False
        for event in span.events:
            ea = event.attributes
            if event.name.endswith("_stream") and sc.LC_EVENT_COUNT in ea:
                streamed = streamed or event.name == formats.NODE_CHUNK_EVENT
                seqs = _seqs(ea)
                chunks = _chunks(ea, len(seqs))
                for seq, chunk in zip(seqs, chunks, strict=False):
                    yield seq, {"event": event.name, "data": {"chunk": chunk}, **base}
            elif event.name == "on_custom_event":
                custom = {
                    **base,
                    "event": "on_custom_event",
                    "name": ea.get(sc.LC_EVENT_NAME, ""),
                    "tags": ea.get(sc.LC_RUN_TAGS, []),
                    "data": _load(ea.get(sc.LC_EVENT_DATA)),
                }
                if sc.LC_RUN_METADATA in ea:
                    custom["metadata"] = _load(ea[sc.LC_RUN_METADATA])
                yield ea.get(sc.LC_EVENT_SEQ, start), custom
            elif event.name == "on_tool_error" and formats.reported(lifecycle.ERROR, event.name):
                error = _load(ea.get(sc.LC_EVENT_DATA))
                data = {"input": value_in}
                data.update(error if isinstance(error, dict) else {"error": error})
                yield (
                    ea.get(sc.LC_EVENT_SEQ, start),
                    {"event": "on_tool_error", "data": data, **base},
                )
        if not any(key in a for key in _OUTPUTS):
            continue  # ended with an error, an interrupt or a cancellation: no end event
        end = a.get(sc.LC_END_SEQ, start)
        end_data = {"output": _output(a)}
        if sc.LC_RUN_END_INPUT in a:
            end_data["input"] = _load(a[sc.LC_RUN_END_INPUT])
        elif run_type in lifecycle.OWN_INPUT_RUNS or has_input:
            end_data["input"] = value_in
        else:
            end_data["input"] = {}
        node = lifecycle.is_node_run(base["metadata"], base["tags"])
        if formats.reports_node_chunk(node, streamed, base["name"], base["metadata"], nodes_stream):
            chunk_data = formats.node_chunk_data(end_data)
            yield end - 0.5, {"event": formats.NODE_CHUNK_EVENT, "data": chunk_data, **base}
        if span is root:
            end_data = formats.root_end_data(end_data)
        yield end, {"event": f"on_{run_type}_end", "data": end_data, **base}


def _debug(spans: list[RecordedSpan], subgraphs: bool) -> Iterator[tuple[int, Any]]:
    for span in spans:
        for event in span.events:
            if event.name != sc.EVENT_DEBUG:
                continue
            items = _load(event.attributes.get(sc.LC_EVENT_DATA_LIST))
            seqs = _seqs(event.attributes)
            if not isinstance(items, list):
                items = [[[], items]] * len(seqs)
            for seq, item in zip(seqs, items, strict=False):
                namespace, chunk = tuple(item[0]), item[1]
                if formats.shows_debug(namespace, subgraphs):
                    item = formats.debug_item(namespace, chunk, subgraphs)
                    if not formats.hides_failed_task(item, subgraphs, subgraphs):
                        yield seq, item

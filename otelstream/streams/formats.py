"""The ``events`` and ``debug`` format rules, shared by live subscriptions and replay.

Lifecycle events are nearly the ``astream_events`` v2 events already; these are the few
places where the stream a caller sees differs from one event per callback, written once so
that a live stream and a replay of its trace cannot drift apart:

* which lifecycle events v2 reports at all (no error events but ``on_tool_error``, no
  ``StreamWriter`` writes);
* the first event yielded (the root's start) carries the caller's input, and the end event
  of its run none;
* in a run started synchronously, a node task (or a functional API task) reports its output
  as its one ``on_chain_stream`` chunk, right before its end (LangGraph streams a task's
  output only when the graph is streamed asynchronously, as ``astream_events`` does);
* ``debug`` items are bare chunks, or ``(namespace, chunk)`` pairs with ``subgraphs``, and
  subgraph chunks are left out without it; a failed task's ``task_result`` only where the
  installed LangGraph yields it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from otelstream import lifecycle

EVENTS = "events"
DEBUG = "debug"
STREAM_MODES = frozenset({EVENTS, DEBUG})
"""The modes otelstream serves from the telemetry; every other mode is LangGraph's own."""


@cache
def reports_tool_error() -> bool:
    """Whether ``astream_events`` v2 reports ``on_tool_error``: langchain-core 1.x does, 0.3
    does not. Replay without langchain-core installed follows the newest."""
    try:
        from langchain_core.tracers.event_stream import _AstreamEventsCallbackHandler
    except ImportError:
        return True
    return "on_tool_error" in vars(_AstreamEventsCallbackHandler)


@cache
def v2_filters() -> dict[str, tuple[str, ...]]:
    """Which events of a phase ``astream_events`` v2 reports, where not all of them."""
    return {
        lifecycle.ERROR: ("on_tool_error",) if reports_tool_error() else (),
        lifecycle.CUSTOM_WRITE: (),
        lifecycle.DEBUG: (),
    }


def reported(phase: str, event: str) -> bool:
    """Whether v2 reports a lifecycle event of this phase and name."""
    return event in v2_filters().get(phase, (event,))


def first_event_data(data: dict[str, Any], inputs: Any) -> dict[str, Any]:
    """The data of the first event ``astream_events`` yields (the root's start, unless its
    filters leave that out): it sets the caller's input there (a custom event's data may be
    no dict: then it is left as it is)."""
    return {**data, "input": inputs} if isinstance(data, dict) else data


def root_end_data(data: dict[str, Any]) -> dict[str, Any]:
    """The end event of the first event's run (the root's): v2 removes its input."""
    return {k: v for k, v in data.items() if k != "input"}


NODE_CHUNK_EVENT = "on_chain_stream"


def is_functional_task(name: str, metadata: Any) -> bool:
    """A functional API ``@task`` run. LangGraph streams its output like a node's, but tags it
    as a step of its caller (``seq:step:N``), not of the graph. It is named after its task and
    pushed (``__pregel_push``); the runs inside it carry its namespace as ``checkpoint_ns``
    too, the task run itself does not."""
    return (
        isinstance(metadata, dict)
        and metadata.get("langgraph_node") == name
        and tuple(metadata.get("langgraph_triggers") or ()) == ("__pregel_push",)
        and metadata.get("checkpoint_ns") != metadata.get("langgraph_checkpoint_ns")
    )


def reports_node_chunk(
    is_node: bool, streamed: bool, name: str, metadata: Any, nodes_stream: bool
) -> bool:
    """Whether a run's end is preceded by its output as its one ``on_chain_stream`` chunk: a
    node or functional task whose output was not streamed, in a root run whose nodes do not
    stream (one started synchronously). When the root runs asynchronously, as under
    ``astream_events``, LangGraph streams exactly the nodes ``astream_events`` reports (not
    those of a graph a node invokes synchronously itself)."""
    return not (nodes_stream or streamed) and (is_node or is_functional_task(name, metadata))


def node_chunk_data(end_data: dict[str, Any]) -> dict[str, Any]:
    """The data of the ``on_chain_stream`` event a non-streaming node reports before its end."""
    return {"chunk": end_data["output"]}


def shows_debug(namespace: tuple[str, ...], subgraphs: bool) -> bool:
    return subgraphs or not namespace


def debug_item(namespace: tuple[str, ...], chunk: Any, subgraphs: bool) -> Any:
    """A ``debug`` item as LangGraph yields it in a single-mode stream."""
    return (namespace, chunk) if subgraphs else chunk


@cache
def yields_failed_tasks() -> bool:
    """Whether ``graph.stream`` always yields a failed task's ``task_result`` before raising:
    LangGraph 1.2.18 and later do; earlier versions only when they stream concurrently (with
    ``messages`` or ``custom``, ``subgraphs``, ``stream_eager``). Replay without LangGraph
    installed follows the newest."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        return Version(version("langgraph")) >= Version("1.2.18")
    except PackageNotFoundError:
        return True


def hides_failed_task(item: Any, subgraphs: bool, concurrent: bool) -> bool:
    """Whether a ``debug`` item is a failed task's ``task_result`` that LangGraph would not
    yield: its stream is not concurrent (a subscription's is when it asks for ``subgraphs``),
    and the installed LangGraph is older than 1.2.18."""
    if concurrent or yields_failed_tasks():
        return False
    chunk = item[1] if subgraphs else item
    return bool(chunk.get("type") == "task_result" and chunk["payload"].get("error"))

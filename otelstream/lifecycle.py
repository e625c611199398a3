"""The lifecycle vocabulary shared by every stage: runs and their ``astream_events`` v2 events.

``RunInfo`` is what LangChain's own ``_AstreamEventsCallbackHandler`` keeps per run (name,
type, tags, metadata, parents, inputs), plus the few facts the capture stage learns about a
run that later stages read (its graph operation, its model's parameters and ``llm_output``).
``LifecycleEvent`` is one v2 event, holding the live payload objects, before anything is
serialized: the span stage turns it into spans and span events, the stream stage turns it
back into the exact v2 dict. Neither stage writes to a ``RunInfo``: each keeps its own
per-run state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

START = "start"
STREAM = "stream"
END = "end"
ERROR = "error"
CUSTOM = "custom"
CUSTOM_WRITE = "custom_write"
DEBUG = "debug"  # a LangGraph ``debug`` stream chunk of a subscribed run (not a v2 event)
GRAPH_CHUNK = "graph_chunk"  # a recorded run's ``values``/``updates``/``messages`` chunk


# Runs whose end event repeats their start's input; a chain's may be known only at its end.
OWN_INPUT_RUNS = ("chat_model", "llm", "tool", "retriever")


def is_node_run(metadata: Any, tags: Any) -> bool:
    """A LangGraph node task run: LangGraph gives those ``langgraph_node`` metadata and a
    ``graph:step:N`` tag."""
    return (
        isinstance(metadata, dict)
        and "langgraph_node" in metadata
        and any(isinstance(t, str) and t.startswith("graph:step:") for t in tags)
    )


class RunInfo:
    """One LangChain run, from its ``on_*_start`` to its end. Written only by the capture stage."""

    __slots__ = (
        "graph_operation",
        "graph_stream_mode",
        "has_inputs",
        "id",
        "inputs",
        "invocation_params",
        "is_node",
        "llm_output",
        "metadata",
        "name",
        "parent",
        "parent_ids",
        "root",
        "run_id",
        "run_type",
        "runs_async",
        "serialized",
        "stream_event",
        "tags",
        "tapped",
        "tool_call_id",
    )

    def __init__(
        self,
        run_id: UUID,
        run_type: str,
        name: str,
        tags: list[str],
        metadata: dict[str, Any],
        parent: RunInfo | None,
        parent_run_id: UUID | None,
        serialized: dict[str, Any] | None,
        invocation_params: dict[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.id = str(run_id)
        """The run id as text (as events and spans carry it), converted once."""
        self.run_type = run_type
        self.stream_event = f"on_{run_type}_stream"
        self.name = name
        self.tags = tags
        self.metadata = metadata
        self.parent = parent
        if parent is not None:
            self.parent_ids: list[str] = [*parent.parent_ids, parent.id]
            self.root: RunInfo = parent.root
        else:  # a parent otelstream does not follow (suppressed, or started before instrument)
            self.parent_ids = [str(parent_run_id)] if parent_run_id is not None else []
            self.root = self
        self.inputs: Any = None
        self.has_inputs = False
        self.tool_call_id: str | None = None
        self.serialized = serialized
        self.invocation_params: dict[str, Any] = invocation_params or {}
        """A model's request parameters (``invocation_params`` of its start callback)."""
        self.llm_output: dict[str, Any] | None = None
        """A model's ``LLMResult.llm_output`` (token usage of older integrations), at its end."""
        self.tapped = False
        """Its output stream is tapped: its ``on_*_stream`` events come from the tap."""
        self.graph_operation: str | None = None  # set for graph runs: invoke_workflow/_agent
        self.graph_stream_mode: str | None = None  # a graph's default stream mode
        self.runs_async = False
        """A root run through ``astream`` (a graph's, a chain's), as ``astream_events`` runs
        it: LangGraph then streams its nodes' outputs to a streaming handler."""
        self.is_node = is_node_run(metadata, tags)  # read per event: computed once

    @property
    def is_root(self) -> bool:
        return self.root is self


class LifecycleEvent:
    """One ``astream_events`` v2 event (or a run's error/interrupt end, which v2 does not emit)."""

    __slots__ = ("data", "error", "event", "metadata", "name", "phase", "run", "tags", "time_ns")

    def __init__(
        self,
        phase: str,
        event: str,
        run: RunInfo,
        data: Any,
        time_ns: int,
        *,
        name: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.phase = phase
        self.event = event
        self.run = run
        self.data = data
        self.time_ns = time_ns
        self.name = run.name if name is None else name
        self.tags = run.tags if tags is None else tags
        self.metadata = run.metadata if metadata is None else metadata
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        """The exact event dict ``astream_events(version="v2")`` yields for this event."""
        return {
            "event": self.event,
            "data": self.data,
            "run_id": self.run.id,
            "name": self.name,
            "tags": self.tags,
            "metadata": self.metadata,
            "parent_ids": self.run.parent_ids,
        }


Sink = Callable[[LifecycleEvent], None]
"""Where the capture stage sends lifecycle events (the instrumentor's fan-out)."""

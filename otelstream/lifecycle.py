"""The lifecycle vocabulary shared by every layer: runs and their ``astream_events`` v2 events.

``RunInfo`` is what LangChain's own ``_AstreamEventsCallbackHandler`` keeps per run (name,
type, tags, metadata, parents, inputs). ``LifecycleEvent`` is one v2 event, holding the live
payload objects, before anything is serialized: the span manager turns it into spans and
span events, and the in-process subscriber turns it back into the exact v2 dict.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

START = "start"
STREAM = "stream"
END = "end"
ERROR = "error"
CUSTOM = "custom"
CUSTOM_WRITE = "custom_write"
DEBUG = "debug"  # a LangGraph ``debug`` stream chunk of a subscribed run (not a v2 event)


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
    """One LangChain run, from its ``on_*_start`` to its end."""

    __slots__ = (
        "extra",
        "graph_operation",
        "graph_stream_mode",
        "has_inputs",
        "inputs",
        "is_node",
        "metadata",
        "name",
        "parent",
        "parent_ids",
        "parent_run_id",
        "root",
        "run_id",
        "run_type",
        "serialized",
        "state",
        "subscribers",
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
        extra: dict[str, Any],
    ) -> None:
        self.run_id = run_id
        self.run_type = run_type
        self.name = name
        self.tags = tags
        self.metadata = metadata
        self.parent = parent
        self.parent_run_id = parent_run_id
        if parent is not None:
            self.parent_ids: list[str] = [*parent.parent_ids, str(parent.run_id)]
            self.root: RunInfo = parent.root
        else:
            self.parent_ids = [str(parent_run_id)] if parent_run_id is not None else []
            self.root = self
        self.inputs: Any = None
        self.has_inputs = False
        self.tool_call_id: str | None = None
        self.serialized = serialized
        self.extra = extra
        self.state: Any = None  # owned by the span manager
        self.tapped = False
        self.graph_operation: str | None = None  # set for graph runs: invoke_workflow/_agent
        self.graph_stream_mode: str | None = None  # a graph's default stream mode
        self.subscribers: Any = ()  # live subscriptions, on root runs only
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
            "run_id": str(self.run.run_id),
            "name": self.name,
            "tags": self.tags,
            "metadata": self.metadata,
            "parent_ids": self.run.parent_ids,
        }

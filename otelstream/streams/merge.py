"""``otelstream.stream``/``astream``: the telemetry's ``events``/``debug`` items merged with
LangGraph's own modes, in the shape LangGraph gives the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any, get_args

from otelstream.capture.demand import WAKE
from otelstream.streams.formats import DEBUG, EVENTS, STREAM_MODES
from otelstream.streams.subscription import Subscription

CUSTOM = "custom"
_CONCURRENT = {"messages", "custom"}
"""Modes with which LangGraph streams concurrently (reads its queue as items arrive)."""


@cache
def valid_modes() -> tuple[str, ...]:
    """LangGraph's stream modes, as the installed version declares them, and ``events``."""
    from langgraph.types import StreamMode

    return (*get_args(StreamMode), EVENTS)


def check_modes(modes: Sequence[str]) -> None:
    """A ``ValueError`` naming the valid modes for any other (LangGraph would yield nothing)."""
    unknown = [m for m in modes if m not in valid_modes()]
    if unknown:
        raise ValueError(
            f"unknown stream mode(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(valid_modes())}"
        )


def split_modes(graph: Any, stream_mode: str | Sequence[str] | None) -> tuple[list[str], bool]:
    """The modes asked for (checked), and whether as a single mode (bare chunks)."""
    if stream_mode is None:
        return [graph.stream_mode], True
    modes, single = (
        ([stream_mode], True) if isinstance(stream_mode, str) else (list(stream_mode), False)
    )
    check_modes(modes)
    return modes, single


def shape(mode: str, chunk: Any, single: bool, subgraphs: bool) -> Any:
    """An item as LangGraph shapes it: bare, ``(mode, chunk)``, with the namespace in front."""
    if mode == DEBUG and subgraphs:
        namespace, chunk = chunk
    else:
        namespace = ()
    if single:
        return (namespace, chunk) if subgraphs else chunk
    return (namespace, mode, chunk) if subgraphs else (mode, chunk)


class Merge:
    """One ``stream``/``astream`` call: the subscription that feeds its ``events``/``debug``
    items, the modes LangGraph is asked for, and how both are merged in the caller's shape.

    With ``events``, LangGraph is asked for ``custom`` too: with it, the graph's stream wakes
    whenever something is queued (LangGraph's concurrent streaming), and the subscription
    wakes it the same way (a ``WAKE`` chunk) when it has items, so tokens reach the caller as
    they stream rather than at the end of the step. ``debug`` alone needs no wake-up: its
    items come at step boundaries, when LangGraph yields anyway (and concurrent streaming
    would cost a thread pool per step).
    """

    def __init__(
        self,
        graph: Any,
        modes: list[str],
        single: bool,
        subgraphs: bool,
        subscribe: Callable[[list[str], bool], tuple[Any, Subscription]],
    ) -> None:
        """``subscribe(own_modes, concurrent)`` gives the run's config and the subscription
        that feeds its ``events``/``debug`` items (``concurrent``: whether LangGraph would
        stream the caller's modes concurrently, which decides what ``debug`` shows)."""
        own = [m for m in modes if m in STREAM_MODES]
        self.native = [m for m in modes if m not in STREAM_MODES]
        self.ask = self.native or [graph.stream_mode]
        if EVENTS in own and CUSTOM not in self.ask:
            self.ask = [*self.ask, CUSTOM]
        self.single = single
        self.subgraphs = subgraphs
        concurrent = (
            subgraphs or getattr(graph, "stream_eager", False) or bool(_CONCURRENT & {*self.native})
        )
        self.config, self.subscription = subscribe(own, concurrent)

    def items(self, item: Any) -> Iterator[Any]:
        """The subscription's items so far, then ``item`` if the caller asked for its mode."""
        yield from self.rest()
        *namespace, mode, chunk = item
        if mode in self.native and chunk is not WAKE:
            if self.single:
                yield (namespace[0], chunk) if self.subgraphs else chunk
            else:
                yield item

    def rest(self) -> Iterator[Any]:
        """The subscription's buffered items, shaped as the caller asked."""
        items, _ = self.subscription.drain()
        for mode, chunk in items:
            yield shape(mode, chunk, self.single, self.subgraphs)

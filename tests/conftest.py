"""Shared fixtures and helpers: a real SDK tracer provider with an in-memory exporter,
instrumented; isolation from the environment; what otelstream hooks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelstream

if TYPE_CHECKING:  # LangChain is imported by the tests that use it, not by every test
    from langchain_core.callbacks.base import BaseCallbackManager

# The real backends' fixtures and hooks, registered here too so that the pytest-xdist
# controller (which collects no test module) schedules the Phoenix files on one worker and
# prints the servers' install and start-up timings; Redis servers for the stream store.
pytest_plugins = ["backends", "redis_support"]


def pytest_configure(config: pytest.Config) -> None:
    """A test that instruments without providers must not write into the user's home."""
    os.environ.setdefault("OTELSTREAM_FILE", os.path.join(tempfile.mkdtemp(), "otlp.jsonl"))


def memory_provider(*processors: SpanProcessor) -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider running ``processors``, then exporting every span into memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """otelstream instrumented with default options, spans collected in memory."""
    provider, memory = memory_provider()
    otelstream.instrument(tracer_provider=provider)
    try:
        yield memory
    finally:
        otelstream.uninstrument()


@pytest.fixture
def instrument_with() -> Iterator[Any]:
    """``instrument_with(**options)`` instruments into a fresh in-memory exporter, returned."""

    def _instrument(**options: Any) -> InMemorySpanExporter:
        provider, memory = memory_provider()
        otelstream.instrument(tracer_provider=provider, **options)
        return memory

    try:
        yield _instrument
    finally:
        otelstream.uninstrument()


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start and end the test uninstrumented, with no OTELSTREAM_* environment variable
    (``pytestmark = pytest.mark.usefixtures("isolated")`` for a whole module)."""
    for name in list(os.environ):
        if name.startswith("OTELSTREAM_"):
            monkeypatch.delenv(name)
    otelstream.uninstrument()
    try:
        yield
    finally:
        otelstream.uninstrument()


def hooked() -> dict[str, Any]:
    """The raw class attributes otelstream wraps."""
    from langchain_core.callbacks.base import BaseCallbackManager
    from langgraph.pregel import Pregel
    from langgraph.pregel._loop import PregelLoop
    from langgraph.runtime import Runtime

    return {
        "BaseCallbackManager.__init__": BaseCallbackManager.__dict__["__init__"],
        "Pregel.stream": Pregel.__dict__["stream"],
        "Pregel.astream": Pregel.__dict__["astream"],
        "PregelLoop.__init__": PregelLoop.__dict__["__init__"],
        "Runtime.__init__": Runtime.__dict__["__init__"],
    }


def handler_counts(manager: BaseCallbackManager) -> tuple[int, int]:
    """otelstream's callback handlers among ``manager``'s handlers and inheritable ones."""
    from otelstream.capture.callback_handler import OtelStreamCallbackHandler

    def count(handlers: list[Any]) -> int:
        return sum(isinstance(h, OtelStreamCallbackHandler) for h in handlers)

    return count(manager.handlers), count(manager.inheritable_handlers)


def span_tree(spans: Sequence[ReadableSpan]) -> list[tuple[str, list[Any]]]:
    """Spans as nested ``(name, children)`` tuples, children in start order, per trace root."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(s)

    def build(parent: int | None) -> list[tuple[str, list[Any]]]:
        children = sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0)
        return [(s.name, build(s.context.span_id)) for s in children]

    return build(None)


def by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = by_name(spans, name)
    assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in spans]}"
    return found[0]

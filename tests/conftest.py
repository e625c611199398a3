"""Shared fixtures: a real SDK tracer provider with an in-memory exporter, instrumented."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelstream

# The real backends' fixtures and hooks, registered here too so that the pytest-xdist
# controller (which collects no test module) prints their install and start-up timings.
pytest_plugins = ["backends"]


def pytest_configure(config: pytest.Config) -> None:
    """A test that instruments without providers must not write into the user's home."""
    os.environ.setdefault("OTELSTREAM_FILE", os.path.join(tempfile.mkdtemp(), "otlp.jsonl"))


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """otelstream instrumented with default options, spans collected in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    otelstream.instrument(tracer_provider=provider)
    try:
        yield memory
    finally:
        otelstream.uninstrument()


@pytest.fixture
def instrument_with() -> Iterator[Any]:
    """Instrument with given options; returns the in-memory exporter."""

    def _instrument(**options: Any) -> InMemorySpanExporter:
        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        otelstream.instrument(tracer_provider=provider, **options)
        return memory

    try:
        yield _instrument
    finally:
        otelstream.uninstrument()


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

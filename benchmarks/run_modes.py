"""How one benchmark run is made in each mode: ``invoke`` (plain, with a no-op callback
handler, or with bare SDK spans around it), the ``debug`` stream, or ``astream_events``,
natively or through otelstream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workloads import Workload

Runner = tuple[Callable[[int], None], Callable[[], Any]]
"""``(batch(n), once())``: make ``n`` runs, or one run returning its output or item count."""


def runner(mode: str, w: Workload, provider: Any, loop: asyncio.AbstractEventLoop) -> Runner:
    """The runs of ``mode`` on workload ``w`` (``provider`` serves the floor's own spans,
    ``loop`` the async modes)."""
    if mode in ("invoke", "traced_invoke", "noop_callback", "floor"):
        return _invoke(mode, w, provider)
    if mode in ("native_debug", "otel_debug"):
        return _debug(mode, w)
    if mode in ("native_events", "otel_events"):
        return _events(mode, w, loop)
    raise ValueError(f"unknown mode {mode!r}")


def _batch(once: Callable[[], Any]) -> Callable[[int], None]:
    def batch(n: int) -> None:
        for _ in range(n):
            once()

    return batch


def _invoke(mode: str, w: Workload, provider: Any) -> Runner:
    graph = w.graph
    if mode == "noop_callback":
        from langchain_core.callbacks import BaseCallbackHandler

        class NoopHandler(BaseCallbackHandler):
            """Subscribes to nothing in particular: LangChain's dispatch cost only."""

        handler = NoopHandler()

        def config() -> dict[str, Any]:
            return {**w.config(), "callbacks": [handler]}
    else:
        config = w.config

    def once() -> Any:
        cfg = config()
        out = graph.invoke(w.make_input(), cfg)
        w.done(cfg)
        return out

    if mode == "floor":
        tracer = provider.get_tracer("bench.floor")
        nodes = w.node_runs
        plain = once

        def once() -> Any:
            with tracer.start_as_current_span("run"):
                out = plain()
                for _ in range(nodes):
                    tracer.start_span("node").end()
            return out

    return _batch(once), once


def _debug(mode: str, w: Workload) -> Runner:
    import otelstream

    graph = w.graph

    def items(cfg: dict[str, Any]) -> Iterator[Any]:
        if mode == "native_debug":
            return graph.stream(w.make_input(), cfg, stream_mode="debug")  # type: ignore[no-any-return]
        return otelstream.stream(graph, w.make_input(), cfg, stream_mode="debug")

    def once() -> Any:
        cfg = w.config()
        count = sum(1 for _ in items(cfg))
        w.done(cfg)
        return count

    return _batch(once), once


def _events(mode: str, w: Workload, loop: asyncio.AbstractEventLoop) -> Runner:
    import otelstream

    graph = w.graph

    async def aonce() -> int:
        cfg = w.config()
        if mode == "native_events":
            stream = graph.astream_events(w.make_input(), cfg, version="v2")
        else:
            stream = otelstream.astream_events(graph, w.make_input(), cfg)
        count = 0
        async for _ in stream:
            count += 1
        w.done(cfg)
        return count

    async def abatch(n: int) -> None:
        for _ in range(n):
            await aonce()

    def batch(n: int) -> None:
        loop.run_until_complete(abatch(n))

    def once() -> Any:
        return loop.run_until_complete(aonce())

    return batch, once

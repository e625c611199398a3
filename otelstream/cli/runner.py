"""``otelstream run MODULE:ATTR``: run a user's graph instrumented and print its live streams.

The graph runs through :func:`otelstream.astream` (async, so sync and async nodes both run),
with the providers :func:`otelstream.configure` builds from ``OTEL_*`` (the OTLP/JSON file
when nothing is configured). Streams print pretty in a terminal, as JSON lines when piped.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any, TextIO

from langchain_core.runnables import RunnableConfig

import otelstream
from otelstream.cli.printers import printer_for
from otelstream.streams.merge import check_modes, valid_modes

DEFAULT_MODES = ("events", "debug")


class UsageError(Exception):
    """A bad target, input or mode: reported on one line, exit code 2."""


def load_graph(target: str) -> Any:
    """``module:attr`` (a compiled graph, or a function with no arguments that builds one)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(f"expected MODULE:ATTR, got {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` would
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not hasattr(obj, "astream") and callable(obj):
        obj = obj()
    if not hasattr(obj, "astream") or not hasattr(obj, "stream_mode"):
        raise UsageError(f"{target} is not a compiled LangGraph graph (or a factory of one)")
    return obj


def parse_modes(text: str | None) -> list[str]:
    modes = [m.strip() for m in (text or ",".join(DEFAULT_MODES)).split(",") if m.strip()]
    if not modes:
        raise UsageError(f"--stream-mode names no mode; valid: {', '.join(valid_modes())}")
    try:
        check_modes(modes)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return modes


def parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not JSON: {exc}") from exc


def run(
    target: str,
    input_json: str,
    *,
    stream_mode: str | None = None,
    config_json: str | None = None,
    thread_id: str | None = None,
    full_traceback: bool = False,
    out: TextIO | None = None,
) -> int:
    """Run ``target`` once; 0 when the run succeeded, 1 when it failed, 2 on bad usage.

    A failed run is reported with its exception and the frame it failed in (the innermost
    one in the user's code), or with the whole traceback (``full_traceback``)."""
    out = sys.stdout if out is None else out
    try:
        graph = load_graph(target)
        modes = parse_modes(stream_mode)
        graph_input = parse_json(input_json, "--input")
        parsed = parse_json(config_json, "--config") or {}
        if not isinstance(parsed, dict):
            raise UsageError("--config must be a JSON object")
        config = RunnableConfig(**parsed)  # type: ignore[typeddict-item]
    except UsageError as exc:
        print(f"otelstream run: {exc}", file=sys.stderr)
        return 2
    if thread_id is not None:
        config.setdefault("configurable", {})["thread_id"] = thread_id
    otelstream.configure(service_name=target.partition(":")[0])
    otelstream.instrument()
    printer = printer_for(out)

    async def consume() -> None:
        async for mode, chunk in otelstream.astream(graph, graph_input, config, stream_mode=modes):
            printer.show(mode, chunk)

    try:
        asyncio.run(consume())
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 1
    except Exception as exc:
        printer.end_line()
        print(f"otelstream run: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(_where(exc, full_traceback), end="", file=sys.stderr)
        return 1
    finally:
        printer.end_line()
        _flush()
    return 0


def _where(exc: BaseException, full: bool) -> str:
    """The whole traceback, or the frame the run failed in and how to see the rest."""
    if full:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    library = tuple(
        {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
        | {str(Path(otelstream.__file__).parent)}
    )
    own = [f for f in frames if not f.filename.startswith((*library, "<"))]
    failing = (own or frames)[-1]
    return "".join(traceback.format_list([failing])) + "  (--traceback shows the whole of it)\n"


def _flush() -> None:
    """Export what the run recorded before the process exits."""
    from opentelemetry import metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        flush = getattr(provider, "force_flush", None)
        if callable(flush):
            flush()

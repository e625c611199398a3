"""Stream items as text: pretty lines for a terminal, JSON lines for a pipe.

Used by ``otelstream demo``, ``otelstream run`` and ``otelstream replay``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, TextIO

from otelstream.serialization import dumps

_SHORT = 160


class Printer(Protocol):
    def show(self, mode: str, chunk: Any) -> None: ...

    def end_line(self) -> None: ...


def printer_for(out: TextIO) -> Printer:
    """Pretty lines when ``out`` is a terminal, JSON lines otherwise."""
    isatty = getattr(out, "isatty", None)
    return PrettyPrinter(out) if callable(isatty) and isatty() else JsonLinesPrinter(out)


class JsonLinesPrinter:
    """``{"mode": ..., "chunk": ...}`` per item; payloads in otelstream's JSON form."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def show(self, mode: str, chunk: Any) -> None:
        line = f'{{"mode": {json.dumps(mode)}, "chunk": {dumps(chunk)}}}'
        print(line, file=self._out, flush=True)

    def end_line(self) -> None:
        pass


class PrettyPrinter:
    """One line per ``debug`` chunk and per lifecycle event (indented by depth); a model's
    tokens are written onto one line as they arrive. ``on_chain_stream`` is left out: it
    repeats each node's output. Other modes get one shortened line per chunk."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._open_line: object = None  # the run whose tokens are being written

    def show(self, mode: str, chunk: Any) -> None:
        if mode == "debug":
            self._line(f"  debug   {_describe_debug(chunk)}")
        elif mode != "events":
            text = dumps(chunk)
            self._line(f"  {mode:<7} {text if len(text) <= _SHORT else text[:_SHORT] + '...'}")
        elif chunk["event"] == "on_chat_model_stream":
            self._token(chunk)
        elif chunk["event"] != "on_chain_stream":
            indent = "  " * len(chunk["parent_ids"])
            self._line(f"  events  {indent}{chunk['event']} {chunk['name']}")

    def _token(self, event: dict[str, Any]) -> None:
        if self._open_line != event["run_id"]:
            self.end_line()
            indent = "  " * len(event["parent_ids"])
            print(f"  events  {indent}on_chat_model_stream: ", end="", file=self._out)
            self._open_line = event["run_id"]
        message = event["data"]["chunk"]
        if isinstance(message, dict):  # replayed: the message's JSON form
            text = str(message.get("content", ""))
            calls = message.get("tool_call_chunks") or ()
        else:
            text = str(message.content)
            calls = getattr(message, "tool_call_chunks", None) or ()
        for call in calls:
            text += f"[tool call {call.get('name')} {call.get('args')}]"
        print(text, end="", file=self._out, flush=True)

    def _line(self, text: str) -> None:
        self.end_line()
        print(text, file=self._out, flush=True)

    def end_line(self) -> None:
        if self._open_line is not None:
            print(file=self._out)
            self._open_line = None


def _describe_debug(chunk: Any) -> str:
    if isinstance(chunk, tuple):  # (namespace, chunk) with subgraphs
        namespace, chunk = chunk
        prefix = f"[{'/'.join(namespace)}] " if namespace else ""
    else:
        prefix = ""
    payload = chunk["payload"]
    kind, step = chunk["type"], chunk["step"]
    if kind == "checkpoint":
        return f"{prefix}checkpoint   step {step}  next={list(payload.get('next', ()))}"
    return f"{prefix}{kind:<12} step {step}  {payload['name']}"

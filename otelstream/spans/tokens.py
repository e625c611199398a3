"""Message chunks of one stream span event, compact and readable.

A streamed answer arrives as one ``AIMessageChunk`` per token, each of which serializes to
about 240 bytes of fields that are the same for every chunk of the message. Exported that
way, a reader of the span event sees JSON noise instead of the answer, and a long answer
soon runs into the attribute length limit. So a batch of message chunks of one class is
recorded as:

* ``langchain.event.text``: the text of every chunk, joined (what a person reads);
* ``langchain.event.text_lengths``: each chunk's share of that text;
* ``langchain.event.chunk``: the JSON of the fields the chunks share (the first chunk's,
  with empty content);
* ``langchain.event.deltas``: a JSON object, chunk index -> the fields in which that chunk
  differs from the shared ones (tool-call chunks, the last chunk's usage and finish
  metadata, a different id, non-text content), left out when no chunk differs.

Replay rebuilds every chunk's JSON exactly from these (``decode``). Anything else (graph
state chunks, parser strings, LLM generation chunks, ``debug`` items, mixed batches) keeps
the plain JSON list, ``langchain.event.data_list``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from otelstream.serialization import TRUNCATION_MARKER, dumps

_CUT = re.compile(re.escape(TRUNCATION_MARKER).replace(r"\{\}", r"\d+") + "$")
"""The length limit's marker at the end of a cut text."""


def _fields(first: Any) -> tuple[str, ...] | None:
    """The fields of a message chunk class that can be read from ``__dict__`` (pydantic v2
    keeps field values there), or None if ``first`` is not such a chunk."""
    model_fields = getattr(type(first), "model_fields", None)
    if not isinstance(model_fields, dict) or "content" not in model_fields:
        return None
    if getattr(first, "__pydantic_extra__", None):  # extra fields would be dumped too
        return None
    values = getattr(first, "__dict__", None)
    if not isinstance(values, dict) or any(name not in values for name in model_fields):
        return None
    return tuple(name for name in model_fields if name != "content")


def encode(chunks: list[Any]) -> tuple[str, list[int], str, str | None] | None:
    """``(text, text_lengths, shared JSON, deltas JSON or None)`` for a batch of message
    chunks of one class; None for anything else (recorded as a plain JSON list)."""
    first = chunks[0]
    fields = _fields(first)
    if fields is None:
        return None
    cls = type(first)
    shared = first.__dict__
    blank = dict(shared)  # what a chunk that differs only in its text looks like
    blank["content"] = None
    texts: list[str] = []
    deltas: dict[str, dict[str, Any]] = {}
    for index, chunk in enumerate(chunks):
        if type(chunk) is not cls or getattr(chunk, "__pydantic_extra__", None):
            return None
        values = chunk.__dict__
        content = values["content"]
        if type(content) is str:
            texts.append(content)
            probe = values.copy()  # one C-level comparison for the common, text-only chunk
            probe["content"] = None
            if probe == blank:
                continue
            delta: dict[str, Any] = {}
        else:
            texts.append("")
            delta = {"content": content}
        for name in fields:
            value = values[name]
            base = shared[name]
            if value is not base and (type(value) is not type(base) or value != base):
                delta[name] = value
        if delta:
            deltas[str(index)] = delta
    text = "".join(texts)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: only JSON escapes keep them exactly
            return None
    template = json.loads(dumps(first))
    if not isinstance(template, dict):
        return None
    template["content"] = ""
    return (
        text,
        [len(t) for t in texts],
        dumps(template),
        dumps(deltas) if deltas else None,
    )


def decode(text: Any, lengths: Any, shared: Any, deltas: Any) -> list[Any] | None:
    """The chunks' JSON values from the attributes ``encode`` gave (already JSON-loaded where
    they are JSON); None when they cannot be decoded (redacted, or cut by the length limit)."""
    if not isinstance(text, str) or not isinstance(lengths, list) or not isinstance(shared, dict):
        return None
    if not all(type(n) is int and n >= 0 for n in lengths) or sum(lengths) != len(text):
        return None  # the text was cut or redacted: its pieces are not there to slice
    if text.endswith("chars]") and _CUT.search(text):
        return None  # cut, and by chance to the very same length
    if deltas is None:
        deltas = {}
    elif not isinstance(deltas, dict):  # cut or redacted: what differed per chunk is lost
        return None
    chunks: list[Any] = []
    at = 0
    for index, length in enumerate(lengths):
        chunk = dict(shared)
        chunk["content"] = text[at : at + length]
        at += length
        delta = deltas.get(str(index))
        if isinstance(delta, dict):
            chunk.update(delta)
        chunks.append(chunk)
    return chunks

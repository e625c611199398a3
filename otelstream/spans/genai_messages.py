"""LangChain messages -> the GenAI conventions' JSON message schema.

The conventions' ``gen_ai.input.messages``, ``gen_ai.output.messages`` and
``gen_ai.system_instructions`` hold messages as ``{"role", "parts", "name"}`` objects whose
parts are typed: ``text``, ``reasoning``, ``tool_call``, ``tool_call_response``, ``blob``,
``uri``, ``file``, and generic parts for anything else. This converts what LangChain passes
around (``BaseMessage`` objects of langchain-core 0.3 and 1.x, message chunks, the dict and
tuple forms LangChain accepts, and every content-block shape its chat models take) into
that schema. It reads messages by duck typing, so it needs no LangChain import, and it never
raises: a message or block it does not know becomes a generic part that says what it was.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from otelstream.serialization import safe_text

Json = dict[str, Any]

# LangChain message types (``BaseMessage.type``, dict ``role``/``type``) -> GenAI roles.
_ROLES = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}
# The part types the schema defines: a block of another kind never reuses these names.
_PART_TYPES = frozenset(
    {"text", "reasoning", "tool_call", "tool_call_response", "blob", "uri", "file"}
    | {"server_tool_call", "server_tool_call_response", "compaction"}
)
_MODALITIES = {"image": "image", "audio": "audio", "video": "video", "file": "document"}
_TOOL_CALL_BLOCKS = ("tool_use", "tool_call", "function_call", "tool_call_chunk")

# Provider finish reasons -> the conventions' values (others are kept as they are).
_FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_call",
    "tool_use": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
    "safety": "content_filter",
    "refusal": "content_filter",
    "error": "error",
}


def field(obj: Any, key: str) -> Any:
    """A field of a message or block, whether it is a mapping or an object; None when it
    has none, or reading it fails."""
    try:
        if isinstance(obj, Mapping):
            return obj.get(key)
        return getattr(obj, key, None)
    except Exception:
        return None


def _text(value: Any) -> Json:
    return {"type": "text", "content": value if isinstance(value, str) else safe_text(value)}


def _generic(kind: Any, value: Any) -> Json:
    """A part for what the schema has no type for: its own kind, its value kept as it is."""
    name = kind if isinstance(kind, str) and kind and kind not in _PART_TYPES else "unknown"
    return {"type": name, "content": value}


def _unknown(item: Any) -> Json:
    """Something in a message list that is not a message: its kind and text."""
    return {"role": "unknown", "parts": [_generic(type(item).__name__, safe_text(item))]}


# --- content blocks ---------------------------------------------------------------------------
def _media(
    modality: str, mime: Any, data: Any = None, url: Any = None, file_id: Any = None
) -> Json:
    """A ``blob``, ``uri`` or ``file`` part from whichever reference a block carries."""
    mime_type = mime if isinstance(mime, str) and mime else None
    if isinstance(data, (bytes, bytearray)):
        data = base64.b64encode(bytes(data)).decode("ascii")
    if isinstance(data, str) and data:
        return {"type": "blob", "modality": modality, "mime_type": mime_type, "content": data}
    if isinstance(url, str) and url:
        if url.startswith("data:"):  # an inline data URL is a blob, not a uri
            header, _, payload = url[5:].partition(",")
            mime_type = header.split(";", 1)[0] or mime_type
            if ";base64" not in header.lower():
                payload = base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode()
            return {
                "type": "blob",
                "modality": modality,
                "mime_type": mime_type,
                "content": payload,
            }
        return {"type": "uri", "modality": modality, "mime_type": mime_type, "uri": url}
    if isinstance(file_id, str) and file_id:
        return {"type": "file", "modality": modality, "mime_type": mime_type, "file_id": file_id}
    return _generic(modality, None)


def _media_block(kind: str, block: Mapping[str, Any]) -> Json:
    """Image, audio, video and file blocks in all of LangChain's forms: 1.x standard
    (``base64``/``url``/``file_id``), 0.3 standard (``source_type``), Anthropic
    (``source``) and OpenAI (``image_url``, ``input_audio``)."""
    modality = _MODALITIES.get(kind, "image")
    mime = block.get("mime_type")
    source = block.get("source")
    if isinstance(source, Mapping):  # Anthropic
        mime = source.get("media_type") or mime
        return _media(modality, mime, source.get("data"), source.get("url"), source.get("file_id"))
    source_type = block.get("source_type")  # langchain-core 0.3 standard blocks
    if source_type == "base64":
        return _media(modality, mime, data=block.get("data"))
    if source_type == "url":
        return _media(modality, mime, url=block.get("url"))
    if source_type == "id":
        return _media(modality, mime, file_id=block.get("id"))
    return _media(  # langchain-core 1.x standard blocks
        modality,
        mime,
        block.get("base64") or block.get("data"),
        block.get("url"),
        block.get("file_id"),
    )


def _arguments(value: Any) -> Any:
    """Tool-call arguments as an object where they are JSON text (as the conventions ask)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _tool_call(call: Any) -> Json:
    """A ``tool_call`` part from LangChain's ``{name, args, id}`` or OpenAI's
    ``{id, function: {name, arguments}}``."""
    function = field(call, "function")
    if isinstance(function, Mapping):
        name, args = function.get("name"), function.get("arguments")
    else:
        name = field(call, "name")
        args = field(call, "args")
        if args is None:
            args = (
                field(call, "input")
                if field(call, "input") is not None
                else field(call, "arguments")
            )
    call_id = field(call, "id")
    return {
        "type": "tool_call",
        "id": call_id if isinstance(call_id, str) else None,
        "name": name if isinstance(name, str) else "",
        "arguments": _arguments(args),
    }


def _block(block: Any) -> Json | None:
    """One content block as a part (None for an empty text)."""
    if isinstance(block, str):
        return _text(block) if block else None
    if not isinstance(block, Mapping):
        return _generic(type(block).__name__, safe_text(block))
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text"):
        text = block.get("text")
        return _text(text) if isinstance(text, str) else _generic("text", dict(block))
    if kind in ("reasoning", "thinking"):
        summary = block.get("summary")  # OpenAI: [{"type": "summary_text", "text": ...}]
        if isinstance(summary, list):
            reasoning: Any = "".join(str(field(s, "text") or "") for s in summary)
        else:
            reasoning = block.get("reasoning") or block.get("thinking") or block.get("text")
        if isinstance(reasoning, str):
            return {"type": "reasoning", "content": reasoning}
    elif kind in ("image_url", "input_image"):
        url = block.get("image_url")
        if isinstance(url, Mapping):
            url = url.get("url")
        return _media("image", block.get("mime_type"), url=url, file_id=block.get("file_id"))
    elif kind == "input_audio":
        audio = block.get("input_audio")
        if isinstance(audio, Mapping):
            fmt = audio.get("format")
            return _media(
                "audio", f"audio/{fmt}" if isinstance(fmt, str) else None, audio.get("data")
            )
    elif kind in ("image", "audio", "video", "file", "document"):
        return _media_block("file" if kind == "document" else kind, block)
    elif kind in _TOOL_CALL_BLOCKS:
        return _tool_call(block)
    elif kind == "tool_result":
        call_id = block.get("tool_use_id")
        return {
            "type": "tool_call_response",
            "id": call_id if isinstance(call_id, str) else None,
            "response": block.get("content"),
        }
    return _generic(kind, dict(block))


def content_parts(content: Any, skip_tool_calls: bool = False) -> list[Json]:
    """A message's ``content`` (a string or a list of blocks) as parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content)] if content else []
    if not isinstance(content, (list, tuple)):
        return [_generic(type(content).__name__, safe_text(content))]
    parts: list[Json] = []
    for block in content:
        if (
            skip_tool_calls
            and isinstance(block, Mapping)
            and block.get("type") in _TOOL_CALL_BLOCKS
        ):
            continue  # the message's tool_calls carry these already
        try:
            part = _block(block)
        except Exception:  # a block whose fields misbehave still shows what it was
            part = _generic(type(block).__name__, safe_text(block))
        if part is not None:
            parts.append(part)
    return parts


# --- messages ---------------------------------------------------------------------------------
def _role(kind: Any) -> str | None:
    if not isinstance(kind, str):
        return None
    if kind.endswith("MessageChunk"):  # AIMessageChunk -> ai, HumanMessageChunk -> human
        kind = kind[: -len("MessageChunk")]
    return _ROLES.get(kind.lower())


def _tool_calls(message: Any, content: Any) -> list[Json]:
    calls = list(field(message, "tool_calls") or ())
    parts = [_tool_call(call) for call in calls]
    parts += [_tool_call(call) for call in field(message, "invalid_tool_calls") or ()]
    if not parts:
        kwargs = field(message, "additional_kwargs")
        legacy = kwargs.get("function_call") if isinstance(kwargs, Mapping) else None
        if isinstance(legacy, Mapping):  # OpenAI's pre-tools function_call
            parts.append(_tool_call({"function": legacy}))
    return parts


def message(item: Any) -> Json | None:
    """One LangChain message (object, dict, ``(role, content)`` pair or plain string) as a
    GenAI message; None for LangGraph's ``RemoveMessage`` markers."""
    if isinstance(item, str):
        return {"role": "user", "parts": content_parts(item)}
    if isinstance(item, tuple) and len(item) == 2:
        pair_role = _role(item[0]) or (item[0] if isinstance(item[0], str) else "user")
        return {"role": pair_role, "parts": content_parts(item[1])}
    kind = field(item, "type")
    if kind == "remove":
        return None
    raw_role = field(item, "role")
    role = _role(kind) or _role(raw_role)
    if role is None and isinstance(raw_role, str) and raw_role:  # a ChatMessage's own role
        role = raw_role
    if role is None:  # not a message: say what it was
        return _unknown(item)
    content = field(item, "content")
    if role == "tool":
        call_id = field(item, "tool_call_id")
        parts: list[Json] = [
            {
                "type": "tool_call_response",
                "id": call_id if isinstance(call_id, str) else None,
                "response": content,
            }
        ]
    elif role == "assistant":
        calls = _tool_calls(item, content)
        parts = content_parts(content, skip_tool_calls=bool(calls)) + calls
    else:
        parts = content_parts(content)
    result: Json = {"role": role, "parts": parts}
    name = field(item, "name")
    if isinstance(name, str) and name:
        result["name"] = name
    return result


def messages(items: Any) -> list[Json]:
    """A sequence of LangChain messages as GenAI messages (a single message is a list of one)."""
    if isinstance(items, (str, Mapping)) or not isinstance(items, Sequence):
        items = [items]
    return [m for m in map(_safe_message, items) if m is not None]


def _safe_message(item: Any) -> Json | None:
    try:
        return message(item)
    except Exception:  # an object whose attributes raise is still shown, not lost
        return {"role": "unknown", "parts": [_generic(type(item).__name__, safe_text(item))]}


def split_system(converted: list[Json]) -> tuple[list[Json], list[Json]]:
    """The parts of the leading system messages (the model's instructions, for
    ``gen_ai.system_instructions``) and the messages after them."""
    n = 0
    while n < len(converted) and converted[n]["role"] == "system":
        n += 1
    instructions = [part for m in converted[:n] for part in m["parts"]]
    return instructions, converted[n:]


def finish_reason(raw: Any, has_tool_calls: bool) -> str:
    """The conventions' finish reason for a provider's; inferred from the message when the
    provider reports none (the model stopped normally, or to call tools)."""
    if isinstance(raw, str) and raw:
        return _FINISH_REASONS.get(raw.lower(), raw)
    return "tool_call" if has_tool_calls else "stop"


def output_message(item: Any) -> Json | None:
    """A model's answer as an output message, with its finish reason."""
    converted = _safe_message(item)
    if converted is None:
        return None
    metadata = field(item, "response_metadata")
    raw = None
    if isinstance(metadata, Mapping):
        raw = metadata.get("finish_reason") or metadata.get("stop_reason")
    has_calls = any(p.get("type") == "tool_call" for p in converted["parts"])
    converted["finish_reason"] = finish_reason(raw, has_calls)
    return converted


def state_messages(state: Any) -> Any:
    """The ``messages`` of a graph state, if the state holds messages."""
    if isinstance(state, Mapping):
        found = state.get("messages")
        if isinstance(found, (list, tuple)) or _role(field(found, "type")) is not None:
            return found
    return None


def last_answer(state: Any) -> list[Json]:
    """A run's answer: the last assistant message of its output state (the intermediate
    ones are on the model spans), as util-genai's LangChain instrumentation records it."""
    found = state_messages(state)
    items = found if isinstance(found, (list, tuple)) else [found]
    for item in reversed(items):
        if _role(field(item, "type")) == "assistant" or field(item, "role") in ("ai", "assistant"):
            converted = output_message(item)
            return [converted] if converted is not None else []
    return []

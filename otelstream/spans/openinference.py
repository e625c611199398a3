"""The OpenInference flavour (``instrument(openinference=True)``): the names Arize Phoenix
and Arize AX read natively.

Every span gets an ``openinference.span.kind`` (AGENT, CHAIN, LLM, TOOL, RETRIEVER, PROMPT),
so no span of a LangGraph run is of unknown kind; a run's input and output are
``input.value``/``output.value`` with their mime types; chat messages are flattened as
OpenInference does (``llm.input_messages.0.message.role`` ...), tools offered to a model
are ``llm.tools.N.tool.json_schema``; metadata is one JSON ``metadata`` attribute and the
thread is ``session.id``. The payload attributes take the place of their ``langchain.run.*``
and ``gen_ai.*`` equivalents (see ``spans/payloads.py``); names, ids and token counts, which
cost a few bytes, are recorded under both conventions. The names come from the
``openinference-semantic-conventions`` package (the ``openinference`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openinference.semconv.trace import (
    ImageAttributes,
    MessageAttributes,
    MessageContentAttributes,
    OpenInferenceMimeTypeValues,
    OpenInferenceSpanKindValues,
    SpanAttributes,
    ToolAttributes,
    ToolCallAttributes,
)

from otelstream import semconv as sc
from otelstream.lifecycle import RunInfo
from otelstream.serialization import dumps, safe_text
from otelstream.spans.content import Content, Marks

SPAN_KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND
INPUT_VALUE = SpanAttributes.INPUT_VALUE
INPUT_MIME_TYPE = SpanAttributes.INPUT_MIME_TYPE
OUTPUT_VALUE = SpanAttributes.OUTPUT_VALUE
OUTPUT_MIME_TYPE = SpanAttributes.OUTPUT_MIME_TYPE
METADATA = SpanAttributes.METADATA
JSON = OpenInferenceMimeTypeValues.JSON.value
TEXT = OpenInferenceMimeTypeValues.TEXT.value

_K = OpenInferenceSpanKindValues
_KINDS = {
    "chat_model": _K.LLM.value,
    "llm": _K.LLM.value,
    "tool": _K.TOOL.value,
    "retriever": _K.RETRIEVER.value,
    "embedding": _K.EMBEDDING.value,
    "prompt": _K.PROMPT.value,
}
MAX_MESSAGE_ATTRIBUTES = 80
"""Flattened message attributes per span (the SDK keeps 128 attributes per span by default,
and drops the rest silently): older messages beyond it are left out and marked."""


def span_kind(run: RunInfo) -> str:
    """The run's OpenInference kind; runs without one of their own are CHAIN, never UNKNOWN."""
    if run.graph_operation == sc.OP_INVOKE_AGENT:
        return _K.AGENT.value
    return _KINDS.get(run.run_type, _K.CHAIN.value)


def start_attributes(run: RunInfo, attrs: dict[str, Any]) -> None:
    """Add the flavour's names to a span's start attributes; ``metadata`` replaces
    ``langchain.run.metadata`` (the same JSON, which replay then reads from here)."""
    attrs[SPAN_KIND] = span_kind(run)
    metadata = attrs.pop(sc.LC_RUN_METADATA, None)
    if metadata is not None:
        attrs[METADATA] = metadata
    thread = attrs.get(sc.GEN_AI_CONVERSATION_ID)
    if thread is not None:
        attrs[SpanAttributes.SESSION_ID] = thread
    model = attrs.get(sc.GEN_AI_REQUEST_MODEL)
    if model is not None:
        attrs[SpanAttributes.LLM_MODEL_NAME] = model
    if run.run_type == "tool":
        attrs[SpanAttributes.TOOL_NAME] = run.name


def token_counts(prompt: int | None, completion: int | None) -> dict[str, int]:
    attrs: dict[str, int] = {}
    if prompt is not None:
        attrs[SpanAttributes.LLM_TOKEN_COUNT_PROMPT] = prompt
    if completion is not None:
        attrs[SpanAttributes.LLM_TOKEN_COUNT_COMPLETION] = completion
    if prompt is not None and completion is not None:
        attrs[SpanAttributes.LLM_TOKEN_COUNT_TOTAL] = prompt + completion
    return attrs


def tools(definitions: list[dict[str, Any]], content: Content, marks: Marks) -> dict[str, str]:
    """GenAI tool definitions as ``llm.tools.N.tool.json_schema`` (OpenAI's tool format)."""
    attrs: dict[str, str] = {}
    for index, definition in enumerate(definitions[:MAX_MESSAGE_ATTRIBUTES]):
        function = {k: v for k, v in definition.items() if k != "type"}
        key = f"{SpanAttributes.LLM_TOOLS}.{index}.{ToolAttributes.TOOL_JSON_SCHEMA}"
        attrs[key] = content.scrub(
            marks, "input", dumps({"type": "function", "function": function})
        )
    return attrs


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


def _message(base: str, message: Mapping[str, Any], put: Any) -> None:
    """One GenAI message as OpenInference's flattened ``message.*`` attributes."""
    put(f"{base}.{MessageAttributes.MESSAGE_ROLE}", safe_text(message.get("role")))
    if message.get("name"):
        put(f"{base}.{MessageAttributes.MESSAGE_NAME}", safe_text(message["name"]))
    parts = message.get("parts") or []
    texts, contents, calls = [], [], []
    for part in parts:
        kind = part.get("type")
        if kind == "tool_call":
            calls.append(part)
        elif kind == "tool_call_response":
            if part.get("id"):
                put(f"{base}.{MessageAttributes.MESSAGE_TOOL_CALL_ID}", safe_text(part["id"]))
            texts.append(_as_text(part.get("response")))
        else:
            if kind == "text":
                texts.append(part.get("content", ""))
            contents.append(part)
    if any(p.get("type") != "text" for p in contents):
        for index, part in enumerate(contents):
            prefix = f"{base}.{MessageAttributes.MESSAGE_CONTENTS}.{index}"
            kind_key = f"{prefix}.{MessageContentAttributes.MESSAGE_CONTENT_TYPE}"
            text_key = f"{prefix}.{MessageContentAttributes.MESSAGE_CONTENT_TEXT}"
            if part.get("type") in ("text", "reasoning"):
                put(kind_key, part["type"])
                put(text_key, _as_text(part.get("content")))
            elif part.get("modality") == "image" and part.get("type") in ("uri", "blob"):
                put(kind_key, "image")
                url = part.get("uri") or f"data:{part.get('mime_type') or 'image'};base64,"
                if part.get("type") == "blob":
                    url += _as_text(part.get("content"))
                image_key = f"{prefix}.{MessageContentAttributes.MESSAGE_CONTENT_IMAGE}"
                put(f"{image_key}.{ImageAttributes.IMAGE_URL}", url)
            else:
                put(kind_key, safe_text(part.get("type")))
                put(text_key, dumps(part))
    elif texts:
        put(f"{base}.{MessageAttributes.MESSAGE_CONTENT}", "".join(texts))
    for index, call in enumerate(calls):
        prefix = f"{base}.{MessageAttributes.MESSAGE_TOOL_CALLS}.{index}"
        if call.get("id"):
            put(f"{prefix}.{ToolCallAttributes.TOOL_CALL_ID}", safe_text(call["id"]))
        put(f"{prefix}.{ToolCallAttributes.TOOL_CALL_FUNCTION_NAME}", safe_text(call.get("name")))
        arguments = f"{prefix}.{ToolCallAttributes.TOOL_CALL_FUNCTION_ARGUMENTS_JSON}"
        put(arguments, dumps(call.get("arguments")))


def messages(
    prefix: str, converted: list[dict[str, Any]], content: Content, marks: Marks, key: str
) -> dict[str, str]:
    """GenAI messages as OpenInference's flattened ``{prefix}.N.message.*`` attributes, each
    redacted as ``key`` and bounded by the length limit; the oldest messages are left out
    (and ``key`` marked in ``otelstream.truncated``) when they would need more than
    ``MAX_MESSAGE_ATTRIBUTES``."""
    per_message: list[dict[str, str]] = []
    for message in converted:
        flat: dict[str, str] = {}
        _message("", message, flat.__setitem__)
        per_message.append(flat)
    kept, used = 0, 0
    for flat in reversed(per_message):
        if used + len(flat) > MAX_MESSAGE_ATTRIBUTES:
            break
        used += len(flat)
        kept += 1
    if kept < len(per_message) and key not in marks.truncated:
        marks.truncated.append(key)
    attrs: dict[str, str] = {}
    for index, flat in enumerate(per_message[len(per_message) - kept :]):
        for name, value in flat.items():
            attrs[f"{prefix}.{index}{name}"] = content.scrub(marks, key, value)
    return attrs

"""What surrounds a conversation, in the GenAI conventions' forms: the tools a model was
offered (``gen_ai.tool.definitions``), the output type it was asked for
(``gen_ai.output.type``) and the documents a retriever found (``gen_ai.retrieval.documents``).
Read by duck typing like the messages (``genai_messages.field``); never raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otelstream.semconv import GenAiOutputTypeValues
from otelstream.serialization import safe_text
from otelstream.spans.genai_messages import Json, field


def tool_definitions(params: Mapping[str, Any]) -> list[Json]:
    """The tools a model was offered (``invocation_params["tools"]`` in OpenAI's or
    Anthropic's format, or the legacy ``functions``) as ``gen_ai.tool.definitions``."""
    tools = params.get("tools") or params.get("functions") or ()
    if not isinstance(tools, (list, tuple)):
        return []
    out: list[Json] = []
    for tool in tools:
        spec = field(tool, "function") if field(tool, "type") == "function" else tool
        name = field(spec, "name")
        if not isinstance(name, str):
            continue
        definition: Json = {"type": "function", "name": name}
        description = field(spec, "description")
        if isinstance(description, str):
            definition["description"] = description
        parameters = field(spec, "parameters") or field(spec, "input_schema")
        if isinstance(parameters, Mapping):
            definition["parameters"] = parameters
        out.append(definition)
    return out


def output_type(params: Mapping[str, Any], metadata: Mapping[str, Any]) -> str | None:
    """``gen_ai.output.type``: what the request asked the model for, when it asked."""
    response_format = params.get("response_format")
    kind = field(response_format, "type") if response_format is not None else None
    if kind in ("json_object", "json_schema") or metadata.get("ls_structured_output_format"):
        return GenAiOutputTypeValues.JSON.value
    if kind == "text":
        return GenAiOutputTypeValues.TEXT.value
    return None


def documents(items: Any) -> list[Json]:
    """Retrieved documents as ``gen_ai.retrieval.documents``: ``id`` and ``score`` where
    known (a ``score`` in the document's metadata), with the document's content and metadata
    (the schema allows more properties; Phoenix reads these two)."""
    out: list[Json] = []
    for doc in items if isinstance(items, (list, tuple)) else ():
        entry: Json = {}
        doc_id = field(doc, "id")
        if isinstance(doc_id, str) and doc_id:
            entry["id"] = doc_id
        metadata = field(doc, "metadata")
        if isinstance(metadata, Mapping):
            score = metadata.get("score", metadata.get("relevance_score"))
            if isinstance(score, (int, float)) and not isinstance(score, bool):
                entry["score"] = score
        content = field(doc, "page_content")
        entry["content"] = content if isinstance(content, str) else safe_text(doc)
        if isinstance(metadata, Mapping):
            entry["metadata"] = metadata
        out.append(entry)
    return out

"""Which attributes carry a run's input and output, per kind of run and flavour.

A run's payloads are recorded once. By default:

* chains, graphs and nodes: ``langchain.run.input``/``output`` (the JSON replay reads);
* tools: the arguments are ``gen_ai.tool.call.arguments`` (the same JSON
  ``langchain.run.input`` would hold, so that is left out); a ``ToolMessage`` result's text
  is ``gen_ai.tool.call.result`` and ``langchain.run.output`` keeps the rest of the message
  (id, status, artifact ...) without it; any other result is ``gen_ai.tool.call.result``;
* retrievers: the query is ``gen_ai.retrieval.query.text``; plain ``Document`` results are
  ``gen_ai.retrieval.documents`` alone (replay rebuilds the documents from them);
* chat models additionally get ``gen_ai.system_instructions``, ``gen_ai.input.messages``,
  ``gen_ai.output.messages`` and ``gen_ai.tool.definitions``, and graph runs whose state
  holds messages ``gen_ai.input.messages`` and the answer as ``gen_ai.output.messages``:
  the conventions' normalized view, beside the exact LangChain JSON replay needs.

With the OpenInference flavour, ``input.value``/``output.value`` carry the run's input and
output instead (for every kind of run), and chat messages and tools are OpenInference's
flattened ``llm.*`` attributes instead of the GenAI ones. With content capture off, only the
attributes that stand for the input or output are recorded, as ``"[redacted]"``.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from otelstream import semconv as sc
from otelstream.lifecycle import RunInfo
from otelstream.serialization import dumps
from otelstream.spans import genai_context
from otelstream.spans import genai_messages as genai
from otelstream.spans.content import Content, Marks

_DOCUMENT_FIELDS = ["id", "metadata", "page_content", "type"]
_MAX_PENDING_TOOL_CALLS = 10_000


def _is_tool_message(value: Any) -> bool:
    """A LangChain ``ToolMessage`` (an object with ``model_dump``, not a dict lookalike)."""
    return (
        not isinstance(value, Mapping)
        and genai.field(value, "type") == "tool"
        and genai.field(value, "tool_call_id") is not None
        and callable(genai.field(value, "model_dump"))
    )


def _rebuildable_documents(value: Any) -> bool:
    """Whether replay can rebuild these retriever results exactly from
    ``gen_ai.retrieval.documents``: plain LangChain ``Document`` objects."""
    if not isinstance(value, list):
        return False
    for doc in value:
        if type(doc).__name__ != "Document" or genai.field(doc, "type") != "Document":
            return False
        doc_id = genai.field(doc, "id")
        if not (doc_id is None or (isinstance(doc_id, str) and doc_id)):
            return False
        try:
            if list(doc.model_dump()) != _DOCUMENT_FIELDS:
                return False
        except Exception:  # a broken lookalike: its output is recorded whole
            return False
    return True


class Payloads:
    """Input and output attributes of the spans of one ``instrument()`` call."""

    def __init__(self, content: Content, openinference: bool) -> None:
        self._content = content
        self._oi: Any = None
        if openinference:
            try:
                from otelstream.spans import openinference as oi
            except ImportError as exc:
                raise ImportError(
                    "otelstream: the OpenInference flavour needs the "
                    "openinference-semantic-conventions package: "
                    "pip install 'otelstream[openinference]'"
                ) from exc
            self._oi = oi
        # OpenInference's tool.parameters is the called tool's parameter schema, which only
        # the model run that asked for the call knows: tool call id -> schema JSON.
        self._tool_schemas: OrderedDict[str, str] = OrderedDict()

    @property
    def openinference(self) -> Any:
        """The OpenInference module when the flavour is on, else None."""
        return self._oi

    # -- start -------------------------------------------------------------------------------
    def start(self, run: RunInfo, marks: Marks) -> dict[str, Any]:
        """The attributes of a run's input."""
        c, oi, rt = self._content, self._oi, run.run_type
        inputs = run.inputs
        attrs: dict[str, Any] = {}
        if rt == "retriever":
            query = inputs.get("query") if isinstance(inputs, Mapping) else inputs
            if oi is not None:
                attrs[oi.INPUT_VALUE] = c.text_payload(marks, "input", query)
                attrs[oi.INPUT_MIME_TYPE] = oi.TEXT
            else:
                attrs[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = c.text_payload(marks, "input", query)
        elif oi is not None:
            attrs[oi.INPUT_VALUE] = c.payload(marks, "input", inputs)
            attrs[oi.INPUT_MIME_TYPE] = oi.JSON
            schema = self._tool_schemas.pop(run.tool_call_id, None) if run.tool_call_id else None
            if schema is not None:
                attrs[oi.SpanAttributes.TOOL_PARAMETERS] = schema
        elif rt == "tool":
            attrs[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = c.payload(marks, "input", inputs)
        else:
            attrs[sc.LC_RUN_INPUT] = c.payload(marks, "input", inputs)
        if rt == "chat_model":
            output_type = genai_context.output_type(run.invocation_params, run.metadata)
            if output_type is not None:
                attrs[sc.GEN_AI_OUTPUT_TYPE] = output_type
            if c.capture:
                self._chat_request(run, inputs, marks, attrs)
        elif run.graph_operation is not None and c.capture and oi is None:
            found = genai.state_messages(inputs)
            if found is not None:
                self._input_messages(genai.messages(found), marks, attrs)
        return attrs

    def _chat_request(self, run: RunInfo, inputs: Any, marks: Marks, attrs: dict[str, Any]) -> None:
        batch = inputs.get("messages") if isinstance(inputs, Mapping) else None
        # LangChain starts one run per prompt of a batch: each run has one message list
        first = batch[0] if isinstance(batch, (list, tuple)) and batch else []
        converted = genai.messages(first)
        definitions = genai_context.tool_definitions(run.invocation_params)
        oi = self._oi
        if oi is not None:
            attrs.update(
                oi.messages(
                    oi.SpanAttributes.LLM_INPUT_MESSAGES, converted, self._content, marks, "input"
                )
            )
            attrs.update(oi.tools(definitions, self._content, marks))
            return
        self._input_messages(converted, marks, attrs)
        if definitions:
            attrs[sc.GEN_AI_TOOL_DEFINITIONS] = self._content.json_payload(
                marks, "input", definitions
            )

    def _input_messages(self, converted: list[Any], marks: Marks, attrs: dict[str, Any]) -> None:
        instructions, conversation = genai.split_system(converted)
        if instructions:
            attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = self._content.json_payload(
                marks, "input", instructions
            )
        attrs[sc.GEN_AI_INPUT_MESSAGES] = self._content.json_payload(marks, "input", conversation)

    # -- end ---------------------------------------------------------------------------------
    def end(self, run: RunInfo, output: Any, marks: Marks) -> dict[str, Any]:
        """The attributes of a run's output."""
        c, oi, rt = self._content, self._oi, run.run_type
        attrs: dict[str, Any] = {}
        if oi is not None:
            attrs[oi.OUTPUT_VALUE] = c.payload(marks, "output", output)
            attrs[oi.OUTPUT_MIME_TYPE] = oi.JSON
            call_id = genai.field(output, "tool_call_id")  # older cores: known only now
            if rt == "tool" and not run.tool_call_id and isinstance(call_id, str):
                schema = self._tool_schemas.pop(call_id, None)
                if schema is not None:
                    attrs[oi.SpanAttributes.TOOL_PARAMETERS] = schema
            if rt == "chat_model" and c.capture:
                answer = genai.output_message(output)
                self._remember_schemas(run, answer)
                if answer is not None:
                    attrs.update(
                        oi.messages(
                            oi.SpanAttributes.LLM_OUTPUT_MESSAGES, [answer], c, marks, "output"
                        )
                    )
            return attrs
        if rt == "tool":
            self._tool_result(output, marks, attrs)
        elif rt == "retriever" and _rebuildable_documents(output):
            attrs[sc.GEN_AI_RETRIEVAL_DOCUMENTS] = c.json_payload(
                marks, "output", genai_context.documents(output)
            )
        else:
            attrs[sc.LC_RUN_OUTPUT] = c.payload(marks, "output", output)
        if not c.capture:
            return attrs
        if rt == "chat_model":
            answer = genai.output_message(output)
            if answer is not None:
                attrs[sc.GEN_AI_OUTPUT_MESSAGES] = c.json_payload(marks, "output", [answer])
        elif rt == "retriever" and sc.LC_RUN_OUTPUT in attrs:
            found = genai_context.documents(output)
            if found:
                attrs[sc.GEN_AI_RETRIEVAL_DOCUMENTS] = c.json_payload(marks, "output", found)
        elif run.graph_operation is not None:
            answer_messages = genai.last_answer(output)
            if answer_messages:
                attrs[sc.GEN_AI_OUTPUT_MESSAGES] = c.json_payload(marks, "output", answer_messages)
        return attrs

    def _remember_schemas(self, run: RunInfo, answer: Any) -> None:
        """The parameter schemas of the tools the model asked for, by tool call id, for the
        tool spans that follow (bounded: calls that never run are forgotten)."""
        if answer is None:
            return
        schemas = {
            d["name"]: d["parameters"]
            for d in genai_context.tool_definitions(run.invocation_params)
            if "parameters" in d
        }
        for part in answer["parts"]:
            schema = schemas.get(part.get("name")) if part["type"] == "tool_call" else None
            if schema is not None and part.get("id"):
                self._tool_schemas[part["id"]] = self._content.scrub(None, "input", dumps(schema))
                if len(self._tool_schemas) > _MAX_PENDING_TOOL_CALLS:
                    with contextlib.suppress(KeyError):  # emptied by another thread meanwhile
                        self._tool_schemas.popitem(last=False)

    def _tool_result(self, output: Any, marks: Marks, attrs: dict[str, Any]) -> None:
        c = self._content
        text = genai.field(output, "content")
        if _is_tool_message(output) and isinstance(text, str):
            try:
                message = output.model_dump()
            except Exception:  # a broken model: recorded whole, by the serializer
                message = None
            if isinstance(message, dict) and message.get("content") == text:
                message.pop("content")
                attrs[sc.LC_RUN_OUTPUT] = c.payload(marks, "output", message)
                attrs[sc.GEN_AI_TOOL_CALL_RESULT] = c.text_payload(marks, "output", text)
                return
        if _is_tool_message(output):  # content that is not text: the message stays whole
            attrs[sc.LC_RUN_OUTPUT] = c.payload(marks, "output", output)
            attrs[sc.GEN_AI_TOOL_CALL_RESULT] = c.payload(marks, "output", text)
            return
        attrs[sc.GEN_AI_TOOL_CALL_RESULT] = c.payload(marks, "output", output)

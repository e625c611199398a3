"""Span names, kinds and attributes per kind of run (GenAI conventions, ``langchain.*``,
``langgraph.*``), from what a run's start and end tell.

Common to every span: enough of the run to rebuild its ``astream_events`` events later
(``langchain.run.*``), the conversation (``thread_id``), and the node it ran in. Then, per
kind: chat models and LLMs (CLIENT spans named ``chat {model}``), tools, retrievers, node
tasks (``node {name}``) and graph runs (``invoke_agent``/``invoke_workflow``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from opentelemetry.trace import Link, SpanContext, SpanKind

from otelstream import semconv as sc
from otelstream.lifecycle import RunInfo
from otelstream.serialization import dumps, safe_text
from otelstream.spans.content import Content, Marks


class SpanStart(NamedTuple):
    name: str
    kind: SpanKind
    attributes: dict[str, Any]
    links: list[Link]


def count(value: Any) -> int | None:
    """An int attribute value, if it is one OTLP can carry (int64)."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def model_name(run: RunInfo) -> str | None:
    """The model a model run asked for: LangChain's ``ls_model_name``, else the
    invocation parameters' model name (``model``, ``model_name``, ``model_id``, ...)."""
    name = run.metadata.get("ls_model_name")
    if isinstance(name, str) and name:
        return name
    params = run.invocation_params
    for key in ("model", "model_name", "model_id", "deployment_name"):
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def span_start(
    run: RunInfo,
    seq: int,
    content: Content,
    marks: Marks,
    resumed: Any,
    parented: bool,
) -> SpanStart:
    """How the span of ``run`` starts. ``resumed(thread_id)`` gives the span context of the
    interrupted run a root graph run resumes, if any; ``parented``: the span's parent is the
    span of the run's parent.

    What a replay can derive is not recorded again (each attribute costs the SDK about as
    much as the rest of a span): a run's parent ids where its parent's span is its parent,
    the type ``chain``, a name the span name already says."""
    md = run.metadata
    attrs: dict[str, Any] = {sc.LC_START_SEQ: seq, sc.LC_RUN_ID: run.id}
    if run.run_type != "chain":
        attrs[sc.LC_RUN_TYPE] = run.run_type
    if run.parent_ids and not parented:
        attrs[sc.LC_RUN_PARENT_IDS] = run.parent_ids
    if run.tags:
        attrs[sc.LC_RUN_TAGS] = [safe_text(t) for t in run.tags]
    if md:
        attrs[sc.LC_RUN_METADATA] = content.scrub(marks, "metadata", dumps(md))
    thread_id = md.get("thread_id")
    if thread_id is not None:
        attrs[sc.GEN_AI_CONVERSATION_ID] = safe_text(thread_id)
    node = md.get("langgraph_node")
    if node is not None:
        attrs[sc.LG_NODE] = safe_text(node)
        step = md.get("langgraph_step")
        if isinstance(step, int):
            attrs[sc.LG_STEP] = step

    links: list[Link] = []
    kind = SpanKind.INTERNAL
    rt = run.run_type
    if rt == "chat_model" or rt == "llm":
        name, kind = _model(run, attrs), SpanKind.CLIENT
    elif rt == "tool":
        name = _tool(run, attrs, content, marks)
    elif rt == "retriever":
        name = f"{sc.OP_RETRIEVAL} {run.name}"
        attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_RETRIEVAL
    elif run.is_node:
        name = _node(run, attrs)
    elif run.graph_operation is not None:
        name = _graph(run, attrs)
        if run.is_root and thread_id is not None:
            previous: SpanContext | None = resumed(str(thread_id))
            if previous is not None:
                links.append(Link(previous, {sc.LG_RESUMED: True}))
                attrs[sc.LG_RESUMED] = True
    else:
        name = run.name
    if implied_name(name, run.is_node) != run.name:
        attrs[sc.LC_RUN_NAME] = safe_text(run.name)
    return SpanStart(name, kind, attrs, links)


def implied_name(span_name: str, is_node: bool) -> str:
    """The run name a span's name implies, where ``langchain.run.name`` is not recorded."""
    return span_name.removeprefix("node ") if is_node else span_name


def _model(run: RunInfo, attrs: dict[str, Any]) -> str:
    op = sc.OP_CHAT if run.run_type == "chat_model" else sc.OP_TEXT_COMPLETION
    model = model_name(run)
    attrs[sc.GEN_AI_OPERATION_NAME] = op
    provider = run.metadata.get("ls_provider")
    if isinstance(provider, str):
        attrs[sc.GEN_AI_PROVIDER_NAME] = sc.PROVIDER_NAMES.get(provider, provider)
    if model:
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    params = run.invocation_params
    for key, attr in (
        ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
        ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
        ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ):
        value = params.get(key)
        if isinstance(value, float) or count(value) is not None:
            attrs[attr] = value
    return f"{op} {model}" if model else op


def _tool(run: RunInfo, attrs: dict[str, Any], content: Content, marks: Marks) -> str:
    attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_EXECUTE_TOOL
    attrs[sc.GEN_AI_TOOL_NAME] = run.name
    attrs[sc.GEN_AI_TOOL_TYPE] = "function"
    if run.tool_call_id:
        attrs[sc.GEN_AI_TOOL_CALL_ID] = str(run.tool_call_id)
    description = (run.serialized or {}).get("description")
    if isinstance(description, str) and description:
        attrs[sc.GEN_AI_TOOL_DESCRIPTION] = content.text(marks, "description", description)
    return f"{sc.OP_EXECUTE_TOOL} {run.name}"


def _node(run: RunInfo, attrs: dict[str, Any]) -> str:
    md = run.metadata
    triggers = md.get("langgraph_triggers")
    if triggers:
        attrs[sc.LG_TRIGGERS] = [str(t) for t in triggers]
    ns = md.get("langgraph_checkpoint_ns")
    if isinstance(ns, str) and ns:
        attrs[sc.LG_CHECKPOINT_NS] = ns
        attrs[sc.LG_TASK_ID] = ns.rsplit("|", 1)[-1].partition(":")[2]
    if run.parent is not None:
        attrs[sc.LG_GRAPH_NAME] = run.parent.name
    return f"node {run.name}"


def _graph(run: RunInfo, attrs: dict[str, Any]) -> str:
    op = run.graph_operation
    attrs[sc.GEN_AI_OPERATION_NAME] = op
    name_key = sc.GEN_AI_AGENT_NAME if op == sc.OP_INVOKE_AGENT else sc.GEN_AI_WORKFLOW_NAME
    attrs[name_key] = run.name
    attrs[sc.LG_GRAPH_NAME] = run.name
    ns = run.metadata.get("checkpoint_ns")
    if isinstance(ns, str) and ns:
        attrs[sc.LG_CHECKPOINT_NS] = ns
    return f"{op} {run.name}"


class ChatResponse(NamedTuple):
    attributes: dict[str, Any]
    usage: tuple[int | None, int | None] | None
    model: str | None


def chat_response(run: RunInfo, message: Any) -> ChatResponse:
    """What a chat model's answer tells: token usage, response model, id, finish reason."""
    attrs: dict[str, Any] = {}
    usage = getattr(message, "usage_metadata", None)
    llm_output = run.llm_output or {}
    if not usage and isinstance(llm_output, dict):
        token_usage = llm_output.get("token_usage") or llm_output.get("usage") or {}
        if isinstance(token_usage, dict):
            usage = {
                "input_tokens": token_usage.get("prompt_tokens") or token_usage.get("input_tokens"),
                "output_tokens": token_usage.get("completion_tokens")
                or token_usage.get("output_tokens"),
            }
    counts = None
    if usage:
        n_in, n_out = (count(usage.get(k)) for k in ("input_tokens", "output_tokens"))
        counts = (n_in, n_out)
        if n_in is not None:
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = n_in
        if n_out is not None:
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = n_out
    response_md = getattr(message, "response_metadata", None) or {}
    model = response_md.get("model_name") or response_md.get("model")
    if not (isinstance(model, str) and model):
        model = None
    else:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = model
    reason = response_md.get("finish_reason") or response_md.get("stop_reason")
    if isinstance(reason, str) and reason:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [reason]
    response_id = response_md.get("id") or getattr(message, "id", None)
    if isinstance(response_id, str) and not response_id.startswith(("lc_run-", "run-")):
        attrs[sc.GEN_AI_RESPONSE_ID] = response_id
    return ChatResponse(attrs, counts, model)

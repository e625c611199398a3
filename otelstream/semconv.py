"""Attribute, span-event and operation names, in one place.

GenAI names (attributes, operations, providers, metrics) come from the
``opentelemetry-semantic-conventions`` package (its incubating GenAI module), re-exported
here so every stage reads them from one place; nothing GenAI is spelled out by hand. What
the conventions do not cover is otelstream's own, in three documented namespaces:
``langchain.*`` (the LangChain run a span mirrors, enough to rebuild its ``astream_events``
events), ``langgraph.*`` (graph, super-step, node, task, checkpoint, interrupt) and
``otelstream.*`` (the instrumentation's bookkeeping).
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_AGENT_NAME,
    GEN_AI_CONVERSATION_ID,
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OPERATION_NAME,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_OUTPUT_TYPE,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_P,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_RETRIEVAL_DOCUMENTS,
    GEN_AI_RETRIEVAL_QUERY_TEXT,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_TOKEN_TYPE,
    GEN_AI_TOOL_CALL_ARGUMENTS,
    GEN_AI_TOOL_CALL_ID,
    GEN_AI_TOOL_CALL_RESULT,
    GEN_AI_TOOL_DEFINITIONS,
    GEN_AI_TOOL_DESCRIPTION,
    GEN_AI_TOOL_NAME,
    GEN_AI_TOOL_TYPE,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_WORKFLOW_NAME,
    GenAiOperationNameValues,
    GenAiOutputTypeValues,
    GenAiProviderNameValues,
)
from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    GEN_AI_CLIENT_TOKEN_USAGE,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_ESCAPED,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)

__all__ = [  # the re-exported GenAI and general names (the rest is defined below)
    "ERROR_TYPE",
    "EXCEPTION_ESCAPED",
    "EXCEPTION_MESSAGE",
    "EXCEPTION_STACKTRACE",
    "EXCEPTION_TYPE",
    "GEN_AI_AGENT_NAME",
    "GEN_AI_CONVERSATION_ID",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_OUTPUT_TYPE",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_STREAM",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_REQUEST_TOP_P",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK",
    "GEN_AI_RETRIEVAL_DOCUMENTS",
    "GEN_AI_RETRIEVAL_QUERY_TEXT",
    "GEN_AI_SYSTEM_INSTRUCTIONS",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_TOOL_CALL_ARGUMENTS",
    "GEN_AI_TOOL_CALL_ID",
    "GEN_AI_TOOL_CALL_RESULT",
    "GEN_AI_TOOL_DEFINITIONS",
    "GEN_AI_TOOL_DESCRIPTION",
    "GEN_AI_TOOL_NAME",
    "GEN_AI_TOOL_TYPE",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_WORKFLOW_NAME",
    "GenAiOutputTypeValues",
]

OP_CHAT = GenAiOperationNameValues.CHAT.value
OP_TEXT_COMPLETION = GenAiOperationNameValues.TEXT_COMPLETION.value
OP_EXECUTE_TOOL = GenAiOperationNameValues.EXECUTE_TOOL.value
OP_RETRIEVAL = GenAiOperationNameValues.RETRIEVAL.value
OP_INVOKE_AGENT = GenAiOperationNameValues.INVOKE_AGENT.value
OP_INVOKE_WORKFLOW = GenAiOperationNameValues.INVOKE_WORKFLOW.value

METRIC_OPERATION_DURATION = GEN_AI_CLIENT_OPERATION_DURATION
METRIC_TOKEN_USAGE = GEN_AI_CLIENT_TOKEN_USAGE
METRIC_TIME_TO_FIRST_CHUNK = GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK

_P = GenAiProviderNameValues
# LangChain's ``ls_provider`` values -> the conventions' well-known ``gen_ai.provider.name``.
PROVIDER_NAMES = {
    "openai": _P.OPENAI.value,
    "azure": _P.AZURE_AI_OPENAI.value,
    "azure_openai": _P.AZURE_AI_OPENAI.value,
    "anthropic": _P.ANTHROPIC.value,
    "bedrock": _P.AWS_BEDROCK.value,
    "amazon_bedrock": _P.AWS_BEDROCK.value,
    "bedrock_converse": _P.AWS_BEDROCK.value,
    "google_genai": _P.GCP_GEMINI.value,
    "google_vertexai": _P.GCP_VERTEX_AI.value,
    "google_anthropic_vertex": _P.GCP_VERTEX_AI.value,
    "cohere": _P.COHERE.value,
    "mistralai": _P.MISTRAL_AI.value,
    "groq": _P.GROQ.value,
    "deepseek": _P.DEEPSEEK.value,
    "xai": _P.X_AI.value,
    "perplexity": _P.PERPLEXITY.value,
    "ibm": _P.IBM_WATSONX_AI.value,
    "azure_ai": _P.AZURE_AI_INFERENCE.value,
}

# --- langchain.*: the run a span mirrors ----------------------------------------------------
LC_RUN_ID = "langchain.run.id"
LC_RUN_TYPE = "langchain.run.type"
LC_RUN_NAME = "langchain.run.name"
LC_RUN_PARENT_IDS = "langchain.run.parent_ids"
LC_RUN_TAGS = "langchain.run.tags"
LC_RUN_METADATA = "langchain.run.metadata"
LC_RUN_INPUT = "langchain.run.input"
LC_RUN_OUTPUT = "langchain.run.output"
LC_EVENT_DATA = "langchain.event.data"
LC_EVENT_NAME = "langchain.event.name"
LC_EVENT_COUNT = "langchain.event.count"
LC_EVENT_DATA_LIST = "langchain.event.data_list"
LC_EVENT_OFFSETS = "langchain.event.time_offsets_ns"
LC_RUN_END_INPUT = "langchain.run.end_input"  # the end event's input, when not the start's
# Order of the lifecycle events within the process, so a trace replays in the order it ran.
LC_START_SEQ = "langchain.run.start_seq"
LC_END_SEQ = "langchain.run.end_seq"
LC_EVENT_SEQ = "langchain.event.seq"
LC_EVENT_SEQS = "langchain.event.seqs"
# Message chunks of one span event, compactly (see ``spans/tokens.py``): the text of every
# chunk joined, each chunk's share of it, the fields all chunks share, and what differs.
LC_EVENT_TEXT = "langchain.event.text"
LC_EVENT_TEXT_LENGTHS = "langchain.event.text_lengths"
LC_EVENT_CHUNK = "langchain.event.chunk"
LC_EVENT_DELTAS = "langchain.event.deltas"

# --- langgraph.*: graph concepts --------------------------------------------------------------
LG_GRAPH_NAME = "langgraph.graph.name"
LG_STEP = "langgraph.step"
LG_NODE = "langgraph.node"
LG_TRIGGERS = "langgraph.triggers"
LG_TASK_ID = "langgraph.task.id"
LG_CHECKPOINT_NS = "langgraph.checkpoint.ns"
LG_INTERRUPTED = "langgraph.interrupted"
LG_INTERRUPT_VALUE = "langgraph.interrupt.value"
LG_INTERRUPT_ID = "langgraph.interrupt.id"
LG_RESUMED = "langgraph.resumed"
LG_CANCELLED = "langgraph.cancelled"
LG_CUSTOM_DATA = "langgraph.custom.data"
LG_OUTCOME = "langgraph.outcome"  # metric attribute: success, error, interrupted, cancelled

# Span events that are not LangChain lifecycle events.
EVENT_INTERRUPT = "langgraph.interrupt"
EVENT_CUSTOM_WRITE = "langgraph.custom"
EVENT_DEBUG = "langgraph.debug"  # coalesced ``debug`` stream chunks ([namespace, chunk] pairs)

# --- otelstream.*: the instrumentation's own bookkeeping --------------------------------------
OS_TRUNCATED = "otelstream.truncated"
OS_DROPPED_STREAM_EVENTS = "otelstream.dropped_stream_events"

REDACTED = "[redacted]"

# --- metrics ----------------------------------------------------------------------------------
METRIC_RUN_DURATION = "langgraph.run.duration"
METRIC_NODE_DURATION = "langgraph.node.duration"
METRIC_INTERRUPTS = "langgraph.interrupts"
METRIC_SUBSCRIBER_DROPPED = "otelstream.subscriber.dropped"

OUTCOME_SUCCESS = "success"
OUTCOME_ERROR = "error"
OUTCOME_INTERRUPTED = "interrupted"
OUTCOME_CANCELLED = "cancelled"

"""Attribute, span-event and operation names, in one place.

GenAI names follow the OpenTelemetry GenAI semantic conventions (latest experimental).
What the conventions do not cover lives in two documented namespaces:
``langchain.*`` (the LangChain run a span mirrors, enough to rebuild its ``astream_events``
events) and ``langgraph.*`` (graph, super-step, node, task, checkpoint, interrupt).
"""

from __future__ import annotations

# --- GenAI semantic conventions ---------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"
ERROR_TYPE = "error.type"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_ESCAPED = "exception.escaped"
EXCEPTION_STACKTRACE = "exception.stacktrace"

OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_EXECUTE_TOOL = "execute_tool"
OP_RETRIEVAL = "retrieval"
OP_INVOKE_AGENT = "invoke_agent"
OP_INVOKE_WORKFLOW = "invoke_workflow"

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

# --- langgraph.*: graph concepts --------------------------------------------------------------
LG_GRAPH_NAME = "langgraph.graph.name"
LG_STEP = "langgraph.step"
LG_NODE = "langgraph.node"
LG_TRIGGERS = "langgraph.triggers"
LG_PATH = "langgraph.path"
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
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_RUN_DURATION = "langgraph.run.duration"
METRIC_NODE_DURATION = "langgraph.node.duration"
METRIC_INTERRUPTS = "langgraph.interrupts"
METRIC_SUBSCRIBER_DROPPED = "otelstream.subscriber.dropped"

OUTCOME_SUCCESS = "success"
OUTCOME_ERROR = "error"
OUTCOME_INTERRUPTED = "interrupted"
OUTCOME_CANCELLED = "cancelled"

# LangChain's ``ls_provider`` values mapped to GenAI ``gen_ai.provider.name`` well-known values.
PROVIDER_NAMES = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "google_genai": "gcp.gemini",
    "google_vertexai": "gcp.vertex_ai",
    "google_anthropic_vertex": "gcp.vertex_ai",
    "cohere": "cohere",
    "mistralai": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "ibm": "ibm.watsonx.ai",
    "azure_ai": "azure.ai.inference",
}

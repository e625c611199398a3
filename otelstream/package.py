"""The instrumented libraries and the versions otelstream supports (checked by BaseInstrumentor)."""

_instruments = ("langchain-core >= 0.3.0, < 2",)
"""Always required: the callback system otelstream hooks."""

_supported_langgraph = "langgraph >= 0.6.0, < 2"
"""Optional: the graph-level hooks are added when a supported LangGraph is installed."""

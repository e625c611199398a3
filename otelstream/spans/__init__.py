"""Stage 2, spans: lifecycle events -> OpenTelemetry spans, span events and metrics.

The span lifecycle (``span_manager``), what each kind of run records (``attributes``), which
attribute carries each payload (``payloads``) in the GenAI form (``genai_messages``,
``genai_context``) or the
OpenInference one (``openinference``), message chunks in compact form (``tokens``), the
content policy every payload passes (``content``), how runs end (``outcome``), resume links
(``resume``) and the metric instruments fed as runs end (``metrics``).
"""

"""Export: the tracer and meter providers (``providers``), the OTLP/JSON file of the embedded
default (``otlp_file``) and reading it back (``recorded``), and span export that counts what
it drops (``counting``). Needs only OpenTelemetry, never LangChain."""

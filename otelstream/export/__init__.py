"""Export: the tracer and meter providers (``providers``), the ``opentelemetry-instrument``
distro (``distro``), the OTLP/JSON file of the embedded default (``otlp_file``) and reading
it back (``recorded``), span export that counts what it drops (``counting``), and metrics
that stop when an endpoint refuses them (``metrics_guard``). Needs only OpenTelemetry, never
LangChain."""

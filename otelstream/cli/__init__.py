"""The ``otelstream`` command: ``demo``, ``run``, ``replay`` and ``serve`` (``command``), with
the graph runner (``runner``), the bundled demo (``demo``), stream printers (``printers``),
the trace-tree printer (``console``) and the stream store server (``serve``)."""

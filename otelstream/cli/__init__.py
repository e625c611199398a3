"""The ``otelstream`` command: ``demo``, ``run`` and ``replay`` (``command``), with the
graph runner (``runner``), the bundled demo (``demo``), stream printers (``printers``) and
the trace-tree printer (``console``)."""

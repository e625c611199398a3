"""``python -m otelstream``: the same as the ``otelstream`` command."""

from otelstream.cli import main

raise SystemExit(main())

"""``python -m otelstream``: the same as the ``otelstream`` command."""

from otelstream.cli.command import main

raise SystemExit(main())

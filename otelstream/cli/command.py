"""The ``otelstream`` command (also ``python -m otelstream``): one subcommand per task.

Subcommands import what they need when they run, so ``otelstream --help`` works even
where LangGraph is not installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence

from otelstream.cli.serve import add_parser as add_serve_parser
from otelstream.version import __version__

Command = Callable[[argparse.Namespace], int]


def _with_langgraph(load: Callable[[], Command]) -> Command:
    """A command that imports LangGraph when it runs, with a clear message when it is missing."""

    def command(args: argparse.Namespace) -> int:
        try:
            with warnings.catch_warnings():  # dependencies' import-time notices are not for users
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                run = load()
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in ("langgraph", "langchain_core"):
                raise
            print(
                f"otelstream {args.name} needs LangGraph and langchain-core ({exc.name} is "
                'missing): pip install "otelstream[instruments]"',
                file=sys.stderr,
            )
            return 1
        return run(args)

    return command


def _load_demo() -> Command:
    from otelstream.cli.demo import run_demo

    return lambda args: run_demo()


def _load_run() -> Command:
    from otelstream.cli.runner import run

    return lambda args: run(
        args.target,
        args.input,
        stream_mode=args.stream_mode,
        config_json=args.config,
        thread_id=args.thread_id,
        full_traceback=args.traceback,
    )


def _replay(args: argparse.Namespace) -> int:
    """Print a recorded run's stream: JSON lines, or readable lines in a terminal."""
    from otelstream.cli.printers import PrettyPrinter
    from otelstream.streams.replay import ReplayError, replay

    try:
        items = replay(
            args.file,
            stream_mode=args.stream_mode,
            trace_id=args.trace_id,
            subgraphs=args.subgraphs,
        )
    except (OSError, ReplayError) as exc:
        print(f"otelstream replay: {exc}", file=sys.stderr)
        return 1
    if sys.stdout.isatty():
        printer = PrettyPrinter(sys.stdout)
        for item in items:
            printer.show(args.stream_mode, item)
        printer.end_line()
    else:
        for item in items:
            print(json.dumps(item, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full command line; each subparser sets ``command`` to the function it runs."""
    parser = argparse.ArgumentParser(
        prog="otelstream",
        description="Drop-in OpenTelemetry tracing for LangGraph.",
    )
    parser.add_argument("--version", action="version", version=f"otelstream {__version__}")
    commands = parser.add_subparsers(title="commands", dest="name", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run a small agent offline and print its trace as a tree",
        description="Run a bundled example graph (a scripted streaming chat model calling a "
        "tool, and a subgraph) with otelstream instrumented, then print its trace as a tree. "
        "Needs no network and no API key.",
    )
    demo.set_defaults(command=_with_langgraph(_load_demo))

    run = commands.add_parser(
        "run",
        help="run your graph instrumented and print its live streams",
        description="Import MODULE:ATTR (a compiled graph, or a function returning one), run it "
        "once on --input with otelstream instrumented (exporting as OTEL_* says, else to the "
        "OTLP/JSON file) and print the chosen streams: pretty in a terminal, JSON lines when "
        "piped. Exit code 0 when the run succeeded, 1 when it failed (the failing frame is "
        "shown), 2 on bad arguments or settings.",
    )
    run.add_argument("target", metavar="MODULE:ATTR")
    run.add_argument("--input", required=True, metavar="JSON", help="the graph's input")
    run.add_argument(
        "--stream-mode",
        metavar="MODES",
        help="comma-separated LangGraph modes plus 'events' (default: events,debug)",
    )
    run.add_argument("--config", metavar="JSON", help="a RunnableConfig as a JSON object")
    run.add_argument("--thread-id", help="sets config.configurable.thread_id")
    run.add_argument(
        "--traceback",
        action="store_true",
        help="when the run fails, print the whole traceback (default: the failing frame)",
    )
    run.set_defaults(command=_with_langgraph(_load_run))

    replay = commands.add_parser(
        "replay",
        help="re-emit a recorded run's events or debug stream from an exported file",
        description="Read an OTLP/JSON file (otelstream's embedded default with its rotated "
        "files, or a Collector file exporter's) and print a recorded root run's stream, "
        'rebuilt from its spans alone, as JSON lines. Content recorded with capture off reads "'
        '[redacted]".',
    )
    replay.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="default: the embedded default's file and its rotated files (OTELSTREAM_FILE)",
    )
    replay.add_argument("--stream-mode", choices=("events", "debug"), default="events")
    replay.add_argument("--trace-id", help="the trace to replay (default: the most recent)")
    replay.add_argument(
        "--subgraphs", action="store_true", help="debug: include subgraphs, with namespaces"
    )
    replay.set_defaults(command=_replay)
    add_serve_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``otelstream`` subcommand; returns its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "command", None)
    if command is None:  # a bare `otelstream`: show what it can do
        parser.print_help(sys.stderr)
        return 2
    from otelstream.config import ConfigurationError

    try:
        return command(args)
    except ConfigurationError as exc:  # a bad OTEL_*/OTELSTREAM_* setting: one line
        print(f"otelstream {args.name}: {exc}", file=sys.stderr)
        return 2

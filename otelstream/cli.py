"""The ``otelstream`` command (also ``python -m otelstream``): one subcommand per task.

Subcommands import what they need when they run, so ``otelstream --help`` works even
where LangGraph is not installed.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence

from otelstream.version import __version__

Command = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings():  # dependencies' import-time notices are not for users
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            from otelstream.demo import run_demo
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("langgraph", "langchain_core"):
            raise
        print(
            f"otelstream demo needs LangGraph and langchain-core ({exc.name} is missing): "
            'pip install "otelstream[instruments]"',
            file=sys.stderr,
        )
        return 1
    return run_demo()


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
    demo.set_defaults(command=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``otelstream`` subcommand; returns its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "command", None)
    if command is None:  # a bare `otelstream`: show what it can do
        parser.print_help(sys.stderr)
        return 2
    return command(args)

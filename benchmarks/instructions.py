"""Instructions per run under valgrind's callgrind: a measure the machine's load cannot move.

    python benchmarks/instructions.py [--workloads chain,agent] [--modes invoke,traced,...]

Wall-clock ratios on a shared 2-core machine move by 20 to 30 % from one run to the next;
instruction counts do not. Each (workload, mode) runs in a fresh interpreter under
``valgrind --tool=callgrind`` twice, with ``FEW`` and ``MANY`` runs after the same warm-up,
and the difference divided by the extra runs is the cost of one run, start-up excluded.
Needs Debian's ``valgrind`` (``apt-get install valgrind``); about a minute per measurement.

Modes: ``invoke`` (uninstrumented), ``traced`` (otelstream, spans to a discarding batch
processor), ``astream`` (uninstrumented ``graph.astream``), ``astream_traced``,
``astream_tap`` (uninstrumented, with a do-nothing streaming callback handler: what making
nodes stream costs), ``native_events`` (``astream_events(version="v2")``) and
``otelstream_events`` (``otelstream.astream_events``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

FEW, MANY = 3, 13
MODES = (
    "invoke",
    "traced",
    "astream",
    "astream_traced",
    "astream_tap",
    "native_events",
    "otelstream_events",
)
TRACED = {"traced", "astream_traced", "otelstream_events"}

RUNNER = """
import asyncio, os, sys
sys.path.insert(0, {here!r})
from workloads import BUILDERS
name, mode, n = {name!r}, {mode!r}, int(sys.argv[1])
w = BUILDERS[name]()
if mode in {traced!r}:
    import otelstream
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    class Discard(SpanExporter):
        def export(self, spans): return SpanExportResult.SUCCESS
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(Discard(), schedule_delay_millis=60000,
                                             max_queue_size=1000000))
    otelstream.instrument(tracer_provider=tp)
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers._streaming import _StreamingCallbackHandler
class NoopTap(BaseCallbackHandler, _StreamingCallbackHandler):
    run_inline = True
    ignore_llm = ignore_chain = ignore_agent = ignore_retriever = True
    ignore_chat_model = ignore_custom_event = ignore_retry = True
    def tap_output_iter(self, run_id, output): return output
    def tap_output_aiter(self, run_id, output): return output
async def arun(count):
    for _ in range(count):
        c = w.config()
        if mode == "native_events":
            it = w.graph.astream_events(w.make_input(), c, version="v2")
        elif mode == "otelstream_events":
            it = otelstream.astream_events(w.graph, w.make_input(), c)
        else:
            if mode == "astream_tap":
                c = {{**c, "callbacks": [NoopTap()]}}
            it = w.graph.astream(w.make_input(), c)
        async for _ in it:
            pass
        w.done(c)
def run(count):
    if mode in ("invoke", "traced"):
        for _ in range(count):
            c = w.config(); w.graph.invoke(w.make_input(), c); w.done(c)
    else:
        asyncio.run(arun(count))
run(3)
run(n)
os._exit(0)
"""


def instructions(name: str, mode: str, runs: int) -> int:
    code = RUNNER.format(here=str(Path(__file__).parent), name=name, mode=mode, traced=TRACED)
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    done = subprocess.run(
        [*valgrind, sys.executable, "-c", code, str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind reported no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_run(name: str, mode: str) -> float:
    return (instructions(name, mode, MANY) - instructions(name, mode, FEW)) / (MANY - FEW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="chain,fanout,agent")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    print("| workload | mode | instructions/run | vs invoke |")
    print("|---|---|---|---|")
    for name in args.workloads.split(","):
        base = None
        for mode in modes:
            count = per_run(name, mode)
            if mode == "invoke":
                base = count
            ratio = f"{count / base:.2f}x" if base else "-"
            print(f"| {name} | {mode} | {count / 1e6:.2f} M | {ratio} |", flush=True)


if __name__ == "__main__":
    main()

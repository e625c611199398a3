"""A worker process of the multi-process test: runs graphs, publishes their runs to Redis
(``otelstream.server.publish``), serves nothing, and writes what its in-process streams gave.

    python tests/redis_worker.py STORE_URL threads|asyncio SPEC.json OUT.json

SPEC is a list of ``{"case": <corpus case or "long">, "thread_id", "run_id"}``. The worker
prints ``ready``, and when a line arrives on stdin starts every run at once: one thread each
(``threads``), or one task each on one event loop (``asyncio``). OUT gets, per run, LangGraph's
own items and the subscriber's in their Platform JSON form, the error, and the publisher's
counters.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphs import CASES, Case, long_loop
from opentelemetry.sdk.trace import TracerProvider
from server_support import adrive, drive, platform_json

import otelstream
from otelstream.server import publish

LONG = Case("long", lambda: long_loop(20, delay=0.05), {"count": 0, "log": []}, True)


def result(run: dict[str, Any], native: Any, items: Any, error: Any) -> dict[str, Any]:
    return {
        **run,
        "native": platform_json(native),
        "items": [[mode, platform_json(chunk)] for mode, chunk in items],
        "error": None if error is None else [type(error).__name__, str(error)],
    }


def main() -> None:
    url, mode, spec_path, out_path = sys.argv[1:]
    otelstream.instrument(tracer_provider=TracerProvider())
    publishing = publish(url)
    runs = json.loads(Path(spec_path).read_text())
    cases = {run["run_id"]: CASES.get(run["case"], LONG) for run in runs}
    print("ready", flush=True)
    sys.stdin.readline()
    out: list[dict[str, Any]] = []
    if mode == "threads":

        def one(run: dict[str, Any]) -> None:
            case = cases[run["run_id"]]
            _, native, items, error = drive(case, run["thread_id"], uuid.UUID(run["run_id"]))
            out.append(result(run, native, items, error))

        threads = [threading.Thread(target=one, args=(run,)) for run in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:

        async def one_task(run: dict[str, Any]) -> None:
            case = cases[run["run_id"]]
            native, items, error = await adrive(case, run["thread_id"], uuid.UUID(run["run_id"]))
            out.append(result(run, native, items, error))

        async def all_tasks() -> None:
            await asyncio.gather(*(one_task(run) for run in runs))

        asyncio.run(all_tasks())
    publishing.stop(timeout=20)
    stats = publishing.store.stats()  # type: ignore[attr-defined]
    Path(out_path).write_text(json.dumps({"runs": out, "stats": stats}))


if __name__ == "__main__":
    main()

"""One (condition, workload) measured in its own process: the uninstrumented ``invoke``
first (the same-process baseline), then any reference, then the condition itself; each mode
warmed up, then timed as the median of several repetitions of a batch of runs, the modes
timed in the same phase alternating round by round."""

from __future__ import annotations

import asyncio
import gc
import json
import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

from conditions import CONDITIONS, TOKEN_MEMORY_DIVISOR, Settings
from instrumentation import CountingExporter, instrument
from memory import memory_growth, peak_rss_mb
from run_modes import Runner, runner


class Worker:
    """Times one workload under one condition; see the module docstring."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from workloads import BUILDERS

        self.condition = CONDITIONS[spec["condition"]]
        self.settings = Settings(**{**spec["settings"], "memory_runs": tuple(spec["memory"])})
        self.endpoint: str | None = spec.get("otlp_endpoint")
        self.workload = BUILDERS[spec["workload"]]()
        self.provider: Any = None
        self.exporter: CountingExporter | None = None
        self.loop = asyncio.new_event_loop()

    def setup(self) -> None:
        """Instrument the process as the condition says."""
        self.provider, self.exporter = instrument(self.condition.setup, self.endpoint)

    def runner(self, mode: str) -> Runner:
        return runner(mode, self.workload, self.provider, self.loop)

    def _flush(self) -> tuple[int, int, int]:
        if self.provider is None or self.exporter is None:
            return 0, 0, 0
        self.provider.force_flush()
        return self.exporter.spans, self.exporter.events, self.exporter.failures

    def measure(self, modes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Warm up and calibrate each mode, then time ``reps`` rounds, the modes interleaved
        within each round (so a load change on the machine hits them alike).

        Spans and span events per run are counted over each mode's warm-up (flushed before
        and after), so the timed rounds run with the batch processor exporting as usual.
        """
        s = self.settings
        modes = [modes] if isinstance(modes, str) else modes
        runners = {mode: self.runner(mode) for mode in modes}
        results: dict[str, dict[str, Any]] = {}
        sizes: dict[str, int] = {}
        for mode, (batch, once) in runners.items():
            spans0, events0, fail0 = self._flush()
            first = once()
            ok = self.workload.check(first) if not isinstance(first, int) else first > 0
            if not ok:
                raise RuntimeError(f"{mode}: unexpected output {str(first)[:200]}")
            runs, warm, times = 1, 0.0, []
            while runs <= s.min_warmup_runs or warm < s.warmup_s:
                t0 = time.perf_counter()
                batch(1)
                times.append(time.perf_counter() - t0)
                warm += times[-1]
                runs += 1
            spans, events, failures = self._flush()
            per_run = statistics.median(times[len(times) // 2 :])  # settled runs only
            sizes[mode] = max(1, math.ceil(s.rep_s / per_run))
            results[mode] = {
                "mode": mode,
                "batch": sizes[mode],
                "warmup_runs": runs,
                "spans_per_run": (spans - spans0) / runs,
                "events_per_run": (events - events0) / runs,
                "export_failures": failures - fail0,
                "items_per_run": first if isinstance(first, int) else None,
                "samples_s": [],
            }
        for _ in range(s.reps):
            for mode, (batch, _) in runners.items():
                gc.collect()
                t0 = time.perf_counter()
                batch(sizes[mode])
                results[mode]["samples_s"].append((time.perf_counter() - t0) / sizes[mode])
        failures = self._flush()[2]
        for result in results.values():
            result["median_s"] = statistics.median(result["samples_s"])
            result["export_failures_total"] = failures
        return results

    def memory(self, mode: str) -> dict[str, Any]:
        """Memory growth over more runs of ``mode`` than were made so far (tokens: fewer)."""
        a, b = self.settings.memory_runs
        if self.workload.unit == "token":
            a, b = max(1, a // TOKEN_MEMORY_DIVISOR), max(2, b // TOKEN_MEMORY_DIVISOR)
        return memory_growth(self.runner(mode)[0], self._flush, a, b)

    def run(self, memory: bool) -> dict[str, Any]:
        """The uninstrumented invoke and references, then the condition (and its memory phase).

        Conditions that patch nothing (``none``, or a tracer provider nothing uses but the
        floor's own spans) are timed interleaved with the uninstrumented invoke.
        """
        cond = self.condition
        before = ["invoke", *cond.before]
        if cond.setup in ("none", "sdk"):
            self.setup()
            own = [] if cond.name == "baseline" else [cond.mode]
            variants = self.measure([*before, *own])
            variants["base"] = variants.pop("invoke")
            variants["cond"] = variants[cond.mode] if own else variants["base"]
            if own:
                del variants[cond.mode]
        else:
            variants = self.measure(before)
            variants["base"] = variants.pop("invoke")
            self.setup()
            after = self.measure([*cond.after, cond.mode])
            variants.update(after)
            variants["cond"] = variants.pop(cond.mode)
        if memory and all(self.settings.memory_runs):
            variants["cond"]["memory"] = self.memory(cond.mode)
        w = self.workload
        return {
            "variants": variants,
            "peak_rss_mb": peak_rss_mb(),
            "unit": w.unit,
            "units": w.units,
            "node_runs": w.node_runs,
        }


def worker_main(spec_json: str) -> None:
    """Entry point of a condition subprocess: prints one ``RESULT {json}`` line."""
    spec = json.loads(spec_json)
    result = Worker(spec).run(memory=spec["memory_enabled"])
    print("RESULT " + json.dumps(result), flush=True)

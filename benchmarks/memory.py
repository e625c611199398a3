"""The memory phase: resident set size and live Python allocations after A and after B more
runs, each read after a flush and a full collection, so growth shows up as a difference."""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


def rss_mb() -> float:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_growth(
    batch: Callable[[int], None], flush: Callable[[], Any], a: int, b: int
) -> dict[str, Any]:
    """RSS and allocated blocks after ``a`` runs, then after ``b`` runs in all."""
    t0 = time.perf_counter()
    batch(a)
    flush()
    gc.collect()
    rss_a, blocks_a = rss_mb(), sys.getallocatedblocks()
    batch(b - a)
    flush()
    gc.collect()
    rss_b, blocks_b = rss_mb(), sys.getallocatedblocks()
    return {
        "runs_a": a,
        "runs_b": b,
        "rss_a_mb": rss_a,
        "rss_b_mb": rss_b,
        "delta_mb": rss_b - rss_a,
        "blocks_delta": blocks_b - blocks_a,
        "seconds": time.perf_counter() - t0,
    }

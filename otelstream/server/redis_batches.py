"""What one pipeline of the publisher holds, and how it is written to Redis.

A run being published is a ``QueuedRun``: its items not sent yet, numbered in the run (so a
batch sent again after a failure is written once), and ``Gap`` markers where items were
dropped. A batch is a list of ``Take`` (one run's share); ``write`` queues it on a pipeline:
one call of the publishing script per run (``redis_layout.PUBLISH``), and the run's owner key
and listing entry when it starts or ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from otelstream.server.redis_config import RedisOptions
from otelstream.server.redis_layout import PUBLISH, TOMBSTONE_MS, Keys, RunKeys
from otelstream.server.store import RunRecord
from otelstream.server.wire import dumpb

GAP_REASON = "the publishing queue was full (the stream store was unreachable or slow)"


class Gap:
    """A place in a run where items were dropped; its count grows until it is sent."""

    __slots__ = ("count", "sent")

    def __init__(self) -> None:
        self.count = 1
        self.sent = False


class QueuedRun:
    """A run being published: what is queued of it, numbered from ``first``."""

    __slots__ = (
        "announced",
        "close",
        "first",
        "head",
        "header",
        "keys",
        "pending",
        "queued",
        "record",
    )

    def __init__(self, record: RunRecord, keys: RunKeys) -> None:
        self.record = record
        self.keys = keys
        self.header = {  # what every batch of the run says first (the script opens it once)
            "run_id": record.run_id,
            "thread_id": record.thread_id,
            "graph": record.graph,
            "created_at": repr(record.created_at),
            "metadata": dumpb(record.metadata).decode(),
        }
        self.pending: list[tuple[str, bytes | Gap]] = []
        self.first = 1  # the number of pending[0]
        self.head: tuple[str, bytes] | None = None
        self.close: dict[str, str] | None = None
        self.announced = False  # its owner key and listing entry are written
        self.queued = False  # in the publisher's work list


@dataclass
class Take:
    """One run's share of a batch."""

    run: QueuedRun
    first: int
    entries: list[tuple[str, bytes | Gap]]
    close: bool
    announce: bool


def write(pipe: Any, keys: Keys, options: RedisOptions, batch: list[Take]) -> None:
    """Queue ``batch`` on the pipeline ``pipe``: each run's entries, bounds and end."""
    limits = {
        "maxlen": options.max_items,
        "maxage": int(options.max_age * 1000),
        "ttl_ms": int(options.ttl * 1000),
        "live_ms": int(options.live_ttl * 1000),
        "runs": options.max_runs,
    }
    for take in batch:
        record, run_keys = take.run.record, take.run.keys
        header: dict[str, Any] = {
            **take.run.header,
            **limits,
            "seq": take.first,
            "gaps": {},
        }
        if take.run.head is not None:
            header["head_e"] = take.run.head[0]
            header["head_d"] = take.run.head[1].decode("utf-8", "replace")
        args: list[Any] = []
        for number, (event, data) in enumerate(take.entries, take.first):
            if isinstance(data, Gap):
                header["gaps"][str(number)] = data.count
                gap = {"dropped": data.count, "reason": GAP_REASON}
                data = dumpb({"run_id": record.run_id, "gap": gap})
            args += (event, data)
        if take.close:
            header["close"] = take.run.close
        script_keys = (run_keys.stream, run_keys.info, run_keys.index, run_keys.clock)
        pipe.execute_command("EVAL", PUBLISH, 4, *script_keys, json.dumps(header), *args)
        if take.announce:
            keep = options.ttl if take.close else options.live_ttl
            owner = keys.owner(record.run_id)
            pipe.set(owner, record.thread_id, px=int(keep * 1000) + TOMBSTONE_MS)
            member = json.dumps([record.thread_id, record.run_id])
            pipe.zadd(keys.listing, {member: record.created_at})
            pipe.zremrangebyrank(keys.listing, 0, -(options.max_runs + 1))

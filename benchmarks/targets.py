"""The performance targets (from the issue that set them), checked against the rows."""

from __future__ import annotations

from dataclasses import dataclass

from driver import Row


@dataclass
class Target:
    """One of the issue's targets, checked against the rows."""

    name: str
    value: float | None
    limit: float
    unit: str

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        return "met" if self.value <= self.limit else "MISSED"


def targets(rows: list[Row]) -> list[Target]:
    """The issue's targets; ratios are same-process ones."""
    by = {(r.condition, r.workload): r for r in rows if r.status == "ok"}

    def get(cond: str, workload: str, attr: str) -> float | None:
        row = by.get((cond, workload))
        return None if row is None else getattr(row, attr)

    out = [
        Target(f"tracing/invoke {w}", get("otelstream", w, "ratio"), limit, "x")
        for w, limit in (("chain", 1.5), ("fanout", 1.5), ("agent", 2.0))
    ]
    out.append(
        Target(
            "token capture per token",
            get("otelstream_tokens", "tokens", "overhead_us_per_unit"),
            5.0,
            "us",
        )
    )
    out += [
        Target(
            f"otelstream/native astream_events {w}",
            get("otelstream_events", w, "ref_ratio"),
            limit,
            "x",
        )
        for w, limit in (("chain", 1.0), ("agent", 1.0), ("tokens", 0.5))
    ]
    out += [
        Target(
            f"otelstream debug/traced invoke {w}", get("otelstream_debug", w, "ref_ratio"), 1.3, "x"
        )
        for w in ("chain", "fanout", "tokens", "agent")
    ]
    for w in ("chain", "fanout", "tokens", "agent"):
        mem = get("otelstream", w, "memory")
        out.append(Target(f"RSS growth {w}", None if not mem else mem["delta_mb"], 5.0, "MB"))
    return out

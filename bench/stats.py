"""Percentiles and ratios: every figure is reported against a baseline from the same run.

Absolute times on a shared 2-core machine mean little; a ratio of two things measured
side by side, under the same noise, is what the bench reports and what a reader compares.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


def percentile(samples: Iterable[float], pct: float) -> float:
    """Linear interpolation between closest ranks (same as numpy's default)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    if len(ordered) == 1:
        return ordered[0]
    rank = (pct / 100) * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, or None when the baseline is zero (nothing to compare against)."""
    if baseline <= 0:
        return None
    return value / baseline


@dataclass(frozen=True)
class Summary:
    """p50/p99 of a set of latencies, in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Summary:
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), sum(ms) / len(ms))

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "p50_ms": round(self.p50_ms, 3), "p99_ms": round(self.p99_ms, 3),
                "mean_ms": round(self.mean_ms, 3)}


def compare(subject: Summary, baseline: Summary) -> dict[str, Any]:
    """The pair plus their p50 and p99 ratios, as the JSON every latency figure uses."""
    return {
        "subject": subject.as_json(),
        "baseline": baseline.as_json(),
        "ratio_p50": rounded(ratio(subject.p50_ms, baseline.p50_ms)),
        "ratio_p99": rounded(ratio(subject.p99_ms, baseline.p99_ms)),
    }


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def timed(action: Callable[[], Any]) -> float:
    """Seconds one call took (monotonic, high resolution)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def sample(action: Callable[[], Any], count: int, warmup: int = 2) -> list[float]:
    """Run `action` `warmup` times untimed (pools, caches, JIT-free but lazy imports), then `count` times."""
    for _ in range(warmup):
        action()
    return [timed(action) for _ in range(count)]


def interleaved(actions: dict[str, Callable[[], Any]], count: int, warmup: int = 2) -> dict[str, list[float]]:
    """Alternate subject and baseline call by call so that background load hits both alike."""
    for _ in range(warmup):
        for action in actions.values():
            action()
    results: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(count):
        for name, action in actions.items():
            results[name].append(timed(action))
    return results


@dataclass
class Samples:
    """Call times, and for each whether the client's pacing queue formed during it (a stall, not our work)."""

    times: list[float]
    stalled: list[bool]

    def clean(self) -> list[float]:
        """The calls no pacing stall touched: the latency that is the code's own."""
        return [t for t, s in zip(self.times, self.stalled, strict=True) if not s] or self.times

    def stall_count(self) -> int:
        return sum(self.stalled)


def paced(actions: dict[str, Callable[[], Any]], count: int, round_seconds: float,
          stalls: dict[str, Callable[[], int]], warmup: int = 2) -> dict[str, Samples]:
    """Interleaved like `interleaved`, each round stretched to `round_seconds` so every client stays
    under its broker's pacing limit; `stalls[name]()` counts that client's pacing stalls so far.

    The first call after a round's pause finds cold caches and an idle CPU (measured on the IB Gateway
    simulator: the same preview INSERT took 1.4-1.5 ms first in the round, 0.85-0.9 ms second), so the
    calls take turns going first."""
    for _ in range(warmup):
        for action in actions.values():
            action()
    results = {name: Samples([], []) for name in actions}
    order = list(actions.items())
    for round_number in range(count):
        started = time.perf_counter()
        shift = round_number % len(order)  # who goes first after the pause pays the wake-up: each in turn
        for name, action in order[shift:] + order[:shift]:
            before = stalls[name]()
            results[name].times.append(timed(action))
            results[name].stalled.append(stalls[name]() != before)
        time.sleep(max(0.0, round_seconds - (time.perf_counter() - started)))
    return results

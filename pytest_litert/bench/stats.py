"""What timed runs say: min / median / IQR / stddev, and whether two runs differ beyond noise.

Timings are skewed (a run is never faster than the machine, only slower), so nothing here
assumes a normal distribution. Two kinds of noise, measured here on one machine kind:
- within one worker process, runs agree closely: the pooled median's interval from order
  statistics (run/worker.median_interval, the rule the worker stops on) is a few percent;
- between worker processes they do not: the same seed model took 1.31 ms in one process and
  1.75 ms in the next (CONV_2D 1x1, dynamic int8), stable within each (where buffers land).
So the unit of evidence is a round (one fresh worker): `round_medians_ms`, and two runs differ
only if their rounds do, by an exact rank test (`slower_p_value`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Sequence
from typing import Any

from pytest_litert.run.worker import median_interval

Rounds = Sequence[Sequence[Sequence[float]]]  # round -> instance -> samples (ms)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Statistics of one API's timed runs on one cell (every round and instance pooled), in ms."""

    runs: int
    min_ms: float
    median_ms: float
    q1_ms: float
    q3_ms: float
    mean_ms: float
    stddev_ms: float
    ci_low_ms: float  # the pooled median's 95% interval (within-process noise only)
    ci_high_ms: float
    round_medians_ms: tuple[float, ...]  # one per fresh worker: the between-process noise

    @classmethod
    def of(cls, rounds: Rounds) -> Summary:
        """From samples in milliseconds, per round and instance (at least two in all)."""
        ms = [s for instances in rounds for instance in instances for s in instance]
        if len(ms) < 2:
            raise ValueError(f"a summary needs at least 2 timed runs, got {len(ms)}")
        q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
        low, high = median_interval(ms)
        medians = tuple(statistics.median([s for instance in instances for s in instance]) for instances in rounds)
        return cls(runs=len(ms), min_ms=min(ms), median_ms=statistics.median(ms), q1_ms=q1, q3_ms=q3,
                   mean_ms=statistics.fmean(ms), stddev_ms=statistics.stdev(ms), ci_low_ms=low, ci_high_ms=high,
                   round_medians_ms=medians)

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "round_medians_ms": list(self.round_medians_ms), "iqr_ms": self.iqr_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        floats = {field.name: float(data[field.name]) for field in dataclasses.fields(cls)
                  if field.name not in ("runs", "round_medians_ms")}
        return cls(runs=int(data["runs"]), round_medians_ms=tuple(map(float, data["round_medians_ms"])), **floats)


def slower_p_value(old: Sequence[float], new: Sequence[float]) -> float:
    """One-sided exact rank-sum (Mann-Whitney) p-value that `new` rounds are slower than `old`:
    the share of all ways to split the pooled rounds into groups of these sizes whose `new`
    rank sum is at least the observed one (ties get mid-ranks). 4 rounds each: at least 1/70."""
    pooled = sorted([*old, *new])
    ranks = {value: statistics.fmean(i + 1 for i, v in enumerate(pooled) if v == value) for value in pooled}
    observed = sum(ranks[value] for value in new)
    rank_list = [ranks[value] for value in [*old, *new]]
    splits = math.comb(len(rank_list), len(new))
    if splits > 200_000:
        raise ValueError(f"too many rounds for the exact test ({len(old)} + {len(new)})")
    at_least = sum(1 for chosen in itertools.combinations(rank_list, len(new)) if sum(chosen) >= observed - 1e-9)
    return at_least / splits

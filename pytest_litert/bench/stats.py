"""What timed runs say: min / median / IQR / stddev, and how far apart two runs must be to differ.

Two kinds of noise, both kept. Within an instance: the median's interval from order statistics
(distribution-free, run/worker.median_interval, the rule the worker stops on; timings are
skewed, never faster than the machine, so no normal distribution is assumed). Between
instances: each instance of a model has its own speed (where its buffers land), so the range
of the instances' medians is kept too. `noise_low_ms` / `noise_high_ms` span both: a change
inside them is noise.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

from pytest_litert.run.worker import median_interval


@dataclasses.dataclass(frozen=True)
class Summary:
    """Statistics of one API's timed runs on one cell (all instances pooled), in milliseconds."""

    runs: int
    instances: int
    min_ms: float
    median_ms: float
    q1_ms: float
    q3_ms: float
    mean_ms: float
    stddev_ms: float
    ci_low_ms: float  # the pooled median's 95% interval
    ci_high_ms: float
    spread_low_ms: float  # the fastest and slowest instance's median
    spread_high_ms: float

    @classmethod
    def of(cls, samples_ms: Sequence[Sequence[float]]) -> Summary:
        """From samples in milliseconds, one list per instance (at least two samples in all)."""
        ms = [s for instance in samples_ms for s in instance]
        if len(ms) < 2:
            raise ValueError(f"a summary needs at least 2 timed runs, got {len(ms)}")
        q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
        low, high = median_interval(ms)
        medians = [statistics.median(instance) for instance in samples_ms if instance]
        return cls(runs=len(ms), instances=len(medians), min_ms=min(ms), median_ms=statistics.median(ms),
                   q1_ms=q1, q3_ms=q3, mean_ms=statistics.fmean(ms), stddev_ms=statistics.stdev(ms),
                   ci_low_ms=low, ci_high_ms=high, spread_low_ms=min(medians), spread_high_ms=max(medians))

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    @property
    def noise_low_ms(self) -> float:
        return min(self.ci_low_ms, self.spread_low_ms)

    @property
    def noise_high_ms(self) -> float:
        return max(self.ci_high_ms, self.spread_high_ms)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "iqr_ms": self.iqr_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        floats = {field.name: float(data[field.name]) for field in dataclasses.fields(cls)
                  if field.name not in ("runs", "instances")}
        return cls(runs=int(data["runs"]), instances=int(data["instances"]), **floats)

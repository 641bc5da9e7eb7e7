"""Bench statistics and the compare decision, on samples whose answers are known by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from pytest_litert.bench.compare import judge_change, parse_fail_on
from pytest_litert.bench.stats import Summary, slower_p_value
from pytest_litert.run.worker import median_interval, sample_calls


def test_summary_of_known_samples() -> None:
    # two rounds of one instance: 1..10 ms and 11..20 ms
    summary = Summary.of([[[float(v) for v in range(1, 11)]], [[float(v) for v in range(11, 21)]]])
    assert summary.runs == 20
    assert summary.min_ms == 1.0
    assert summary.median_ms == 10.5
    assert (summary.q1_ms, summary.q3_ms) == (5.75, 15.25)  # inclusive quartiles of 1..20
    assert summary.iqr_ms == 9.5
    assert summary.stddev_ms == pytest.approx(math.sqrt(35.0))  # sample stddev of 1..20
    assert summary.round_medians_ms == (5.5, 15.5)
    assert Summary.from_dict(summary.as_dict()) == summary


def test_median_interval_is_the_order_statistic_interval() -> None:
    # n = 100: ranks 50 -+ 1.96 * 10 / 2 = 40.2 .. 59.8 -> sorted[40] .. sorted[60]
    assert median_interval([float(v) for v in range(100)]) == (40.0, 60.0)
    assert median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)


def test_slower_p_value_exact() -> None:
    assert slower_p_value([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(1 / math.comb(8, 4))
    assert slower_p_value([5, 6, 7, 8], [1, 2, 3, 4]) == 1.0
    assert slower_p_value([1, 2, 3, 5], [4, 6, 7, 8]) == pytest.approx(2 / 70)  # rank sums 26 and 25 of 26
    assert slower_p_value([2, 2], [2, 2]) == 1.0  # all tied: nothing to see


def _rounds(*medians: float) -> Summary:
    return Summary.of([[[m * 0.99, m, m * 1.01]] for m in medians])


def test_judge_change() -> None:
    old = _rounds(1.0, 1.02, 0.98, 1.01)
    assert judge_change(old, _rounds(1.0, 1.03, 0.99, 1.0), 0.1) == "same"
    assert judge_change(old, _rounds(1.5, 1.52, 1.49, 1.51), 0.1) == "slower"
    assert judge_change(old, _rounds(0.5, 0.52, 0.49, 0.51), 0.1) == "faster"
    # 30% slower in the median, but the rounds overlap the old ones: noise, never a failure
    assert judge_change(old, _rounds(1.3, 1.31, 0.97, 1.32), 0.1) == "noise"
    # one round each can never be told from noise
    assert judge_change(_rounds(1.0), _rounds(2.0), 0.1) == "noise"


@pytest.mark.parametrize(("text", "value"), [("median:10%", 0.1), ("median:0.25", 0.25), (" median:5% ", 0.05)])
def test_fail_on_parses(text: str, value: float) -> None:
    assert parse_fail_on(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["mean:10%", "median", "median:", "10%", "median:0%"])
def test_fail_on_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="--fail-on"):
        parse_fail_on(text)


def test_sample_calls_stops_on_its_rules() -> None:
    calls = []
    steady = sample_calls([lambda: calls.append(1)] * 2, {"warmup_runs": 1, "warmup_seconds": 0, "min_runs": 40,
                                                           "precision": 0.5, "max_seconds": 5})
    assert steady["stop"] in ("converged", "time cap") and len(steady["samples"]) == 2
    assert sum(map(len, steady["samples"])) >= 40
    capped = sample_calls([lambda: None], {"warmup_runs": 0, "warmup_seconds": 0, "max_runs": 7, "min_runs": 100})
    assert capped["stop"] == "run cap" and len(capped["samples"][0]) == 7
    assert statistics.median(capped["samples"][0]) >= 0


def test_sample_calls_times_each_instance_a_block_at_a_time() -> None:
    """Instances take turns by blocks, each after one untimed call, so a timed call finds its own
    weights in the cache, not the other instance's (call-by-call turns measured 31% slow)."""
    order: list[str] = []
    timed = sample_calls([lambda: order.append("a"), lambda: order.append("b")],
                         {"warmup_runs": 0, "warmup_seconds": 0, "block_runs": 3, "min_runs": 1000, "max_runs": 12})
    assert "".join(order) == "aaaabbbbaaaabbbb"
    assert [len(instance) for instance in timed["samples"]] == [6, 6]

"""Summary statistics, the bootstrap interval and the verdict rules (pure Python, no database)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from nexus_kernel_helpers.plans._stats import (
    FASTER,
    NO_DIFFERENCE,
    SLOWER,
    _resampled_median,
    bootstrap_ratio_interval,
    estimate_speedup,
    median,
    percentile,
    summarize,
    verdict_from_interval,
)


def noisy(center: float, count: int, seed: int, spread: float = 0.05) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    return [center * (1 + rng.uniform(-spread, spread)) for _ in range(count)]


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError, match="no values"):
        median([])


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 50) == 5.5
    assert percentile(values, 95) == pytest.approx(9.55)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile(values, 101)


def test_summary_reports_median_p95_and_iqr() -> None:
    summary = summarize([10.0, 11.0, 12.0, 13.0, 50.0])
    assert summary.count == 5
    assert summary.median == 12.0
    assert summary.q1 == 11.0
    assert summary.q3 == 13.0
    assert summary.iqr == 2.0
    assert summary.relative_spread == pytest.approx(2 / 12)
    assert summary.p95 == pytest.approx(42.6)
    assert (summary.minimum, summary.maximum) == (10.0, 50.0)


def test_bootstrap_is_reproducible_with_its_seed() -> None:
    before, after = noisy(10, 15, seed=1), noisy(8, 15, seed=2)
    first = bootstrap_ratio_interval(before, after, seed=7)
    assert bootstrap_ratio_interval(before, after, seed=7) == first
    assert bootstrap_ratio_interval(before, after, seed=8) != first
    assert estimate_speedup(before, after) == estimate_speedup(before, after)


def test_resampled_medians_follow_the_resampling_distribution() -> None:
    # Drawing the median's rank directly must match resampling and sorting, rank by rank.
    ordered = [float(v) for v in range(16)]
    draws = 20_000
    direct = random.Random(1)  # noqa: S311 - test data
    brute = random.Random(2)  # noqa: S311 - test data
    fast = Counter(_resampled_median(ordered, direct) for _ in range(draws))
    slow = Counter(median(brute.choices(ordered, k=16)) for _ in range(draws))
    for value in set(fast) | set(slow):
        assert abs(fast[value] - slow[value]) / draws < 0.012, value
    assert _resampled_median([4.0], direct) == 4.0


def test_interval_brackets_the_speedup() -> None:
    before, after = noisy(10, 15, seed=3), noisy(5, 15, seed=4)
    estimate = estimate_speedup(before, after)
    assert estimate.ci_low <= estimate.speedup <= estimate.ci_high
    assert estimate.speedup == pytest.approx(median(before) / median(after))
    assert 1.7 < estimate.ci_low < estimate.ci_high < 2.3


def test_verdict_thresholds_use_the_minimum_effect() -> None:
    assert verdict_from_interval(1.06, 3.0, 0.05) == FASTER
    assert verdict_from_interval(1.05, 3.0, 0.05) == NO_DIFFERENCE  # must clear it, not touch it
    assert verdict_from_interval(1.04, 3.0, 0.05) == NO_DIFFERENCE
    assert verdict_from_interval(0.2, 0.95, 0.05) == SLOWER  # 0.95 < 1 / 1.05 = 0.952...
    assert verdict_from_interval(0.2, 0.96, 0.05) == NO_DIFFERENCE
    assert verdict_from_interval(0.9, 1.1, 0.0) == NO_DIFFERENCE
    assert verdict_from_interval(1.01, 1.02, 0.0) == FASTER
    with pytest.raises(ValueError, match="min_effect"):
        verdict_from_interval(1.0, 1.0, -0.1)


def test_clear_improvement_is_faster_and_its_reverse_slower() -> None:
    before, after = noisy(40, 15, seed=5, spread=0.3), noisy(1, 15, seed=6, spread=0.3)
    assert estimate_speedup(before, after).verdict == FASTER
    assert estimate_speedup(after, before).verdict == SLOWER


def test_same_distribution_gives_no_difference() -> None:
    calls = [
        estimate_speedup(
            noisy(10, 15, seed=s, spread=0.2), noisy(10, 15, seed=s + 1000, spread=0.2)
        )
        for s in range(40)
    ]
    assert sum(c.verdict == NO_DIFFERENCE for c in calls) >= 38


def test_small_effect_below_min_effect_is_not_called() -> None:
    # A tight, real 3% difference: the interval excludes 1 but not the 5% minimum effect.
    before, after = noisy(10.3, 30, seed=8, spread=0.005), noisy(10, 30, seed=9, spread=0.005)
    estimate = estimate_speedup(before, after, min_effect=0.05)
    assert estimate.ci_low > 1.0
    assert estimate.verdict == NO_DIFFERENCE
    assert estimate_speedup(before, after, min_effect=0.01).verdict == FASTER


def test_microsecond_differences_are_never_called() -> None:
    # EXPLAIN reports whole microseconds: 3 us against 2 us is a step of the clock.
    estimate = estimate_speedup([0.003] * 15, [0.002] * 15)
    assert estimate.speedup == pytest.approx(1.5)
    assert estimate.verdict == NO_DIFFERENCE


def test_zero_times_do_not_divide_by_zero() -> None:
    estimate = estimate_speedup([0.0] * 5, [0.0] * 5)
    assert estimate.speedup == 1.0
    assert estimate.verdict == NO_DIFFERENCE


def test_bootstrap_needs_values_on_both_sides() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_ratio_interval([1.0], [])

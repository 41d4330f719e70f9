"""Summary statistics and the speedup verdict, in plain Python (no numpy).

The verdict comes from a confidence interval, never from two medians alone:

- speedup = median(before) / median(after), so 2.0 means "after takes half the time";
- its 95% interval comes from a percentile bootstrap: both samples are resampled with
  replacement (independently; the runs were interleaved, so slow drift hits both alike), and
  the ratio of the resampled medians is taken, 2,000 times, from a seeded generator, so the
  same samples always give the same interval (a resample's median is drawn directly from its
  exact distribution, see `_resampled_median`, so 2 x 50 runs take milliseconds);
- "faster" needs the whole interval above 1 + min_effect, "slower" the whole interval below
  1 / (1 + min_effect); anything else is "no significant difference". A minimum effect keeps
  a 2% difference that is real but meaningless (or a bias of the machine) from being called;
- medians less than `MIN_DIFFERENCE_MS` apart are never called either: EXPLAIN reports whole
  microseconds, so for a statement that takes 3 us the steps between readings are 30%.

Resampling the two sides independently (rather than pairing adjacent runs) was the more
conservative of the two on a loaded 2-core machine: no false call in 120 A/A comparisons of
15-50 ms parallel scans, against 2 for the paired bootstrap.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "FASTER",
    "MIN_DIFFERENCE_MS",
    "NO_DIFFERENCE",
    "SLOWER",
    "SpeedupEstimate",
    "Summary",
    "bootstrap_ratio_interval",
    "estimate_speedup",
    "median",
    "percentile",
    "summarize",
    "verdict_from_interval",
]

FASTER = "faster"
SLOWER = "slower"
NO_DIFFERENCE = "no significant difference"

DEFAULT_RESAMPLES = 2_000
DEFAULT_SEED = 20_240_601
# EXPLAIN reports times to the microsecond: a median of 0.000 ms is "under a microsecond".
RESOLUTION_MS = 0.001
MIN_DIFFERENCE_MS = 0.01


@dataclass(frozen=True)
class Summary:
    """The distribution of one side's times (ms)."""

    count: int
    median: float
    p95: float
    q1: float
    q3: float
    minimum: float
    maximum: float

    @property
    def iqr(self) -> float:
        """Interquartile range: the middle half of the runs spans this much."""
        return self.q3 - self.q1

    @property
    def relative_spread(self) -> float:
        """IQR relative to the median (0.1 = the middle half of runs within 10%)."""
        return self.iqr / self.median if self.median > 0 else 0.0


@dataclass(frozen=True)
class SpeedupEstimate:
    """Speedup of after over before with its confidence interval and the verdict it implies."""

    speedup: float
    ci_low: float
    ci_high: float
    verdict: str
    confidence: float = 0.95
    resamples: int = DEFAULT_RESAMPLES


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating linearly between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q!r}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction


def summarize(values: Sequence[float]) -> Summary:
    """Median, p95, quartiles and extremes of a non-empty sample."""
    return Summary(
        count=len(values),
        median=median(values),
        p95=percentile(values, 95),
        q1=percentile(values, 25),
        q3=percentile(values, 75),
        minimum=min(values),
        maximum=max(values),
    )


def bootstrap_ratio_interval(
    before: Sequence[float],
    after: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of median(before) / median(after); reproducible by seed."""
    if not before or not after:
        raise ValueError("a bootstrap needs at least one value on each side")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence!r}")
    rng = random.Random(seed)  # noqa: S311 - resampling, not secrets: it must be seeded
    before_sorted = sorted(max(v, RESOLUTION_MS) for v in before)
    after_sorted = sorted(max(v, RESOLUTION_MS) for v in after)
    ratios = sorted(
        _resampled_median(before_sorted, rng) / _resampled_median(after_sorted, rng)
        for _ in range(resamples)
    )
    tail = (1 - confidence) / 2
    return percentile(ratios, tail * 100), percentile(ratios, (1 - tail) * 100)


def verdict_from_interval(ci_low: float, ci_high: float, min_effect: float) -> str:
    """Faster or slower only when the whole interval clears the minimum effect."""
    if min_effect < 0:
        raise ValueError(f"min_effect must be 0 or more, not {min_effect!r}")
    if ci_low > 1 + min_effect:
        return FASTER
    if ci_high < 1 / (1 + min_effect):
        return SLOWER
    return NO_DIFFERENCE


def estimate_speedup(
    before: Sequence[float],
    after: Sequence[float],
    *,
    min_effect: float = 0.05,
    min_difference_ms: float = MIN_DIFFERENCE_MS,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> SpeedupEstimate:
    """Speedup, bootstrap interval and verdict for two samples of times (ms)."""
    before_median, after_median = median(before), median(after)
    speedup = max(before_median, RESOLUTION_MS) / max(after_median, RESOLUTION_MS)
    low, high = bootstrap_ratio_interval(
        before, after, confidence=confidence, resamples=resamples, seed=seed
    )
    verdict = verdict_from_interval(low, high, min_effect)
    if abs(before_median - after_median) < min_difference_ms:
        verdict = NO_DIFFERENCE
    return SpeedupEstimate(
        speedup=speedup,
        ci_low=low,
        ci_high=high,
        verdict=verdict,
        confidence=confidence,
        resamples=resamples,
    )


def _resampled_median(ordered: list[float], rng: random.Random) -> float:
    """The median of one bootstrap resample of `ordered` (sorted), drawn without resampling.

    A resample is n indices floor(n * U) with U uniform; its median is the value at the
    k-th smallest index, and the k-th smallest of n uniforms follows Beta(k, n - k + 1). For
    an even n the next one up is the smallest of the n - k uniforms above it. Drawing those
    one or two numbers gives exactly the distribution of resampling and sorting n values, in
    a few microseconds instead of an n log n sort.
    """
    n = len(ordered)
    if n == 1:
        return ordered[0]
    k = (n + 1) // 2
    lower = rng.betavariate(k, n - k + 1)
    low = ordered[min(int(lower * n), n - 1)]
    if n % 2:
        return low
    # The smallest of m uniforms on (lower, 1): lower + (1 - lower) * Beta(1, m).
    upper = lower + (1 - lower) * (1 - rng.random() ** (1 / (n - k)))
    return (low + ordered[min(int(upper * n), n - 1)]) / 2

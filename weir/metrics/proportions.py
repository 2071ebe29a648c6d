"""Two proportions compared: the statistics of an A/B test of a conversion rate.

Each function takes counts (successes of trials) and returns plain floats,
or ``None`` where the figure is undefined (no trials, a rate of 0 or 1 where
a variance is needed). The normal distribution is Python's own
``statistics.NormalDist`` (its ``cdf`` and ``inv_cdf``): nothing to install,
and no distribution written by hand here; what is written here are the
textbook formulas on top of it:

- ``wilson``: the Wilson score interval of one proportion (no continuity
  correction);
- ``newcombe``: the interval of a difference of two proportions by
  Newcombe's hybrid score method (Newcombe 1998, method 10), built from the
  two Wilson intervals;
- ``z_test``: the two-sided p-value of the two-proportion z-test with the
  pooled proportion;
- ``sessions_needed``: the trials per group needed to detect a change from
  ``p1`` to ``p2`` with a two-sided test (the normal approximation of
  Fleiss, Levin and Paik, the one R's ``power.prop.test`` solves).
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()


def z_of(level: float) -> float:
    """The standard normal quantile: ``z_of(0.975)`` = 1.959964…"""
    return _NORMAL.inv_cdf(level)


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / trials``; None without trials."""
    if trials <= 0:
        return None
    z = z_of(1 - (1 - confidence) / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (z / (1 + z * z / trials)) * math.sqrt(
        p * (1 - p) / trials + z * z / (4 * trials * trials)
    )
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(
    successes: int,
    trials: int,
    control_successes: int,
    control_trials: int,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """The interval of p - p_control by Newcombe's hybrid score method; None without trials.

    With (l1, u1) and (l2, u2) the Wilson intervals of p and p_control:
    low = (p - p_c) - √((p - l1)² + (u2 - p_c)²),
    high = (p - p_c) + √((u1 - p)² + (p_c - l2)²).
    """
    first = wilson(successes, trials, confidence)
    second = wilson(control_successes, control_trials, confidence)
    if first is None or second is None:
        return None
    p, pc = successes / trials, control_successes / control_trials
    (l1, u1), (l2, u2) = first, second
    difference = p - pc
    low = difference - math.sqrt((p - l1) ** 2 + (u2 - pc) ** 2)
    high = difference + math.sqrt((u1 - p) ** 2 + (pc - l2) ** 2)
    return low, high


def z_test(
    successes: int, trials: int, control_successes: int, control_trials: int
) -> float | None:
    """The two-sided p-value of the pooled two-proportion z-test.

    z = (p - p_c) / √(P(1 - P)(1/n + 1/n_c)) with P the pooled proportion; None
    without trials in either group, or when P is 0 or 1 (no variance: the test
    says nothing).
    """
    if trials <= 0 or control_trials <= 0:
        return None
    pooled = (successes + control_successes) / (trials + control_trials)
    variance = pooled * (1 - pooled) * (1 / trials + 1 / control_trials)
    if variance <= 0:
        return None
    z = (successes / trials - control_successes / control_trials) / math.sqrt(variance)
    return min(1.0, 2 * (1 - _NORMAL.cdf(abs(z))))


def sessions_needed(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Trials per group to detect p1 → p2 (two-sided, level ``alpha``, ``power``); rounded up.

    n = (z_(1-alpha/2) √(2 P̄(1 - P̄)) + z_power √(p1(1 - p1) + p2(1 - p2)))² / (p2 - p1)²,
    P̄ = (p1 + p2) / 2. None when p1 = p2 or either is outside [0, 1].
    """
    if p1 == p2 or not (0 <= p1 <= 1 and 0 <= p2 <= 1):
        return None
    mean = (p1 + p2) / 2
    n = (
        z_of(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
        + z_of(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / (p2 - p1) ** 2
    # a hair of float noise must not add a whole session: 76.000000001 is 76
    return math.ceil(round(n, 6))

"""How sure a number is: confidence intervals for an accuracy and a paired test for a difference.

Pure Python + numpy (no MXNet, no scipy), so results can be checked anywhere.

- ``wilson_interval``: the range an accuracy measured on n test images plausibly comes from.
- ``mcnemar_exact``: whether two models that saw the same test images really differ.
- ``mean_sd`` and ``describe_difference``: summaries for repeated runs and for reports.
"""
import math
from statistics import NormalDist

import numpy as np

from ..errors import HotdogError


def wilson_interval(successes, n, confidence=0.95):
    """The Wilson score interval ``(low, high)`` for an accuracy of ``successes`` out of ``n``.

    Read a 95% interval as: if we repeated the experiment on fresh test sets, about 95% of intervals made
    this way would contain the model's true accuracy. A wide interval means the test set is too small to
    tell close models apart. Unlike "p +- 1.96 standard errors" it stays inside [0, 1] and behaves at 0/n
    and n/n.

    ``n == 0`` raises HotdogError: an accuracy on no images is not a number to report, and a NaN would
    travel silently into tables and plots.
    """
    _check_count(successes, n)
    _check_between("confidence", confidence)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)  # two-sided: 1.96 for 95%
    p = successes / n
    z2_n = z * z / n
    center = (p + z2_n / 2) / (1 + z2_n)
    half_width = z / (1 + z2_n) * math.sqrt(p * (1 - p) / n + z2_n / (4 * n))
    # At 0/n (n/n) the low (high) end is exactly 0 (1) in theory; rounding would leave a 1e-17 there.
    low = 0.0 if successes == 0 else center - half_width
    high = 1.0 if successes == n else center + half_width
    return low, high


def mcnemar_exact(correct_a, correct_b):
    """Exact McNemar test on two models' per-image correctness over the same test images (same order).

    Only the images where the models disagree carry information: ``a_only`` (A right, B wrong) and
    ``b_only`` (A wrong, B right). If the models were equally good, each disagreement would go either way
    with probability 1/2. The p-value is the chance of a split at least this lopsided under that
    assumption: small (e.g. below 0.05) means the difference is unlikely to be luck of the test set.

    Returns ``{"a_only": b, "b_only": c, "p_value": p, "n": number of images}``.
    """
    a = _as_correctness("correct_a", correct_a)
    b = _as_correctness("correct_b", correct_b)
    if len(a) != len(b):
        raise HotdogError("correct_a and correct_b must cover the same test images in the same order "
                          "(got {} and {} entries)".format(len(a), len(b)))
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(~a & b))
    return {"a_only": a_only, "b_only": b_only, "p_value": _two_sided_binomial_half(a_only, b_only),
            "n": len(a)}


def mean_sd(values):
    """``(mean, sample standard deviation)`` of repeated measurements, e.g. accuracies over seeds.

    The sd uses ddof=1 (an estimate from a sample); it is NaN for a single value, which has no spread to
    measure.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise HotdogError("values must be a non-empty list of numbers (got shape {})".format(values.shape))
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return float(np.mean(values)), sd


def describe_difference(p_value, alpha=0.05):
    """Plain words for a p-value: significant when ``p_value < alpha``, otherwise possibly noise."""
    _check_between("alpha", alpha)
    if not 0 <= p_value <= 1:
        raise HotdogError("p_value must be between 0 and 1 (got {})".format(p_value))
    if p_value < alpha:
        return "significant at the {:g}% level".format(alpha * 100)
    return "not significant: could be noise"


def _two_sided_binomial_half(b, c):
    """``min(1, 2 * P(X <= min(b, c)))`` with X ~ Bin(b + c, 1/2), exact.

    Works on integers: C(m, k) / 2**m in floats overflows once m passes about a thousand, and summing
    rounded terms would lose the small tails that matter most.
    """
    m, k_max = b + c, min(b, c)
    term, tail = 1, 1  # C(m, 0)
    for k in range(k_max):
        term = term * (m - k) // (k + 1)  # C(m, k+1) from C(m, k); the division is exact
        tail += term
    # int / int is correctly rounded in Python, even when both are far beyond the float range.
    return min(1.0, 2 * tail / 2 ** m)


def _as_correctness(name, values):
    """``values`` as a 1-D boolean array, refusing anything that is not True/False (or 1/0) per image."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise HotdogError("{} must be a flat list of True/False, one per test image (got shape {})".format(
            name, array.shape))
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise HotdogError("{} must hold True/False per test image, e.g. predictions == labels "
                          "(got values other than 0 and 1: predicted labels?)".format(name))
    return array.astype(bool)


def _check_count(successes, n):
    if n < 1:
        raise HotdogError("n must be at least 1 (got {}): an accuracy needs at least one test image".format(n))
    if not 0 <= successes <= n:
        raise HotdogError("successes must be between 0 and n={} (got {})".format(n, successes))


def _check_between(name, value):
    # Written as a negated range check so that NaN is refused too.
    if not 0 < value < 1:
        raise HotdogError("{} must be between 0 and 1 (got {})".format(name, value))

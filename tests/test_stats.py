"""hotdog.stats against values worked out by hand (the arithmetic is in the comments)."""
import math
import re
from statistics import NormalDist

import numpy as np
import pytest

from hotdog.errors import HotdogError
from hotdog.evaluate.stats import (
    describe_difference,
    mcnemar_exact,
    mean_sd,
    wilson_interval,
)

# Wilson: center = (p + z^2/2n) / (1 + z^2/n), half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).


def test_wilson_81_of_100():
    # z = 1.959964 (95%), z^2 = 3.841459, 1 + z^2/n = 1.0384146
    # center = (0.81 + 0.0192073) / 1.0384146 = 0.8292073 / 1.0384146 = 0.7985320
    # half = 1.959964 / 1.0384146 * sqrt(0.81 * 0.19 / 100 + 3.841459 / 40000)
    #      = 1.887457 * sqrt(0.001539 + 0.0000960) = 1.887457 * 0.0404356 = 0.0763205
    # -> (0.7985320 - 0.0763205, 0.7985320 + 0.0763205) = (0.7222115, 0.8748525)
    low, high = wilson_interval(81, 100)
    assert low == pytest.approx(0.7222115, abs=1e-4)
    assert high == pytest.approx(0.8748525, abs=1e-4)


def test_wilson_99_percent_is_wider():
    # z = 2.575829, z^2 = 6.634897, 1 + z^2/n = 1.0663490
    # center = (0.81 + 0.0331745) / 1.0663490 = 0.7907116
    # half = 2.575829 / 1.0663490 * sqrt(0.001539 + 6.634897 / 40000) = 2.415557 * 0.0412901 = 0.0997387
    # -> (0.6909729, 0.8904503)
    low, high = wilson_interval(81, 100, confidence=0.99)
    assert low == pytest.approx(0.6909729, abs=1e-4)
    assert high == pytest.approx(0.8904503, abs=1e-4)


def test_wilson_zero_successes():
    # p = 0: center = half = (z^2/2n) / (1 + z^2/n), so low = 0 exactly and
    # high = (z^2/n) / (1 + z^2/n) = 0.3841459 / 1.3841459 = 0.2775328
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775328, abs=1e-4)


def test_wilson_all_successes_mirrors_zero():
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(1 - 0.2775328, abs=1e-4)


def test_wilson_half():
    # p = 0.5, n = 10: center = 0.5; half = 1.959964 / 1.3841459 * sqrt(0.025 + 3.841459 / 400)
    #   = 1.416009 * sqrt(0.0346036) = 1.416009 * 0.1860205 = 0.2634069 -> (0.2365931, 0.7634069)
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2365931, abs=1e-4)
    assert high == pytest.approx(0.7634069, abs=1e-4)


@pytest.mark.parametrize("args, words", [
    ((0, 0), "n must be at least 1 (got 0)"),
    ((11, 10), "successes must be between 0 and n=10 (got 11)"),
    ((-1, 10), "successes must be between 0 and n=10 (got -1)"),
    ((5, 10, 1.0), "confidence must be between 0 and 1 (got 1.0)"),
    ((5, 10, float("nan")), "confidence must be between 0 and 1 (got nan)"),
])
def test_wilson_bad_input(args, words):
    with pytest.raises(HotdogError, match=re.escape(words)):
        wilson_interval(*args)


def test_mcnemar_counts_disagreements():
    correct_a = [True, True, False, False, True]
    correct_b = [True, False, True, False, False]
    result = mcnemar_exact(correct_a, correct_b)
    assert (result["a_only"], result["b_only"], result["n"]) == (2, 1, 5)
    # m = 3, min = 1: 2 * (C(3,0) + C(3,1)) / 2^3 = 2 * 4 / 8 = 1
    assert result["p_value"] == 1.0


def _pairs(a_only, b_only, both=0):
    """Correctness lists with the given disagreements (and ``both`` images right for both models)."""
    correct_a = [True] * a_only + [False] * b_only + [True] * both
    correct_b = [False] * a_only + [True] * b_only + [True] * both
    return correct_a, correct_b


@pytest.mark.parametrize("a_only, b_only, expected", [
    (1, 9, 2 * (1 + 10) / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024 = 0.021484375
    (9, 1, 2 * (1 + 10) / 1024),  # the test does not care which model is A
    (0, 5, 2 * 1 / 32),  # 2 * C(5,0) / 2^5 = 0.0625
    (2, 8, 2 * (1 + 10 + 45) / 1024),  # 2 * 56 / 1024 = 0.109375
    (4, 4, 1.0),  # 2 * P(X <= 4), X ~ Bin(8, 1/2), is above 1: capped
    (0, 0, 1.0),  # no disagreement, no evidence
])
def test_mcnemar_p_value(a_only, b_only, expected):
    result = mcnemar_exact(*_pairs(a_only, b_only, both=3))
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)
    assert result["n"] == a_only + b_only + 3


def test_mcnemar_thousands_of_disagreements():
    # 2**2100 is far beyond the float range. The normal approximation with continuity correction,
    # z = (|b - c| - 1) / sqrt(b + c) = 99 / sqrt(2100) = 2.1603, p = 2 * (1 - Phi(z)) = 0.0307, is close here.
    result = mcnemar_exact(*_pairs(1000, 1100))
    z = (1100 - 1000 - 1) / math.sqrt(2100)
    assert result["p_value"] == pytest.approx(2 * (1 - NormalDist().cdf(z)), abs=1e-3)
    assert mcnemar_exact(*_pairs(2500, 2500))["p_value"] == 1.0
    tiny = mcnemar_exact(*_pairs(1000, 3000))["p_value"]
    assert 0 <= tiny < 1e-100


def test_mcnemar_accepts_numbers_and_numpy():
    result = mcnemar_exact(np.array([1, 0, 0]), np.array([0, 1, 1]))
    assert (result["a_only"], result["b_only"]) == (1, 2)


def test_mcnemar_lengths_must_match():
    with pytest.raises(HotdogError, match=r"correct_a and correct_b .*\(got 3 and 2 entries\)"):
        mcnemar_exact([True, False, True], [True, False])


def test_mcnemar_refuses_labels_instead_of_correctness():
    with pytest.raises(HotdogError, match="correct_b must hold True/False"):
        mcnemar_exact([True, False, True], [0, 2, 1])


def test_mean_sd():
    # mean of 2,4,4,4,5,5,7,9 = 40 / 8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32
    # sample sd = sqrt(32 / 7) = sqrt(4.571429) = 2.138090
    mean, sd = mean_sd([2, 4, 4, 4, 5, 5, 7, 9])
    assert mean == 5.0
    assert sd == pytest.approx(2.138090, abs=1e-6)


def test_mean_sd_one_value_has_no_spread():
    mean, sd = mean_sd([0.83])
    assert mean == 0.83
    assert math.isnan(sd)


def test_mean_sd_empty():
    with pytest.raises(HotdogError, match="values must be a non-empty list"):
        mean_sd([])


@pytest.mark.parametrize("p_value, alpha, words", [
    (0.0215, 0.05, "significant at the 5% level"),
    (0.2, 0.05, "not significant: could be noise"),
    (0.05, 0.05, "not significant: could be noise"),  # significant means strictly below alpha
    (0.03, 0.01, "not significant: could be noise"),
    (0.003, 0.01, "significant at the 1% level"),
])
def test_describe_difference(p_value, alpha, words):
    assert describe_difference(p_value, alpha) == words


@pytest.mark.parametrize("p_value, alpha, words", [
    (1.5, 0.05, r"p_value must be between 0 and 1 \(got 1.5\)"),
    (float("nan"), 0.05, r"p_value must be between 0 and 1 \(got nan\)"),
    (0.01, 5, r"alpha must be between 0 and 1 \(got 5\)"),
])
def test_describe_difference_bad_input(p_value, alpha, words):
    with pytest.raises(HotdogError, match=words):
        describe_difference(p_value, alpha)

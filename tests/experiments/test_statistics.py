"""Paired statistics, checked against values computed independently here."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from experiments.research import statistics


def exact_mcnemar_by_hand(b: int, c: int) -> float:
    """Two-sided exact binomial test with p = 1/2, summed by hand (no scipy)."""
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("b,c", [(0, 0), (6, 0), (5, 0), (10, 3), (7, 7), (30, 12), (1, 40)])
def test_mcnemar_matches_the_exact_binomial_summed_by_hand(b, c):
    assert statistics.mcnemar_exact(b, c) == pytest.approx(exact_mcnemar_by_hand(b, c), rel=1e-9)


def test_mcnemar_needs_six_one_sided_disagreements_to_be_significant():
    assert statistics.mcnemar_exact(5, 0) > 0.05  # 2 / 32 = 0.0625
    assert statistics.mcnemar_exact(6, 0) < 0.05  # 2 / 64 = 0.03125


@pytest.mark.parametrize("k,n", [(0, 10), (7, 10), (50, 99), (86, 99), (99, 99), (301, 378)])
def test_wilson_interval_matches_the_formula(k, n):
    low, high = statistics.wilson_interval(k, n)
    expected = wilson_by_hand(k, n)
    assert low == pytest.approx(max(0.0, expected[0]), abs=1e-9)
    assert high == pytest.approx(min(1.0, expected[1]), abs=1e-9)
    assert 0 <= low <= k / n <= high <= 1


def paired_runs(n=99, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.random(n) < 0.85
    b = np.where(rng.random(n) < 0.8, a, ~a)  # agree on most images, like two real models
    return a.tolist(), b.tolist()


def test_paired_statistics_counts_accuracies_and_discordant_pairs():
    a, b = paired_runs()
    result = statistics.paired_statistics(a, b)
    n = len(a)
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    assert result["n"] == n
    assert result["accuracy_a"] == pytest.approx(sum(a) / n)
    assert result["accuracy_b"] == pytest.approx(sum(b) / n)
    assert result["difference"] == pytest.approx((only_a - only_b) / n)
    assert result["mcnemar"] == {
        "b": only_a,
        "c": only_b,
        "p_value": pytest.approx(exact_mcnemar_by_hand(only_a, only_b)),
    }
    assert result["significant"] == (result["mcnemar"]["p_value"] < 0.05)
    assert result["bootstrap"]["resamples"] >= 10_000
    low, high = result["ci95"]
    assert low <= result["difference"] <= high
    assert result["detectable_points"] == pytest.approx((high - low) / 2 * 100)


def test_bootstrap_is_seeded_and_agrees_with_scipy():
    a, b = paired_runs(n=150, seed=4)
    first = statistics.paired_bootstrap(a, b)
    assert statistics.paired_bootstrap(a, b) == first  # same seed, same interval
    reference = scipy_stats.bootstrap(
        (np.asarray(a, float), np.asarray(b, float)),
        lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=20_000,
        method="percentile",
        random_state=np.random.default_rng(0),
    ).confidence_interval
    assert first[0] == pytest.approx(reference.low, abs=0.015)
    assert first[1] == pytest.approx(reference.high, abs=0.015)


def test_identical_runs_have_no_difference():
    a = [True, False, True, True]
    result = statistics.paired_statistics(a, a)
    assert result["difference"] == 0 and result["ci95"] == [0.0, 0.0]
    assert result["mcnemar"] == {"b": 0, "c": 0, "p_value": 1.0}
    assert not result["significant"]


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        statistics.paired_statistics([True, False], [True])


def test_mean_std_interval_uses_the_sample_std_and_student_t():
    values = [0.80, 0.84, 0.78]
    result = statistics.mean_std_interval(values)
    mean, sd = np.mean(values), np.std(values, ddof=1)
    half = scipy_stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert result["mean"] == pytest.approx(mean) and result["std"] == pytest.approx(sd)
    assert result["ci95"] == pytest.approx([mean - half, mean + half])
    assert statistics.mean_std_interval([0.5]) == {"n": 1, "mean": 0.5, "std": None, "ci95": None}
    assert statistics.mean_std_interval([])["mean"] is None

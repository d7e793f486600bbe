"""Is a difference between two runs real? Statistics on paired per-image predictions.

Both runs must have predicted the same test images. Accuracy gets a Wilson 95 % interval, the
difference a seeded paired bootstrap interval, and McNemar's exact test looks only at the images
where the runs disagree (b: A right and B wrong, c: the reverse).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# numpy and scipy (~70 MiB) are imported inside the functions that compute: the URLconf imports
# this module, and a web worker that never compares two runs should not carry them.

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20_230_914
ALPHA = 0.05


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy); (0, 1) when there is nothing to count."""
    if n <= 0:
        return 0.0, 1.0
    from scipy import stats

    ci = stats.binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return float(ci.low), float(ci.high)


def paired_bootstrap(
    correct_a: Sequence[bool],
    correct_b: Sequence[bool],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of accuracy(A) - accuracy(B), resampling images (pairs kept)."""
    import numpy as np

    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("the two runs must be scored on the same images")
    if not len(a):
        return 0.0, 0.0
    diff = a - b
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // len(diff))  # bounded memory on large test sets
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        index = rng.integers(0, len(diff), size=(stop - start, len(diff)))
        means[start:stop] = diff[index].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b successes in b + c fair coin flips (scipy)."""
    if b + c == 0:
        return 1.0
    from scipy import stats

    return float(stats.binomtest(int(b), int(b + c), 0.5, alternative="two-sided").pvalue)


def paired_statistics(
    correct_a: Sequence[bool],
    correct_b: Sequence[bool],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict:
    """Everything the compare page and the API report for two runs on the same images."""
    a = [bool(x) for x in correct_a]
    b_ = [bool(x) for x in correct_b]
    if len(a) != len(b_):
        raise ValueError("the two runs must be scored on the same images")
    n = len(a)
    right_a, right_b = sum(a), sum(b_)
    acc_a = right_a / n if n else 0.0
    acc_b = right_b / n if n else 0.0
    b = sum(1 for x, y in zip(a, b_, strict=True) if x and not y)
    c = sum(1 for x, y in zip(a, b_, strict=True) if y and not x)
    low, high = paired_bootstrap(a, b_, resamples, seed)
    p_value = mcnemar_exact(b, c)
    return {
        "n": n,
        "accuracy_a": acc_a,
        "accuracy_b": acc_b,
        "wilson95_a": list(wilson_interval(right_a, n)),
        "wilson95_b": list(wilson_interval(right_b, n)),
        "difference": acc_a - acc_b,
        "ci95": [low, high],
        "bootstrap": {"resamples": resamples, "seed": seed, "method": "percentile, paired"},
        "mcnemar": {"b": b, "c": c, "p_value": p_value},
        "significant": p_value < ALPHA,
        "detectable_points": (high - low) / 2 * 100,
    }


def mean_std_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean, sample std (n - 1) and a Student-t interval of the mean over seeds."""
    data = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(data)
    if not n:
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    import numpy as np
    from scipy import stats

    mean = float(np.mean(data))
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95": None}
    std = float(np.std(data, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half]}

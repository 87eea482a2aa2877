"""The paired bootstrap behind every built-in task's ``paired_bootstrap``.

Resamples are row weights (B x n: how often each of n rows was drawn); a task turns one
model's predictions into a function of those weights (B values of its metric at once),
and :func:`paired_interval` applies the same resamples to two models and returns the
percentile interval of the difference. :func:`tie_groups` gives the sort order and tied
groups the weighted rank metrics (ROC AUC, average precision, Gini) read.

numpy only: the task modules import it, and spec validation imports them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from driftline.tasks import PairedBootstrap

#: A metric of fixed predictions as a function of resampling weights (B x n) -> B values.
WeightedMetric = Callable[[np.ndarray], np.ndarray]
#: Draws ``size`` resamples of ``n`` rows as weights (size x n floats) from ``rng``.
Draw = Callable[[np.random.Generator, int, int], np.ndarray]


def tie_groups(p: np.ndarray, *, descending: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Row order of ``p`` (descending by default, as ranking metrics read scores; stable),
    and the start of each group of tied values in that order."""
    order = np.argsort(-p if descending else p, kind="mergesort")
    sorted_p = p[order]
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    return order, starts


def row_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` resamples of ``n`` rows drawn with replacement: how often each row was
    drawn (size x n floats), from ``n`` uniform row indices per resample."""
    draws = rng.integers(0, n, size=(size, n))
    return np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)


def multinomial_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """The same resamples as :func:`row_counts` in distribution, drawn as one multinomial
    per resample (a different stream of random numbers for the same seed)."""
    return rng.multinomial(n, np.full(n, 1 / n), size=size).astype(float)


def paired_interval(
    metric: str,
    candidate: WeightedMetric,
    reference: WeightedMetric,
    n: int,
    *,
    samples: int,
    confidence: float,
    seed: int,
    chunk: int,
    draw: Draw = row_counts,
) -> PairedBootstrap:
    """``candidate - reference`` on all ``n`` rows (the point difference) and its
    percentile interval at ``confidence`` over ``samples`` resamples (the same rows for
    both models; drawn ``chunk`` at a time with ``draw`` from ``seed``). Resamples whose
    difference is not finite (the metric is undefined on them) are left out; the interval
    is NaN when none is finite."""
    ones = np.ones((1, n))
    point = float(candidate(ones)[0] - reference(ones)[0])
    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    for start in range(0, samples, chunk):
        weights = draw(rng, n, min(chunk, samples - start))
        diffs.append(candidate(weights) - reference(weights))
    every = np.concatenate(diffs)
    finite = every[np.isfinite(every)]
    if finite.size == 0:
        return PairedBootstrap(metric, point, float("nan"), float("nan"), confidence, samples)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return PairedBootstrap(metric, point, float(low), float(high), confidence, samples)


__all__ = ["multinomial_counts", "paired_interval", "row_counts", "tie_groups"]

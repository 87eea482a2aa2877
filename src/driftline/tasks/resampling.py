"""The paired bootstrap behind every built-in task's ``paired_bootstrap``.

Resamples are row weights (B x n: how often each of n rows was drawn); a task turns one
model's predictions into a function of those weights (B values of its metric at once),
and :func:`paired_interval` applies the same resamples to two models and returns the
percentile interval of the difference. :func:`tie_groups` gives the sort order and tied
groups the weighted rank metrics (ROC AUC, average precision, Gini) read; the ROC AUC and
average precision under weights are here too (:func:`weighted_roc_auc`,
:func:`weighted_average_precision`, :func:`ranking_metrics`), for the binary and
multiclass tasks and for CBPE's expected metrics.

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


# -- rank metrics under row weights -------------------------------------------------------


def weighted_roc_auc(
    y: np.ndarray, order: np.ndarray, starts: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """ROC AUC of one scored sample under each row of resampling weights ``w`` (B x n):
    ``y`` (n) the labels (0/1, or probabilities: a row is a positive with weight y and a
    negative with weight 1 - y), ``order`` and ``starts`` from :func:`tie_groups` of the
    scores. B values (NaN without positive or negative weight)."""
    ys = y[order]
    ws = w[:, order]
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws * (1 - ys), starts, axis=1)
    # Scores descend: negatives ranked below a group are those in later groups.
    neg_below = neg.sum(axis=1, keepdims=True) - np.cumsum(neg, axis=1)
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins / total


def weighted_average_precision(
    y: np.ndarray, order: np.ndarray, starts: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Average precision (sklearn's step-wise PR AUC) under each row of weights ``w``
    (B x n); ``y``, ``order`` and ``starts`` as for :func:`weighted_roc_auc`."""
    ys = y[order]
    ws = w[:, order]
    tp = np.cumsum(np.add.reduceat(ws * ys, starts, axis=1), axis=1)
    fp = np.cumsum(np.add.reduceat(ws * (1 - ys), starts, axis=1), axis=1)
    positives = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / positives
    delta = np.diff(np.concatenate([np.zeros_like(recall[:, :1]), recall], axis=1), axis=1)
    return np.nansum(delta * precision, axis=1)


def ranking_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC and PR AUC (average precision, scikit-learn's step-wise estimate) of scores
    ``p`` (n) for labels ``y`` (n): 0/1, or the probability that each row's label is 1
    (CBPE's expected labels: the row counts as a positive with weight y and as a negative
    with weight 1 - y, which is scikit-learn's ``sample_weight`` on the rows doubled).
    ValueError unless ``y`` holds both classes, as scikit-learn's ``roc_auc_score``.

    The weighted forms the bootstrap uses (:func:`weighted_roc_auc`,
    :func:`weighted_average_precision`) with unit weights: one stable sort serves both
    metrics, where scikit-learn sorts once per metric (and CBPE's doubled rows twice);
    they agree with scikit-learn to floating-point rounding."""
    y = np.asarray(y, dtype=float)
    if y.size == 0 or not 0 < y.sum() < y.size:
        raise ValueError("ROC AUC and PR AUC need labels of both classes")
    order, starts = tie_groups(np.asarray(p, dtype=float))
    ones = np.ones((1, y.size))
    return {
        "roc_auc": float(weighted_roc_auc(y, order, starts, ones)[0]),
        "pr_auc": float(weighted_average_precision(y, order, starts, ones)[0]),
    }


__all__ = [
    "multinomial_counts",
    "paired_interval",
    "ranking_metrics",
    "row_counts",
    "tie_groups",
    "weighted_average_precision",
    "weighted_roc_auc",
]

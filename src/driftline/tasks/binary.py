"""Classification metrics of a scored window, and the paired bootstrap that compares two
models on the same rows.

The same functions compute the validation metrics at training time and the benchmark
metrics before promotion, so the numbers a reviewer sees are always defined one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")
# Whether a larger value of each metric means a better model.
GREATER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "ece": False,
}
_EPS = 1e-15


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: the row-weighted mean |mean score - positive rate|."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.size == 0:
        return float("nan")
    index = np.minimum((p * bins).astype(int), bins - 1)
    score = np.bincount(index, weights=p, minlength=bins)
    hits = np.bincount(index, weights=y, minlength=bins)
    return float(np.abs(score - hits).sum() / y.size)


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier score and ECE, plus rows and positive rate.

    Ranking metrics are NaN when the rows hold a single class (they are undefined).
    """
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    both = y.size > 0 and 0 < y.sum() < y.size
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if y.size else float("nan"),
        "brier": float(brier_score_loss(y, p, pos_label=1)) if y.size else float("nan"),
        "ece": expected_calibration_error(y, p),
        "rows": float(y.size),
        "positive_rate": float(y.mean()) if y.size else float("nan"),
    }


# -- weighted ranking metrics, vectorised over bootstrap resamples ------------------------


def _groups(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order by descending score, and the start of each group of tied scores."""
    order = np.argsort(-p, kind="mergesort")
    sorted_p = p[order]
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    return order, starts


def _weighted_roc_auc(
    y: np.ndarray, order: np.ndarray, starts: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """ROC AUC of one scored sample under each row of resampling weights ``w`` (B x n)."""
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


def _weighted_average_precision(
    y: np.ndarray, order: np.ndarray, starts: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Average precision (sklearn's step-wise PR AUC) under each row of weights ``w``."""
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


_WEIGHTED: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "roc_auc": _weighted_roc_auc,
    "pr_auc": _weighted_average_precision,
}


@dataclass(frozen=True)
class PairedBootstrap:
    """The difference (candidate - reference) of a metric with its confidence interval."""

    metric: str
    diff: float
    ci_low: float
    ci_high: float
    confidence: float
    samples: int


def paired_bootstrap(
    y: np.ndarray,
    p_candidate: np.ndarray,
    p_reference: np.ndarray,
    *,
    metric: str = "roc_auc",
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int = 100,
) -> PairedBootstrap:
    """Resample rows with replacement (the same rows for both models) and return the
    percentile interval of the metric difference. Pairing removes the noise the two
    models share, so the interval is much tighter than two separate ones."""
    if metric not in _WEIGHTED:
        raise ValueError(f"bootstrap supports {sorted(_WEIGHTED)}, not {metric!r}")
    y = np.asarray(y, dtype=float)
    n = y.size
    if n == 0 or y.min() == y.max():
        raise ValueError("the bootstrap needs rows of both classes")
    fn = _WEIGHTED[metric]
    cand = _groups(np.asarray(p_candidate, dtype=float))
    ref = _groups(np.asarray(p_reference, dtype=float))
    ones = np.ones((1, n))
    point = float(fn(y, *cand, ones)[0] - fn(y, *ref, ones)[0])
    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        draws = rng.integers(0, n, size=(size, n))
        weights = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)
        diffs.append(fn(y, *cand, weights) - fn(y, *ref, weights))
    all_diffs = np.concatenate(diffs)
    all_diffs = all_diffs[np.isfinite(all_diffs)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(all_diffs, [alpha, 1 - alpha])
    return PairedBootstrap(metric, point, float(low), float(high), confidence, samples)

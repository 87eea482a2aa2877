"""Metrics and the paired bootstrap (driftline.evaluation)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from driftline.tasks.binary import (
    classification_metrics,
    expected_calibration_error,
    paired_bootstrap,
    ranking_metrics,
)
from driftline.tasks.estimation import cbpe_metrics
from driftline.tasks.resampling import (
    tie_groups,
    weighted_average_precision,
    weighted_roc_auc,
)


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal - 1)))).astype(int)
    good = 1 / (1 + np.exp(-(signal - 1)))
    noisy = 1 / (1 + np.exp(-(signal + rng.normal(0, 1.5, n) - 1)))
    return y, np.round(good, 2), np.round(noisy, 2)  # rounding makes ties


def test_weighted_metrics_with_unit_weights_match_sklearn_including_ties() -> None:
    y, p, _ = _data()
    order, starts = tie_groups(p)
    ones = np.ones((1, y.size))
    assert weighted_roc_auc(y, order, starts, ones)[0] == pytest.approx(roc_auc_score(y, p))
    assert weighted_average_precision(y, order, starts, ones)[0] == pytest.approx(
        average_precision_score(y, p)
    )


def test_ranking_metrics_match_sklearn_including_ties() -> None:
    y, p, noisy = _data()
    for scores in (p, noisy):
        got = ranking_metrics(y, scores)
        assert got["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
        assert got["pr_auc"] == pytest.approx(average_precision_score(y, scores), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        ranking_metrics(np.ones(5), p[:5])


def test_cbpe_ranking_metrics_match_sklearn_on_the_doubled_rows() -> None:
    # CBPE's definition: every row once a positive (weight p), once a negative (1 - p)
    _, scores, calibrated = _data(2000, seed=4)
    doubled = np.r_[scores, scores]
    labels = np.r_[np.ones(scores.size), np.zeros(scores.size)]
    weights = np.r_[calibrated, 1 - calibrated]
    got = cbpe_metrics(scores, calibrated)
    assert got["roc_auc"] == pytest.approx(
        roc_auc_score(labels, doubled, sample_weight=weights), abs=1e-12
    )
    assert got["pr_auc"] == pytest.approx(
        average_precision_score(labels, doubled, sample_weight=weights), abs=1e-12
    )


def test_weighted_metrics_with_count_weights_match_a_resample() -> None:
    y, p, _ = _data(500)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, y.size, y.size)
    weights = np.bincount(rows, minlength=y.size)[None, :].astype(float)
    order, starts = tie_groups(p)
    assert weighted_roc_auc(y, order, starts, weights)[0] == pytest.approx(
        roc_auc_score(y[rows], p[rows])
    )
    assert weighted_average_precision(y, order, starts, weights)[0] == pytest.approx(
        average_precision_score(y[rows], p[rows])
    )


def test_paired_bootstrap_separates_a_better_model_and_not_an_equal_one() -> None:
    y, good, noisy = _data()
    better = paired_bootstrap(y, good, noisy, samples=300)
    assert better.diff == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, noisy))
    assert 0 < better.ci_low < better.diff < better.ci_high
    same = paired_bootstrap(y, good, good, samples=300)
    assert same.diff == 0 and same.ci_low == 0 and same.ci_high == 0
    worse = paired_bootstrap(y, noisy, good, samples=300, metric="pr_auc")
    assert worse.ci_high < 0


def test_paired_bootstrap_refuses_a_single_class() -> None:
    with pytest.raises(ValueError, match="both classes"):
        paired_bootstrap(np.zeros(10), np.linspace(0, 1, 10), np.linspace(0, 1, 10))


def test_expected_calibration_error_is_small_when_calibrated_and_large_when_not() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(20_000)
    y = (rng.random(p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.clip(p + 0.3, 0, 1)) > 0.2


def test_classification_metrics_are_nan_for_ranking_on_a_single_class() -> None:
    metrics = classification_metrics(np.ones(5), np.full(5, 0.9))
    assert np.isnan(metrics["roc_auc"]) and np.isnan(metrics["pr_auc"])
    assert metrics["brier"] == pytest.approx(0.01)
    assert metrics["rows"] == 5 and metrics["positive_rate"] == 1

"""The ``binary_classification`` task: a model that scores the probability of a 0/1 label.

Its metrics (ROC AUC, PR AUC, log loss, Brier score, expected calibration error), the
paired bootstrap that compares two models on the same rows, and the rules a binary label
and a probability must follow. The same functions compute the validation metrics at
training time, the benchmark metrics before promotion and realized performance in a
monitor run, so the numbers a reviewer sees are always defined one way.

scikit-learn and pandas are imported where they are used: importing this module (which the
task registry does during spec validation) stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.tasks import TASKS, PairedBootstrap, RowProblem, Task
from driftline.tasks.resampling import (
    paired_interval,
    ranking_metrics,
    tie_groups,
    weighted_average_precision,
    weighted_roc_auc,
)

if TYPE_CHECKING:
    import pandas as pd

    from driftline.monitoring.results import EstimatedPerformance, RealizedPerformance
    from driftline.specs.model import ModelSection
    from driftline.tasks.figures import GateFigure

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

    Scores are clipped to [1e-15, 1 - 1e-15] first (log loss is infinite at 0 and 1).
    Ranking metrics are NaN when the rows hold a single class (they are undefined).
    """
    from sklearn.metrics import brier_score_loss, log_loss

    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    both = y.size > 0 and 0 < y.sum() < y.size
    ranking = ranking_metrics(y, p) if both else dict.fromkeys(("roc_auc", "pr_auc"), float("nan"))
    return {
        **ranking,
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if y.size else float("nan"),
        "brier": float(brier_score_loss(y, p, pos_label=1)) if y.size else float("nan"),
        "ece": expected_calibration_error(y, p),
        "rows": float(y.size),
        "positive_rate": float(y.mean()) if y.size else float("nan"),
    }


# -- weighted ranking metrics, vectorised over bootstrap resamples ------------------------


_WEIGHTED: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "roc_auc": weighted_roc_auc,
    "pr_auc": weighted_average_precision,
}


def binary_figures(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> list[GateFigure]:
    """ROC curve, precision-recall curve and calibration diagram (10 equal-width bins of
    the score; scikit-learn's ``roc_curve``, ``precision_recall_curve`` and
    ``calibration_curve``) of each model's scores against 0/1 labels ``y``. ValueError
    for labels of a single class (the curves are undefined)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    from driftline.tasks import figures

    y = np.asarray(y, dtype=int)
    if y.size == 0 or y.min() == y.max():
        raise ValueError("ROC and PR curves need labels of both classes")
    roc, pr, cal = {}, {}, {}
    for label, p in scores.items():
        p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
        metrics = ranking_metrics(y, p)
        fpr, tpr, _ = roc_curve(y, p)
        roc[f"{label} (AUC {metrics['roc_auc']:.3f})"] = (fpr, tpr)
        precision, recall, _ = precision_recall_curve(y, p)
        pr[f"{label} (AP {metrics['pr_auc']:.3f})"] = (recall[::-1], precision[::-1])
        actual, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
        cal[label] = (predicted, actual)
    return [
        figures.curves(
            "roc",
            "ROC curve",
            roc,
            xlabel="false positive rate",
            ylabel="true positive rate",
            diagonal=True,
        ),
        figures.curves(
            "pr", "Precision-recall curve", pr, xlabel="recall", ylabel="precision", step=True
        ),
        figures.calibration(
            "calibration",
            "Calibration (10 score bins)",
            cal,
            xlabel="mean predicted probability",
            ylabel="share of positives",
            unit_square=True,
        ),
    ]


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
    percentile interval of the metric difference
    (:func:`~driftline.tasks.resampling.paired_interval`). Pairing removes the noise the
    two models share, so the interval is much tighter than two separate ones. ValueError
    for another metric or labels of a single class."""
    if metric not in _WEIGHTED:
        raise ValueError(f"bootstrap supports {sorted(_WEIGHTED)}, not {metric!r}")
    y = np.asarray(y, dtype=float)
    n = y.size
    if n == 0 or y.min() == y.max():
        raise ValueError("the bootstrap needs rows of both classes")
    fn = _WEIGHTED[metric]
    cand = tie_groups(np.asarray(p_candidate, dtype=float))
    ref = tie_groups(np.asarray(p_reference, dtype=float))
    return paired_interval(
        metric,
        lambda w: fn(y, *cand, w),
        lambda w: fn(y, *ref, w),
        n,
        samples=samples,
        confidence=confidence,
        seed=seed,
        chunk=chunk,
    )


def resampled_metrics(
    y: np.ndarray, s: np.ndarray
) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """ROC AUC, PR AUC and accuracy of scores ``s`` for labels ``y`` under resampling
    weights, vectorised (the weighted metrics of the paired bootstrap): what CBPE's
    sampling error is measured with (:func:`driftline.tasks.estimation.sampling_sigmas`)."""
    from driftline.tasks.estimation import THRESHOLD

    def ranking(fn: Callable[..., np.ndarray]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        return lambda idx, w: fn(y[idx].astype(float), *tie_groups(s[idx]), w)

    def accuracy(idx: np.ndarray, w: np.ndarray) -> np.ndarray:
        right = ((s[idx] >= THRESHOLD) == (y[idx] == 1)).astype(float)
        return (w @ right) / w.sum(axis=1)

    return {
        "roc_auc": ranking(weighted_roc_auc),
        "pr_auc": ranking(weighted_average_precision),
        "accuracy": accuracy,
    }


class BinaryClassification(Task):
    """A model that scores the probability of the positive class of a 0/1 label."""

    name = "binary_classification"
    # Whether a larger value of each metric means a better model.
    metrics = MappingProxyType(
        {"roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False, "ece": False}
    )
    primary_metrics = tuple(_WEIGHTED)
    watched_metrics = ("roc_auc", "pr_auc")
    calibration_metric = "ece"
    prediction_method = "predict_proba"
    estimated_metrics = ("roc_auc", "pr_auc", "accuracy")

    def label_problems(self, labels: pd.Series) -> list[RowProblem]:
        """Labels other than 0 and 1 (a missing label too)."""
        return [RowProblem(~labels.isin([0.0, 1.0]), "are not 0 or 1")]

    def prediction_problems(self, predictions: pd.Series) -> list[RowProblem]:
        """Scores outside [0, 1]: not a probability."""
        return [RowProblem((predictions < 0) | (predictions > 1), "are outside [0, 1]")]

    def why_unusable(self, labels: pd.Series | np.ndarray) -> str | None:
        """A classifier needs both classes (missing labels are ignored)."""
        import pandas as pd

        present = pd.Series(labels).dropna()
        if present.nunique() >= 2:
            return None
        if present.empty:
            return "there are no labels"
        return f"every label is {present.iloc[0]}; a classifier needs both classes"

    def strata(self, target: str, segments: Sequence[str]) -> list[str]:
        """The label first (the positive class keeps its rate), then the segments."""
        return [target, *segments]

    def typed_labels(self, labels: pd.Series) -> pd.Series:
        """0/1 labels as int."""
        return labels.astype(int)

    def score(self, estimator: Any, features: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class: ``predict_proba(features)[:, 1]``."""
        return np.asarray(estimator.predict_proba(features)[:, 1], dtype=float)

    def evaluate(self, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        """:func:`classification_metrics`."""
        return classification_metrics(y, p)

    def paired_bootstrap(
        self,
        y: np.ndarray,
        p_candidate: np.ndarray,
        p_reference: np.ndarray,
        *,
        metric: str,
        samples: int,
        confidence: float,
        seed: int,
    ) -> PairedBootstrap:
        """:func:`paired_bootstrap` (roc_auc or pr_auc)."""
        return paired_bootstrap(
            y,
            p_candidate,
            p_reference,
            metric=metric,
            samples=samples,
            confidence=confidence,
            seed=seed,
        )

    def gate_figures(self, y: np.ndarray, scores: Mapping[str, np.ndarray]) -> list[GateFigure]:
        """:func:`binary_figures`: ROC, PR and calibration of each model."""
        return binary_figures(y, scores)

    def labelled(self, frame: pd.DataFrame, score: str, target: str) -> pd.DataFrame | None:
        """Rows with a numeric score and label; None unless both classes are present.
        Raises DataError when a label is neither 0 nor 1. Labels come back as int."""
        rows = self.numeric_labelled(frame, [score], target)
        if rows is not None:
            rows[target] = rows[target].astype(int)
        return rows

    def count_labels(self, labels: pd.Series | np.ndarray) -> tuple[int, int]:
        """(numeric labels, labels equal to 1)."""
        import pandas as pd

        values = pd.to_numeric(pd.Series(labels), errors="coerce").dropna()
        return len(values), int((values == 1).sum())

    def realized(self, labelled: pd.DataFrame, score: str, target: str) -> dict[str, float]:
        """ROC AUC and PR AUC of the stored scores as logged (not clipped)."""
        return ranking_metrics(labelled[target].to_numpy(), labelled[score].to_numpy())

    def why_not_judged(
        self, performance: RealizedPerformance, *, min_labelled_rows: int, min_positives: int
    ) -> str | None:
        """Too few labelled predictions, or fewer than ``min_positives`` of either class."""
        perf = performance
        few = min(perf.positives, perf.negatives) < min_positives
        if perf.labelled_rows < min_labelled_rows or few or not perf.metrics:
            return (
                f"performance not judged: {perf.labelled_rows} labelled predictions "
                f"({perf.positives} positive); needs {min_labelled_rows} with at least "
                f"{min_positives} of each class"
            )
        return None

    def fit_estimator(
        self,
        model: ModelSection,
        features: pd.DataFrame,
        schema: Mapping[str, str],
        y: np.ndarray,
        scores: np.ndarray,
        *,
        seed: int = 0,
    ) -> dict[str, Any]:
        """CBPE (:func:`driftline.tasks.estimation.fit_cbpe`): the scores' calibration on
        the validation rows, their realized metrics and sampling sigmas. Reads no feature."""
        from driftline.tasks.estimation import fit_cbpe

        y, scores = np.asarray(y, dtype=int), np.asarray(scores, dtype=float)
        return fit_cbpe(y, scores, resampled=resampled_metrics(y, scores), seed=seed)

    def estimate(
        self,
        estimator: Mapping[str, Any],
        model: ModelSection,
        window: pd.DataFrame,
        *,
        sigmas: float,
    ) -> EstimatedPerformance:
        """Expected ROC AUC, PR AUC and accuracy (and the expected confusion matrix) of the
        window's scores by CBPE (:mod:`driftline.tasks.estimation`); rows without a
        numeric score are left out. DataError without the score column or any score."""
        import pandas as pd

        from driftline.config.errors import DataError
        from driftline.tasks.estimation import estimate_cbpe, estimated_performance

        if estimator.get("method") != "cbpe":
            raise DataError(f"the baseline's estimator is {estimator.get('method')!r}, not cbpe")
        if model.prediction not in window.columns:
            raise DataError(f"CBPE needs the score column {model.prediction!r}")
        scores = pd.to_numeric(window[model.prediction], errors="coerce").dropna().to_numpy()
        if scores.size == 0:
            raise DataError("CBPE found no score to estimate from")
        return estimated_performance(
            estimator,
            estimate_cbpe(estimator, scores),
            self.estimated_metrics,
            int(scores.size),
            sigmas=sigmas,
            higher_is_better={m: True for m in self.estimated_metrics},
            bounds=(0.0, 1.0),
        )

    def segment_gateable(self, rows: int, positives: int) -> bool:
        """Both classes present: ranking metrics are defined."""
        return 0 < positives < rows


TASKS.register(BinaryClassification())

"""Multivariate drift: a domain classifier that tries to tell the window from the reference.

Per-column tests miss a change of the joint distribution that leaves every marginal alone
(two features whose correlation flipped sign; new customers who browse like old ones but
buy differently). A classifier trained to separate reference rows (label 0) from window
rows (label 1) sees the joint distribution: when it cannot do better than chance its
cross-validated ROC AUC is about 0.5; the further above, the more the two samples differ.
This is the "domain classifier" two-sample test (Lopez-Paz & Oquab 2017, "Revisiting
classifier two-sample tests"; NannyML and Evidently offer the same idea), computed here with
scikit-learn: ``HistGradientBoostingClassifier`` (native categorical support), stratified
``cross_val_score`` on ROC AUC, and ``permutation_importance`` for the features that
separate the samples most.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from threadpoolctl import threadpool_limits

from driftline.config.errors import DataError
from driftline.data.values import as_numbers, as_text
from driftline.monitoring.results import JointDrift
from driftline.specs import MultivariateDrift

#: Boosting rounds and leaves of the domain classifier: small on purpose (a few thousand
#: rows; a bigger model only overfits the folds).
_MAX_ITER, _MAX_LEAF_NODES = 60, 15


def domain_classifier_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Mapping[str, str],
    settings: MultivariateDrift,
) -> JointDrift:
    """How well a classifier separates ``current`` from ``reference`` on ``columns``
    (column -> "numerical" | "categorical").

    Draws at most ``settings.sample_size`` rows from each frame (seeded), scores ROC AUC
    with ``settings.folds``-fold stratified cross-validation, and ranks features by
    permutation importance (ROC AUC lost when the feature is shuffled, on a held-out third).
    Drift when the mean AUC is at or above ``settings.threshold``. Raises DataError when a
    frame has fewer than ``2 * folds`` rows or no column is given.
    """
    if not columns:
        raise DataError("the domain-classifier check needs at least one column")
    small = min(len(reference), len(current))
    if small < 2 * settings.folds:
        raise DataError(
            f"the domain-classifier check needs at least {2 * settings.folds} rows in the "
            f"reference and the window ({len(reference)} and {len(current)} given)"
        )
    seed = settings.random_state
    ref = reference.sample(min(len(reference), settings.sample_size), random_state=seed)
    cur = current.sample(min(len(current), settings.sample_size), random_state=seed + 1)
    X = _encode(pd.concat([ref, cur], ignore_index=True), columns)
    y = np.r_[np.zeros(len(ref), dtype=int), np.ones(len(cur), dtype=int)]
    categorical = [k == "categorical" for k in columns.values()]

    def model() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=_MAX_ITER,
            max_leaf_nodes=_MAX_LEAF_NODES,
            categorical_features=categorical,
            random_state=seed,
        )

    folds = StratifiedKFold(settings.folds, shuffle=True, random_state=seed)
    # one OpenMP thread: a small model gains nothing from more, and monitors share machines
    with threadpool_limits(limits=1, user_api="openmp"):
        scores = cross_val_score(model(), X, y, cv=folds, scoring="roc_auc")
        fit_X, test_X, fit_y, test_y = train_test_split(
            X, y, test_size=1 / 3, stratify=y, random_state=seed
        )
        fitted = model().fit(fit_X, fit_y)
        importance = permutation_importance(
            fitted, test_X, test_y, scoring="roc_auc", n_repeats=3, random_state=seed
        )
    auc = float(np.mean(scores))
    ranked = sorted(
        zip(columns, importance.importances_mean, strict=True), key=lambda t: t[1], reverse=True
    )
    # only features whose permutation lowers the AUC separate the samples; zero or
    # negative importance is noise and is not reported as "separating"
    top = tuple((str(n), round(float(v), 4)) for n, v in ranked[: settings.top_features] if v > 0)
    return JointDrift(
        auc=auc,
        auc_std=float(np.std(scores)),
        threshold=settings.threshold,
        drifted=auc >= settings.threshold,
        top_features=top,
        rows_reference=len(ref),
        rows_current=len(cur),
        columns=tuple(columns),
    )


def _encode(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Numbers as floats (missing stays NaN, which the model handles); categories as codes
    (missing as NaN), which ``categorical_features`` reads as categories, not order."""
    out: dict[str, np.ndarray] = {}
    for column, kind in columns.items():
        if kind == "numerical":
            numbers = as_numbers(frame[column])[0].to_numpy(dtype="float64")
            out[column] = np.where(np.isinf(numbers), np.nan, numbers)
        else:
            text = as_text(frame[column])
            codes, _ = pd.factorize(text, use_na_sentinel=True)
            out[column] = np.where(codes < 0, np.nan, codes).astype("float64")
    return pd.DataFrame(out)

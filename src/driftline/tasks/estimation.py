"""Performance estimated before labels arrive: CBPE for classifiers, DLE for regressions.

Both methods are fitted on the champion's validation data when its baseline is captured
and stored with the baseline as plain JSON (numbers and lists, never pickle); a monitor
run then estimates the metrics of a window from its predictions (and, for DLE, its
features) alone.

- **CBPE**, confidence-based performance estimation (NannyML, "Estimating model
  performance without ground truth", Ogrodniczak et al.; nannyml.readthedocs.io, "CBPE"):
  the champion's scores are calibrated on validation data (Platt scaling, or isotonic
  regression from 1,000 validation rows up when it calibrates better out of fold; both
  scikit-learn), and each window row's calibrated score is read as the probability that
  its label is 1. Every metric is then its expectation over those labels: the ROC AUC and
  average precision of the rows counted once as a positive with weight p and once as a
  negative with weight 1 - p (scikit-learn's ``sample_weight``), the expected confusion
  matrix at the 0.5 threshold, and the expected accuracy.
- **DLE**, direct loss estimation (NannyML, "DLE"): a small gradient-boosting model of
  the champion's absolute error (for MAE) and another of its squared error (for RMSE),
  fitted on the validation rows' features and prediction (scikit-learn
  ``GradientBoostingRegressor``, depth 3); a window's expected MAE is the mean predicted
  absolute error, its expected RMSE the root of the mean predicted squared error. The
  trees are stored as their split arrays and evaluated here with numpy.

Both assume the relation between inputs and labels (P(y | x)) is the one seen on
validation data: covariate shift is estimated, concept drift is invisible. CBPE also
assumes the calibration holds where the window's rows lie: a champion that is
miscalibrated in a region a shift fills (rare in validation) biases the estimate.

**Band.** Two errors separate an estimate from the realized value of a window of ``n``
rows: the realized value's sampling noise, ``sigma / sqrt(n)``, and the estimator's own
error, learnt from ``m`` labelled validation rows, of the order of the metric's sampling
error on them, ``sigma / sqrt(m)`` (the same offset in every window: a band of the first
term alone, NannyML's sampling error, misses whole runs of windows once ``n`` is large).
``sigma`` is the metric's per-row spread, measured at capture by bootstrapping the
realized metric on the validation rows (200 resamples, ``std * sqrt(resample size)``);
the band is the estimate +- ``sigmas`` (default 3, as NannyML) times
``sigma * sqrt(1/n + 1/m)``, clipped to the metric's range.

numpy, pandas and scikit-learn are imported here only; the task registry imports this
module lazily.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftline.config.errors import BaselineError, DataError

#: The stored format of an estimator (bumped when its JSON changes incompatibly).
FORMAT = 1
#: From this many validation rows CBPE calibrates with isotonic regression, below with
#: Platt scaling (isotonic overfits small samples).
ISOTONIC_MIN_ROWS = 1000
#: CBPE's decision threshold for the expected confusion matrix and accuracy.
THRESHOLD = 0.5
#: Bootstrap resamples that measure each metric's sampling error at capture.
SAMPLING_RESAMPLES = 200
#: Rows of each bootstrap resample (fewer when validation has fewer).
SAMPLING_ROWS = 2000
#: Folds of the stratified cross-validation that chooses CBPE's calibration map.
CALIBRATION_FOLDS = 5
#: Fewest validation rows an estimator is fitted on.
MIN_VALIDATION_ROWS = 100
#: Categories per column DLE encodes (the most common; the rest count as one "other").
DLE_MAX_CATEGORIES = 50
_EPS = 1e-6


# -- sampling error -------------------------------------------------------------------------


def sampling_sigmas(
    metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
    rows: int,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Per-row standard deviation ``sigma`` of each metric (its standard error on ``n``
    rows is ``sigma / sqrt(n)``): a random subset of ``m = min(rows, SAMPLING_ROWS)``
    rows is resampled :data:`SAMPLING_RESAMPLES` times with replacement (multinomial row
    counts, :func:`~driftline.tasks.resampling.multinomial_counts`) and ``sigma`` is the
    metric's standard deviation over the resamples times ``sqrt(m)``. ``metrics`` maps a
    name to a vectorised function of (subset row indices (m), row counts (B x m)) -> the
    metric per resample (B); NaN when fewer than half the resamples define it."""
    from driftline.tasks.resampling import multinomial_counts

    rng = np.random.default_rng(seed)
    size = min(rows, SAMPLING_ROWS)
    subset = np.sort(rng.choice(rows, size=size, replace=False))
    weights = multinomial_counts(rng, size, SAMPLING_RESAMPLES)
    out: dict[str, float] = {}
    for name, fn in metrics.items():
        values = np.asarray(fn(subset, weights), dtype=float)
        values = values[np.isfinite(values)]
        ok = values.size >= SAMPLING_RESAMPLES // 2
        out[name] = float(values.std(ddof=1) * math.sqrt(size)) if ok else float("nan")
    return out


def band(
    value: float,
    sigma: float,
    rows: int,
    sigmas: float,
    bounds: tuple[float, float],
    *,
    validation_rows: int | None = None,
) -> tuple[float, float]:
    """``value`` +- ``sigmas`` standard errors of the difference between an estimate and
    the realized value on ``rows`` rows: ``sigma * sqrt(1/rows + 1/validation_rows)``
    (the window's sampling error and the estimator's, learnt from ``validation_rows``
    labelled rows; the module docstring says why), clipped to ``bounds``. Without
    ``validation_rows`` only the window's term. (NaN, NaN) when either is unknown."""
    if not (math.isfinite(value) and math.isfinite(sigma)) or rows <= 0:
        return float("nan"), float("nan")
    variance = 1 / rows + (1 / validation_rows if validation_rows else 0.0)
    half = sigmas * sigma * math.sqrt(variance)
    lo, hi = bounds
    return max(lo, value - half), min(hi, value + half)


# -- CBPE -----------------------------------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _platt(y: np.ndarray, s: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1e6).fit(_logit(s).reshape(-1, 1), y.astype(int))


def _isotonic(y: np.ndarray, s: np.ndarray) -> Any:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)


def _out_of_fold_brier(y: np.ndarray, s: np.ndarray, seed: int) -> dict[str, float]:
    """Brier score of each calibration candidate on rows it was not fitted on
    (:data:`CALIBRATION_FOLDS`-fold stratified cross-validation, scikit-learn)."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed)
    held = {"platt": np.empty(y.size), "isotonic": np.empty(y.size)}
    for fit, test in folds.split(s, y):
        held["platt"][test] = _platt(y[fit], s[fit]).predict_proba(_logit(s[test]).reshape(-1, 1))[
            :, 1
        ]
        held["isotonic"][test] = _isotonic(y[fit], s[fit]).predict(s[test])
    return {kind: float(np.mean((p - y) ** 2)) for kind, p in held.items()}


def fit_calibration(y: np.ndarray, scores: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """A calibration map of binary ``scores`` (probabilities, n) to P(y = 1), as JSON:
    Platt scaling on the score's logit (``{"kind": "platt", "coef": a, "intercept": b}``)
    or isotonic regression (``{"kind": "isotonic", "x": [...], "y": [...]}``, its
    thresholds, read with linear interpolation as scikit-learn does); scikit-learn fits
    both.

    Isotonic regression is a candidate from :data:`ISOTONIC_MIN_ROWS` rows with at least
    :data:`CALIBRATION_FOLDS` of each class, and is chosen only when its out-of-fold Brier
    score beats Platt's (:func:`_out_of_fold_brier`, stored as ``cv_brier``): fitted on a
    few thousand rows, its steps follow their noise, which spreads the calibrated
    probabilities wider than the truth and makes CBPE's ROC and PR AUC optimistic (0.02
    PR AUC on ~2,400 validation rows of a gradient-boosting champion, ``bench/estimation.py
    --champion``). NannyML likewise checks by cross-validation that calibrating helps
    before it calibrates. Platt scaling (two parameters) includes the identity."""
    y = np.asarray(y, dtype=float)
    s = np.asarray(scores, dtype=float)
    positives = int(y.sum())
    minority = min(positives, y.size - positives)
    cv: dict[str, float] = {}
    if y.size >= ISOTONIC_MIN_ROWS and minority >= CALIBRATION_FOLDS:
        cv = _out_of_fold_brier(y, s, seed)
    if cv and cv["isotonic"] < cv["platt"]:
        iso = _isotonic(y, s)
        return {
            "kind": "isotonic",
            "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_],
            "cv_brier": cv,
        }
    platt = _platt(y, s)
    found: dict[str, Any] = {
        "kind": "platt",
        "coef": float(platt.coef_[0, 0]),
        "intercept": float(platt.intercept_[0]),
    }
    return {**found, "cv_brier": cv} if cv else found


def calibrate(calibration: Mapping[str, Any], scores: np.ndarray) -> np.ndarray:
    """Apply a map from :func:`fit_calibration` to ``scores`` (n) -> calibrated
    probabilities (n). BaselineError for a map of an unknown kind."""
    s = np.asarray(scores, dtype=float)
    kind = calibration.get("kind")
    if kind == "isotonic":
        return np.interp(s, calibration["x"], calibration["y"])
    if kind == "platt":
        z = calibration["coef"] * _logit(s) + calibration["intercept"]
        return 1.0 / (1.0 + np.exp(-z))
    raise BaselineError(f"unknown CBPE calibration {kind!r} in the baseline; retrain")


def cbpe_metrics(scores: np.ndarray, calibrated: np.ndarray) -> dict[str, float]:
    """Expected ROC AUC, PR AUC (average precision), accuracy and confusion matrix
    (shares of the rows: ``tp``, ``fp``, ``fn``, ``tn``) of ``scores`` (n, the model's
    own ranking) when each row's label is 1 with probability ``calibrated`` (n).

    The ranking metrics count every row once as a positive (weight p) and once as a
    negative (weight 1 - p), which is the expectation NannyML's CBPE computes; the
    confusion matrix uses the 0.5 threshold on the score."""
    from driftline.tasks.resampling import ranking_metrics

    s = np.asarray(scores, dtype=float)
    p = np.clip(np.asarray(calibrated, dtype=float), 0.0, 1.0)
    n = s.size
    positive = p.sum()
    out: dict[str, float] = dict.fromkeys(("roc_auc", "pr_auc"), float("nan"))
    if n and 0 < positive < n:
        out.update(ranking_metrics(p, s))  # each row a positive with weight p
    said = s >= THRESHOLD
    tp, fp = float(p[said].sum()), float((1 - p[said]).sum())
    fn, tn = float(p[~said].sum()), float((1 - p[~said]).sum())
    total = max(n, 1)
    out.update(
        accuracy=(tp + tn) / total if n else float("nan"),
        tp=tp / total,
        fp=fp / total,
        fn=fn / total,
        tn=tn / total,
    )
    return out


def realized_binary(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC and accuracy (0.5 threshold) of ``scores`` against 0/1 ``y``; NaN
    ranking metrics for a single class."""
    from driftline.tasks.resampling import ranking_metrics

    y = np.asarray(y, dtype=int)
    s = np.asarray(scores, dtype=float)
    both = 0 < y.sum() < y.size
    nan = float("nan")
    ranking = ranking_metrics(y, s) if both else {"roc_auc": nan, "pr_auc": nan}
    return {
        **ranking,
        "accuracy": float(((s >= THRESHOLD) == (y == 1)).mean()) if y.size else nan,
    }


CBPE_METRICS = ("roc_auc", "pr_auc", "accuracy")


Resampled = Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]


def fit_cbpe(
    y: np.ndarray, scores: np.ndarray, *, resampled: Resampled, seed: int = 0
) -> dict[str, Any]:
    """The CBPE estimator of a binary classifier from its validation labels ``y`` (n,
    0/1) and scores ``scores`` (n, probabilities): calibration map, the realized
    validation metrics (``reference``, what an estimated drop is measured from) and each
    metric's per-row sampling sigma (from ``resampled``: each metric under resampling
    weights, see :func:`sampling_sigmas`; the task supplies them). DataError for fewer than
    :data:`MIN_VALIDATION_ROWS` rows or a single class."""
    y = np.asarray(y, dtype=int)
    s = np.asarray(scores, dtype=float)
    if y.size < MIN_VALIDATION_ROWS or not 0 < y.sum() < y.size:
        raise DataError(
            f"CBPE needs at least {MIN_VALIDATION_ROWS} validation rows of both classes "
            f"({y.size} rows, {int(y.sum())} positive)"
        )
    calibration = fit_calibration(y, s, seed=seed)
    return {
        "method": "cbpe",
        "format": FORMAT,
        "calibration": calibration,
        "threshold": THRESHOLD,
        "validation_rows": int(y.size),
        "reference": realized_binary(y, s),
        "sampling": sampling_sigmas(resampled, y.size, seed=seed),
    }


def estimate_cbpe(estimator: Mapping[str, Any], scores: np.ndarray) -> dict[str, float]:
    """CBPE metrics of a window's ``scores`` (n) under a stored estimator
    (:func:`fit_cbpe`); rows with a missing score are left out by the caller."""
    return cbpe_metrics(scores, calibrate(estimator["calibration"], scores))


# -- DLE ------------------------------------------------------------------------------------


def _encoder(features: pd.DataFrame, schema: Mapping[str, str]) -> dict[str, Any]:
    """How DLE turns a frame into numbers: numerical columns' medians (missing values
    take them), categorical columns' most common values (each gets its code, others -1)."""
    numerical: dict[str, float] = {}
    categorical: dict[str, list[str]] = {}
    for column, kind in schema.items():
        values = features[column]
        if kind == "numerical":
            median = pd.to_numeric(values, errors="coerce").median()
            numerical[column] = float(median) if pd.notna(median) else 0.0
        else:
            counts = values.dropna().astype(str).value_counts()
            categorical[column] = [str(v) for v in counts.index[:DLE_MAX_CATEGORIES]]
    return {"numerical": numerical, "categorical": categorical}


def _encode(encoder: Mapping[str, Any], features: pd.DataFrame) -> np.ndarray:
    """The matrix (n x columns) DLE's trees read: numerical columns then categorical
    codes, in the encoder's order. DataError naming missing columns."""
    wanted = [*encoder["numerical"], *encoder["categorical"]]
    missing = [c for c in wanted if c not in features.columns]
    if missing:
        raise DataError(f"DLE needs the columns {missing}, which the window lacks")
    parts = [
        pd.to_numeric(features[c], errors="coerce").fillna(median).to_numpy(dtype=float)
        for c, median in encoder["numerical"].items()
    ]
    for column, categories in encoder["categorical"].items():
        codes = {v: i for i, v in enumerate(categories)}
        text = features[column].astype(object).where(features[column].notna(), None)
        parts.append(np.array([codes.get(str(v), -1) if v is not None else -1 for v in text]))
    return np.column_stack(parts).astype(np.float32) if parts else np.zeros((len(features), 0))


def _export_boosting(model: Any) -> dict[str, Any]:
    """A fitted scikit-learn ``GradientBoostingRegressor`` (squared-error loss) as JSON:
    its constant start, learning rate and each tree's split arrays."""
    trees = []
    for (estimator,) in model.estimators_:
        t = estimator.tree_
        trees.append(
            {
                "left": t.children_left.tolist(),
                "right": t.children_right.tolist(),
                "feature": t.feature.tolist(),
                "threshold": t.threshold.tolist(),
                "value": t.value[:, 0, 0].tolist(),
            }
        )
    start = float(np.ravel(model.init_.constant_)[0])
    return {"start": start, "learning_rate": float(model.learning_rate), "trees": trees}


def boosting_predict(exported: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """Predictions (n) of an exported boosting model (:func:`_export_boosting`) on the
    float32 matrix ``x`` (n x features): the start plus the learning rate times each
    tree's leaf value, a row going left where its value is at most the split threshold
    (scikit-learn's rule)."""
    out = np.full(x.shape[0], exported["start"], dtype=float)
    rate = exported["learning_rate"]
    rows = np.arange(x.shape[0])
    for tree in exported["trees"]:
        left = np.asarray(tree["left"])
        right = np.asarray(tree["right"])
        feature = np.asarray(tree["feature"])
        threshold = np.asarray(tree["threshold"])
        node = np.zeros(x.shape[0], dtype=int)
        while True:
            inner = left[node] != -1
            if not inner.any():
                break
            at = node[inner]
            goes_left = x[rows[inner], feature[at]] <= threshold[at]
            node[inner] = np.where(goes_left, left[at], right[at])
        out += rate * np.asarray(tree["value"])[node]
    return out


DLE_METRICS = ("mae", "rmse")


def _realized_errors(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    e = np.asarray(y, dtype=float) - np.asarray(p, dtype=float)
    return {"mae": float(np.abs(e).mean()), "rmse": float(math.sqrt((e**2).mean()))}


def fit_dle(
    features: pd.DataFrame,
    schema: Mapping[str, str],
    y: np.ndarray,
    predictions: np.ndarray,
    *,
    prediction: str,
    seed: int = 0,
) -> dict[str, Any]:
    """The DLE estimator of a regression from its validation rows: ``features`` (n rows,
    the ``schema`` columns), labels ``y`` (n) and the model's ``predictions`` (n, also a
    DLE input, named ``prediction``). Two boosting models (60 trees of depth 3), one of
    the absolute and one of the squared error, the realized validation MAE and RMSE
    (``reference``) and their per-row sampling sigmas. DataError for fewer than
    :data:`MIN_VALIDATION_ROWS` rows."""
    from sklearn.ensemble import GradientBoostingRegressor

    y = np.asarray(y, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if y.size < MIN_VALIDATION_ROWS:
        raise DataError(f"DLE needs at least {MIN_VALIDATION_ROWS} validation rows ({y.size})")
    inputs = features[list(schema)].copy()
    inputs[prediction] = p
    encoder = _encoder(inputs, {**schema, prediction: "numerical"})
    x = _encode(encoder, inputs)
    error = y - p
    models = {}
    for metric, target in (("mae", np.abs(error)), ("rmse", error**2)):
        booster = GradientBoostingRegressor(
            n_estimators=60, max_depth=3, learning_rate=0.1, subsample=0.8, random_state=seed
        ).fit(x, target)
        models[metric] = _export_boosting(booster)

    def mae(idx: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (w @ np.abs(error[idx])) / w.sum(axis=1)

    def rmse(idx: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.sqrt((w @ error[idx] ** 2) / w.sum(axis=1))

    return {
        "method": "dle",
        "format": FORMAT,
        "encoder": encoder,
        "models": models,
        "validation_rows": int(y.size),
        "reference": _realized_errors(y, p),
        "sampling": sampling_sigmas({"mae": mae, "rmse": rmse}, y.size, seed=seed),
    }


def estimate_dle(estimator: Mapping[str, Any], window: pd.DataFrame) -> dict[str, float]:
    """Expected MAE and RMSE of a window (features and prediction columns) under a stored
    DLE estimator: the mean predicted absolute error, and the root of the mean predicted
    squared error (predictions below zero count as zero)."""
    x = _encode(estimator["encoder"], window)
    absolute = np.clip(boosting_predict(estimator["models"]["mae"], x), 0, None)
    squared = np.clip(boosting_predict(estimator["models"]["rmse"], x), 0, None)
    return {"mae": float(absolute.mean()), "rmse": float(math.sqrt(squared.mean()))}


def estimator_inputs(estimator: Mapping[str, Any]) -> list[str]:
    """The window columns besides the prediction columns that a stored estimator reads:
    DLE's features (its encoder's columns, the prediction among them), none for CBPE."""
    encoder = estimator.get("encoder") or {}
    return [*encoder.get("numerical", {}), *encoder.get("categorical", {})]


# -- one result ----------------------------------------------------------------------------


def estimated_performance(
    estimator: Mapping[str, Any],
    values: Mapping[str, float],
    metrics: Sequence[str],
    rows: int,
    *,
    sigmas: float,
    higher_is_better: Mapping[str, bool],
    bounds: tuple[float, float],
) -> Any:
    """An :class:`~driftline.monitoring.results.EstimatedPerformance` of ``metrics`` from
    the estimates ``values`` on ``rows`` rows: each with its band (:func:`band`: the
    stored sampling sigma, the window's rows and the estimator's validation rows) and the
    estimator's validation ``reference``; CBPE's expected confusion matrix (``tp``,
    ``fp``, ``fn``, ``tn`` in ``values``) is kept beside them."""
    from driftline.monitoring.results import EstimatedPerformance

    sampling = estimator.get("sampling") or {}
    validation_rows = int(estimator.get("validation_rows") or 0) or None
    estimates = {m: float(values[m]) for m in metrics if math.isfinite(values.get(m, math.nan))}
    bands = {
        m: band(
            v,
            float(sampling.get(m, math.nan)),
            rows,
            sigmas,
            bounds,
            validation_rows=validation_rows,
        )
        for m, v in estimates.items()
    }
    return EstimatedPerformance(
        method=str(estimator["method"]),
        rows=rows,
        metrics=estimates,
        lower={m: lo for m, (lo, _) in bands.items() if math.isfinite(lo)},
        upper={m: hi for m, (_, hi) in bands.items() if math.isfinite(hi)},
        reference={k: float(v) for k, v in (estimator.get("reference") or {}).items()},
        higher_is_better={m: bool(higher_is_better[m]) for m in metrics},
        confusion={k: float(values[k]) for k in ("tp", "fp", "fn", "tn") if k in values},
        sigmas=sigmas,
    )

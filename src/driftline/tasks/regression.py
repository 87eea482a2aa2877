"""The ``regression`` task: a model that predicts a number (customer lifetime value, basket
size, days to next order).

Metrics and their direction (``Regression.metrics``):

=====================  ======  =====================================================
metric                 better  definition
=====================  ======  =====================================================
``mae``                lower   mean absolute error (scikit-learn ``mean_absolute_error``)
``rmse``               lower   root mean squared error (``root_mean_squared_error``)
``mape``               lower   mean absolute percentage error with a floor on ``|y|``:
                               ``mean(|y - p| / max(|y|, mape_floor))``; scikit-learn's
                               MAPE floors at machine epsilon, so a zero value makes
                               it explode
``wape``               lower   weighted absolute percentage error ``sum|y - p| / sum|y|``
                               (Kolassa & Schütz 2007, "Advantages of the MAD/MEAN ratio
                               over the MAPE"): defined with many zero values
``r2``                 higher  coefficient of determination (``r2_score``)
``deviance``           lower   mean Tweedie deviance with the spec's ``deviance_power``
                               (``mean_tweedie_deviance``; 0 normal, 1 Poisson, 2 gamma)
``gini``               higher  normalized Gini: the Gini of the Lorenz curve of actual
                               values ordered by prediction, over the Gini of the ideal
                               ordering (Frees, Meyers & Cummings 2011; the Lorenz curve
                               of scikit-learn's "Poisson regression and non-normal
                               loss" example); ties in the prediction share credit
``calibration_error``  lower   the decile calibration table folded into one number:
                               row-weighted mean ``|mean predicted - mean actual|`` per
                               predicted decile, over ``mean |actual|``
=====================  ======  =====================================================

``calibration_table`` is the decile table itself (mean predicted vs mean actual per
predicted decile), kept with benchmark results and shown in gate reports.

The paired bootstrap resamples rows with multinomial weights (the same rows for both
models) and computes every primary metric on all resamples at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from driftline.tasks import TASKS, PairedBootstrap, RowProblem, Task, TaskOptions
from driftline.tasks.resampling import multinomial_counts, paired_interval, tie_groups

if TYPE_CHECKING:
    import pandas as pd

    from driftline.monitoring.results import EstimatedPerformance, RealizedPerformance
    from driftline.specs.model import ModelSection
    from driftline.tasks.figures import GateFigure

#: Predictions are floored here for the deviance when ``deviance_power >= 1`` (undefined
#: at 0), as binary log loss clips probabilities.
_DEVIANCE_FLOOR = 1e-6
DECILES = 10


class RegressionOptions(TaskOptions):
    """``model.task_options`` of a regression spec."""

    prediction_range: tuple[float | None, float | None] = Field(
        default=(None, None),
        description="[lo, hi] every logged prediction must lie in (inclusive); null for an "
        "open end, e.g. [0, null] for a lifetime value.",
    )
    deviance_power: float = Field(
        default=0.0,
        description="Tweedie power of the deviance metric and of the trainers' loss: 0 "
        "normal (squared error), 1 Poisson, between 1 and 2 compound Poisson-gamma "
        "(zero-inflated spend), 2 gamma. Powers between 0 and 1 do not exist.",
    )
    mape_floor: float = Field(
        default=1.0,
        gt=0,
        description="MAPE divides by max(|actual|, mape_floor), in the target's units, so "
        "an actual value of 0 does not make it infinite.",
    )

    @field_validator("deviance_power")
    @classmethod
    def _tweedie_power(cls, value: float) -> float:
        if 0 < value < 1 or not math.isfinite(value):
            raise ValueError(
                f"{value} is not a Tweedie power: use 0 (normal), 1 (Poisson), a value "
                "between 1 and 2 (compound Poisson-gamma), 2 (gamma) or more, or below 0"
            )
        return value

    @model_validator(mode="after")
    def _range_ordered(self) -> RegressionOptions:
        lo, hi = self.prediction_range
        for end in (lo, hi):
            if end is not None and not math.isfinite(end):
                raise ValueError("prediction_range: give finite numbers, or null for an open end")
        if lo is not None and hi is not None and lo >= hi:
            raise ValueError(f"prediction_range: the low end {lo} must be below the high end {hi}")
        return self

    def range_text(self) -> str:
        lo, hi = self.prediction_range
        return f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


# -- metrics ------------------------------------------------------------------------------


def normalized_gini(y: np.ndarray, p: np.ndarray) -> float:
    """Gini of the predictions ``p`` over the Gini of a perfect ordering of ``y``, in
    [-1, 1] (1: ranks like the truth, 0: random); NaN when undefined (no rows, or every
    ``y`` equal). For 0/1 labels it equals ``2 * ROC AUC - 1``."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.size == 0:
        return float("nan")
    own = _weighted_gini(y, *tie_groups(p, descending=False), np.ones((1, y.size)))[0]
    ideal = _weighted_gini(y, *tie_groups(y, descending=False), np.ones((1, y.size)))[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(own / ideal) if ideal != 0 else float("nan")


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = DECILES) -> list[dict[str, float]]:
    """Rows sorted by prediction, cut into ``bins`` groups of equal size (deciles): for each,
    ``decile`` (1 = lowest predictions), ``rows``, ``mean_predicted`` and ``mean_actual``.
    Fewer rows than bins give one group per row."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="mergesort")
    table = []
    for index, rows in enumerate(np.array_split(order, min(bins, y.size)), start=1):
        if rows.size:
            table.append(
                {
                    "decile": float(index),
                    "rows": float(rows.size),
                    "mean_predicted": float(p[rows].mean()),
                    "mean_actual": float(y[rows].mean()),
                }
            )
    return table


def regression_figures(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> list[GateFigure]:
    """Predicted vs actual (a scatter of at most 2,000 sampled rows) and the decile
    calibration diagram (:func:`calibration_table`: mean predicted vs mean actual per
    predicted decile) of each model's predictions against actual values ``y``."""
    from driftline.tasks import figures

    deciles = {}
    for label, p in scores.items():
        table = calibration_table(y, p)
        deciles[label] = (
            np.array([r["mean_predicted"] for r in table]),
            np.array([r["mean_actual"] for r in table]),
        )
    return [
        figures.predicted_vs_actual("predicted-vs-actual", "Predicted vs actual", y, scores),
        figures.calibration(
            "calibration",
            "Decile calibration",
            deciles,
            xlabel="mean predicted (per predicted decile)",
            ylabel="mean actual",
            unit_square=False,
        ),
    ]


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = DECILES) -> float:
    """Row-weighted mean |mean predicted - mean actual| over the predicted deciles of
    :func:`calibration_table`, divided by mean |actual| (scale-free); NaN when undefined."""
    table = calibration_table(y, p, bins)
    scale = float(np.mean(np.abs(y))) if np.size(y) else 0.0
    if not table or scale == 0:
        return float("nan")
    gap = sum(r["rows"] * abs(r["mean_predicted"] - r["mean_actual"]) for r in table)
    return float(gap / np.size(y) / scale)


def regression_metrics(
    y: np.ndarray, p: np.ndarray, *, power: float = 0.0, mape_floor: float = 1.0
) -> dict[str, float]:
    """Every metric of :class:`Regression` (see the module docstring), plus ``rows``,
    ``mean_actual`` and ``mean_predicted``. NaN where a metric is undefined (no rows;
    R² and Gini on constant actual values; the deviance on actual values outside its
    power's domain)."""
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    nan = float("nan")
    if y.size == 0:
        return {**dict.fromkeys(Regression.metrics, nan), "rows": 0.0}
    scale = np.maximum(np.abs(y), mape_floor)
    absolute = float(np.abs(y).sum())
    constant = bool(np.all(y == y[0]))
    return {
        "mae": float(mean_absolute_error(y, p)),
        "rmse": float(root_mean_squared_error(y, p)),
        "mape": float(mean_absolute_error(y / scale, p / scale)),
        "wape": float(np.abs(y - p).sum() / absolute) if absolute > 0 else nan,
        "r2": nan if constant or y.size < 2 else float(r2_score(y, p)),
        "deviance": tweedie_deviance(y, p, power),
        "gini": nan if constant else normalized_gini(y, p),
        "calibration_error": calibration_error(y, p),
        "rows": float(y.size),
        "mean_actual": float(y.mean()),
        "mean_predicted": float(p.mean()),
    }


def tweedie_deviance(y: np.ndarray, p: np.ndarray, power: float) -> float:
    """scikit-learn's ``mean_tweedie_deviance`` with predictions floored at 1e-6 when
    ``power >= 1`` (undefined at 0); NaN when ``y`` lies outside the power's domain
    (negative for power in [1, 2), not positive for power >= 2)."""
    from sklearn.metrics import mean_tweedie_deviance

    if _outside_deviance_domain(y, power).any():
        return float("nan")
    if power >= 1:
        p = np.maximum(p, _DEVIANCE_FLOOR)
    return float(mean_tweedie_deviance(y, p, power=power))


def _outside_deviance_domain(y: np.ndarray, power: float) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if power >= 2:
        return y <= 0
    if power >= 1:
        return y < 0
    return np.zeros(y.shape, dtype=bool)


def _unit_deviance(y: np.ndarray, p: np.ndarray, power: float) -> np.ndarray:
    """Per-row Tweedie deviance (the terms scikit-learn's mean averages), for the
    bootstrap; ``p`` floored as in :func:`tweedie_deviance`."""
    if power == 0:
        return (y - p) ** 2
    p = np.maximum(p, _DEVIANCE_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        if power == 1:
            return 2 * (np.where(y > 0, y * np.log(y / p), 0.0) - y + p)
        if power == 2:
            return 2 * (np.log(p / y) + y / p - 1)
        return 2 * (
            np.power(np.maximum(y, 0), 2 - power) / ((1 - power) * (2 - power))
            - y * np.power(p, 1 - power) / (1 - power)
            + np.power(p, 2 - power) / (2 - power)
        )


# -- weighted metrics, vectorised over bootstrap resamples --------------------------------


def _weighted_gini(
    y: np.ndarray, order: np.ndarray, starts: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Gini (1 - 2 * area under the Lorenz curve of ``y`` ordered by ascending prediction)
    under each row of resampling weights ``w`` (B x n); tied predictions form one linear
    step of the curve (the trapezoid), so their order does not matter."""
    ys = y[order]
    ws = w[:, order]
    share = np.add.reduceat(ws, starts, axis=1)
    value = np.add.reduceat(ws * ys, starts, axis=1)
    x = np.cumsum(share, axis=1) / share.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        lorenz = np.cumsum(value, axis=1) / value.sum(axis=1, keepdims=True)
    x0 = np.concatenate([np.zeros_like(x[:, :1]), x], axis=1)
    l0 = np.concatenate([np.zeros_like(lorenz[:, :1]), lorenz], axis=1)
    area = (np.diff(x0, axis=1) * (l0[:, 1:] + l0[:, :-1]) / 2).sum(axis=1)
    return 1 - 2 * area


def _bootstrap_metric(
    metric: str, y: np.ndarray, p: np.ndarray, power: float
) -> Callable[[np.ndarray], np.ndarray]:
    """``metric`` of predictions ``p`` as a function of resampling weights (B x n)."""
    n = y.size
    if metric == "mae":
        errors = np.abs(y - p)
        return lambda w: w @ errors / n
    if metric == "rmse":
        squares = (y - p) ** 2
        return lambda w: np.sqrt(w @ squares / n)
    if metric == "deviance":
        units = _unit_deviance(y, p, power)
        return lambda w: w @ units / n
    if metric == "r2":
        squares = (y - p) ** 2

        def r2(w: np.ndarray) -> np.ndarray:
            mean = (w @ y / n)[:, None]
            total = (w * (y[None, :] - mean) ** 2).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return 1 - (w @ squares) / total

        return r2
    own, ideal = tie_groups(p, descending=False), tie_groups(y, descending=False)

    def gini(w: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return _weighted_gini(y, *own, w) / _weighted_gini(y, *ideal, w)

    return gini


BOOTSTRAP_METRICS = ("mae", "rmse", "r2", "deviance", "gini")


def paired_bootstrap(
    y: np.ndarray,
    p_candidate: np.ndarray,
    p_reference: np.ndarray,
    *,
    metric: str = "mae",
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    power: float = 0.0,
    chunk: int = 100,
) -> PairedBootstrap:
    """Resample rows with replacement (the same rows for both models) and return the
    percentile interval of ``metric(candidate) - metric(reference)`` (negative = the
    candidate's error is lower for error metrics). Raises ValueError for a metric outside
    :data:`BOOTSTRAP_METRICS`, no rows, or (deviance) actual values outside the power's
    domain."""
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"bootstrap supports {list(BOOTSTRAP_METRICS)}, not {metric!r}")
    y = np.asarray(y, dtype=float)
    n = y.size
    if n == 0:
        raise ValueError("the bootstrap needs rows")
    if metric == "deviance" and _outside_deviance_domain(y, power).any():
        raise ValueError(f"actual values outside the domain of the Tweedie power {power:g}")
    boot = paired_interval(
        metric,
        _bootstrap_metric(metric, y, np.asarray(p_candidate, dtype=float), power),
        _bootstrap_metric(metric, y, np.asarray(p_reference, dtype=float), power),
        n,
        samples=samples,
        confidence=confidence,
        seed=seed,
        chunk=chunk,
        draw=multinomial_counts,
    )
    if math.isnan(boot.ci_low):  # no resample gave a finite difference
        raise ValueError(f"{metric} is undefined on these rows (e.g. constant actual values)")
    return boot


# -- the task -------------------------------------------------------------------------------


class Regression(Task):
    """A model that predicts a finite number, optionally within ``prediction_range``."""

    name = "regression"
    # Whether a larger value of each metric means a better model.
    metrics = MappingProxyType(
        {
            "mae": False,
            "rmse": False,
            "mape": False,
            "wape": False,
            "r2": True,
            "deviance": False,
            "gini": True,
            "calibration_error": False,
        }
    )
    primary_metrics = BOOTSTRAP_METRICS
    watched_metrics = ("mae", "rmse", "wape", "gini")
    calibration_metric = "calibration_error"
    prediction_method = "predict"
    estimated_metrics = ("mae", "rmse")
    options_model = RegressionOptions

    @property
    def settings(self) -> RegressionOptions:
        """The spec's options, typed."""
        options = self.options
        assert isinstance(options, RegressionOptions)
        return options

    def label_problems(self, labels: pd.Series) -> list[RowProblem]:
        """Missing or infinite values, and values the deviance's power cannot score
        (negative for a Poisson or Tweedie power, not positive for gamma)."""
        power = self.settings.deviance_power
        problems = [
            RowProblem(~np.isfinite(labels.to_numpy(dtype=float)), "are not finite numbers")
        ]
        outside = _outside_deviance_domain(labels.fillna(0).to_numpy(dtype=float), power)
        if power >= 1:
            what = "are not positive" if power >= 2 else "are negative"
            problems.append(
                RowProblem(
                    outside,
                    f"{what}, which the Tweedie deviance of power {power:g} "
                    "(task_options.deviance_power) cannot score",
                )
            )
        return problems

    def prediction_problems(self, predictions: pd.Series) -> list[RowProblem]:
        """Infinite values, and values outside ``prediction_range``."""
        values = predictions.to_numpy(dtype=float)
        lo, hi = self.settings.prediction_range
        outside = np.zeros(values.shape, dtype=bool)
        if lo is not None:
            outside |= values < lo
        if hi is not None:
            outside |= values > hi
        return [
            RowProblem(np.isinf(values), "are infinite"),
            RowProblem(
                outside,
                f"are outside the prediction_range {self.settings.range_text()} of the "
                "spec's task_options",
            ),
        ]

    def why_unusable(self, labels: pd.Series | np.ndarray) -> str | None:
        """A regression needs at least two distinct values (missing values ignored)."""
        import pandas as pd

        present = pd.Series(labels).dropna()
        if present.empty:
            return "there are no labels"
        if present.nunique() < 2:
            return f"every label is {present.iloc[0]}; a regression needs varying values"
        return None

    def strata(self, target: str, segments: Sequence[str]) -> list[str]:
        """The target (cut into quantile bins by :meth:`stratum_keys`), then the segments."""
        return [target, *segments]

    def stratum_keys(
        self, frame: pd.DataFrame, target: str, segments: Sequence[str]
    ) -> list[pd.Series]:
        """The target's quintile (so the reference keeps the heavy tail's share), then
        the segments; without the target, the segments alone."""
        import pandas as pd

        keys = [frame[c].astype(str).fillna("<missing>") for c in segments if c in frame]
        if target not in frame.columns:
            return keys
        values = pd.to_numeric(frame[target], errors="coerce")
        bins = pd.qcut(values.rank(method="first"), q=min(5, max(values.notna().sum(), 1)))
        return [bins.astype(str), *keys]

    def score(self, estimator: Any, features: pd.DataFrame) -> np.ndarray:
        """``predict(features)`` as floats."""
        return np.asarray(estimator.predict(features), dtype=float).reshape(-1)

    def evaluate(self, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        """:func:`regression_metrics` with the spec's power and MAPE floor."""
        options = self.settings
        return regression_metrics(y, p, power=options.deviance_power, mape_floor=options.mape_floor)

    def calibration_table(self, y: np.ndarray, p: np.ndarray) -> list[dict[str, float]] | None:
        """:func:`calibration_table` (predicted deciles)."""
        return calibration_table(y, p)

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
        """:func:`paired_bootstrap` with the spec's deviance power."""
        return paired_bootstrap(
            y,
            p_candidate,
            p_reference,
            metric=metric,
            samples=samples,
            confidence=confidence,
            seed=seed,
            power=self.settings.deviance_power,
        )

    def gate_figures(self, y: np.ndarray, scores: Mapping[str, np.ndarray]) -> list[GateFigure]:
        """:func:`regression_figures`: predicted vs actual and decile calibration."""
        return regression_figures(y, scores)

    def labelled(self, frame: pd.DataFrame, score: str, target: str) -> pd.DataFrame | None:
        """Rows with a numeric score and label, labels as floats; None when there are none
        or every label is equal. Raises DataError for a label the task cannot read."""
        rows = self.numeric_labelled(frame, [score], target)
        if rows is not None:
            rows[target] = rows[target].astype(float)
        return rows

    def count_labels(self, labels: pd.Series | np.ndarray) -> tuple[int, int]:
        """(numeric labels, labels above 0): the second is what "positives" means for a
        value (customers who spent anything)."""
        import pandas as pd

        values = pd.to_numeric(pd.Series(labels), errors="coerce").dropna()
        return len(values), int((values > 0).sum())

    def realized(self, labelled: pd.DataFrame, score: str, target: str) -> dict[str, float]:
        """``watched_metrics`` of the stored predictions against the matured values."""
        every = self.evaluate(labelled[target].to_numpy(), labelled[score].to_numpy())
        return {m: every[m] for m in self.watched_metrics}

    def why_not_judged(
        self, performance: RealizedPerformance, *, min_labelled_rows: int, min_positives: int
    ) -> str | None:
        """Too few labelled predictions (``min_positives`` does not apply to values)."""
        perf = performance
        if perf.labelled_rows < min_labelled_rows or not perf.metrics:
            return (
                f"performance not judged: {perf.labelled_rows} labelled predictions; needs "
                f"{min_labelled_rows} with matured values that are not all equal"
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
        """DLE (:func:`driftline.tasks.estimation.fit_dle`): boosting models of the
        absolute and squared error from the features and the prediction."""
        from driftline.tasks.estimation import fit_dle

        return fit_dle(features, schema, y, scores, prediction=model.prediction, seed=seed)

    def estimate(
        self,
        estimator: Mapping[str, Any],
        model: ModelSection,
        window: pd.DataFrame,
        *,
        sigmas: float,
    ) -> EstimatedPerformance:
        """Expected MAE and RMSE of the window by DLE (:mod:`driftline.tasks.estimation`)
        from its features and predictions; rows without a numeric prediction are left
        out. DataError when a column DLE reads is missing or no row has a prediction."""
        import pandas as pd

        from driftline.config.errors import DataError
        from driftline.tasks.estimation import estimate_dle, estimated_performance

        if estimator.get("method") != "dle":
            raise DataError(f"the baseline's estimator is {estimator.get('method')!r}, not dle")
        if model.prediction not in window.columns:
            raise DataError(f"DLE needs the prediction column {model.prediction!r}")
        rows = window[pd.to_numeric(window[model.prediction], errors="coerce").notna()]
        if rows.empty:
            raise DataError("DLE found no prediction to estimate from")
        return estimated_performance(
            estimator,
            estimate_dle(estimator, rows),
            self.estimated_metrics,
            len(rows),
            sigmas=sigmas,
            higher_is_better={m: False for m in self.estimated_metrics},
            bounds=(0.0, float("inf")),
        )

    def segment_gateable(self, rows: int, positives: int) -> bool:
        """At least two rows (error metrics are defined; the Gini needs some value)."""
        return rows >= 2


TASKS.register(Regression())


__all__ = [
    "BOOTSTRAP_METRICS",
    "Regression",
    "RegressionOptions",
    "calibration_error",
    "calibration_table",
    "normalized_gini",
    "paired_bootstrap",
    "regression_metrics",
    "tweedie_deviance",
]

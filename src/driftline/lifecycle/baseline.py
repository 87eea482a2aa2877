"""The reference profile of one model version, captured at training time.

A monitor always compares a live window with the baseline of the version that holds
the ``champion`` alias *now*, so promotion switches the baseline without reloading
raw training data. This module holds the value both sides agree on and builds it from a
training frame; storing and loading it as MLflow artifacts of the training run is in
:mod:`driftline.lifecycle.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftline.config.errors import DriftlineError
from driftline.data.store import ENTITY_KEY
from driftline.data.values import as_text
from driftline.specs import ModelSpec
from driftline.tasks import task_for


@dataclass(frozen=True)
class Baseline:
    """What a monitor needs to know about the model it watches.

    ``reference`` holds a bounded, stratified sample of the training features and the
    model's predictions on them (spec column names; no entity ids, consenting rows only).
    ``entity_keys`` holds the pseudonym of each sampled row (aligned with ``reference``;
    None for a reference without them, e.g. an adopted one): stored beside the sample so
    ``driftline privacy forget`` can erase a customer's rows from it, and never handed to
    a monitor or a trainer.
    ``schema`` maps column -> "numerical" | "categorical"; ``stats`` holds per-column
    summary statistics that expose no single row's value (:func:`column_stats`);
    ``metrics`` the validation metrics (e.g. ``roc_auc``, ``pr_auc``). ``estimator`` is
    the performance estimator fitted on the validation rows (:func:`capture_estimator`:
    JSON values, ``{"method": None, "reason": ...}`` when the task has none), or None for
    a baseline captured before driftline estimated performance.
    """

    model: str
    version: str
    reference: pd.DataFrame
    schema: dict[str, str]
    stats: dict[str, dict[str, float | int | str | None]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    estimator: dict[str, Any] | None = None
    #: Column profiles of ``reference`` (:mod:`driftline.monitoring.profiles`), stored
    #: beside ``stats.json`` as ``profile.json``; None for baselines captured before
    #: profiles existed (:func:`reference_profile` then computes them from ``reference``).
    profile: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    entity_keys: tuple[str, ...] | None = None


def reference_profile(
    baseline: Baseline, columns: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The baseline reference's column profiles (column -> ``ColumnProfile``) of
    ``columns`` (name -> kind; default: the baseline's schema): the stored ones, and those
    it lacks computed from the reference sample on the fly (a baseline captured before
    profiles existed; a few milliseconds for the default 5,000 rows). Raises DataError
    for a column the reference sample does not hold."""
    wanted = dict(baseline.schema if columns is None else columns)
    stored = baseline.profile or {}
    if columns is None and baseline.profile is not None:
        return baseline.profile
    out = {c: stored[c] for c in wanted if c in stored}
    lacking = {c: k for c, k in wanted.items() if c not in out}
    if lacking:
        from driftline.monitoring.profiles import profile_frame

        out.update(profile_frame(baseline.reference, lacking))
    return {c: out[c] for c in wanted}


# -- building a baseline (pure: no MLflow here; the registry stores and loads it) ----------

_QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}


#: The column of ``reference.parquet`` that holds each sampled row's pseudonym.
KEY_COLUMN = "__driftline_entity_key"

#: A category is named in the statistics only when at least this many rows hold it.
MIN_GROUP_ROWS = 10


def column_stats(frame: pd.DataFrame, schema: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per-column summary statistics of ``frame`` (all rows, not just the sample), which
    never expose one row's value: no minimum or maximum but a range rounded outward to 2
    significant digits (``range_lo``, ``range_hi``: what the out-of-range rule compares
    with), quantiles rounded to 3 significant digits, and the most common category only
    when at least :data:`MIN_GROUP_ROWS` rows hold it. Counts, shares, mean and standard
    deviation are aggregates of every row."""
    stats: dict[str, dict[str, Any]] = {}
    rows = len(frame)
    for column, kind in schema.items():
        values = frame[column]
        missing = int(values.isna().sum())
        entry: dict[str, Any] = {
            "type": kind,
            "count": rows - missing,
            "missing": missing,
            "missing_share": missing / rows if rows else None,
        }
        present = values.dropna()
        if kind == "numerical":
            numbers = present.astype(float)
            entry.update(
                {
                    "mean": _num(numbers.mean()),
                    "std": _num(numbers.std()),
                    "range_lo": _outward(numbers.min(), np.floor),
                    "range_hi": _outward(numbers.max(), np.ceil),
                    "distinct": int(numbers.nunique()),
                }
            )
            for name, q in _QUANTILES.items():
                entry[name] = _significant(numbers.quantile(q), 3) if len(numbers) else None
        else:
            counts = as_text(present).value_counts()
            common = counts.size > 0 and int(counts.iloc[0]) >= MIN_GROUP_ROWS
            entry.update(
                {
                    "distinct": int(counts.size),
                    "top": str(counts.index[0]) if common else None,
                    "top_share": float(counts.iloc[0] / len(present)) if common else None,
                }
            )
        stats[column] = entry
    return stats


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _significant(value: Any, digits: int) -> float | None:
    """``value`` rounded to ``digits`` significant digits."""
    number = _num(value)
    if number is None or number == 0:
        return number
    return float(f"{number:.{digits - 1}e}")


def _outward(value: Any, direction: Any) -> float | None:
    """``value`` rounded away from the data to 2 significant digits (``np.floor`` for a
    lower bound, ``np.ceil`` for an upper one): the bound holds, the value is not shown."""
    number = _num(value)
    if number is None or number == 0:
        return number
    scale = 10.0 ** (np.floor(np.log10(abs(number))) - 1)
    return float(direction(number / scale) * scale)


def stratified_sample(
    frame: pd.DataFrame, keys: list[pd.Series], size: int, seed: int = 0
) -> pd.DataFrame:
    """At most ``size`` rows, each stratum (combination of the values of ``keys``, series
    aligned with ``frame``) keeping its share of the rows, so rare segments, the positive
    class and a value's heavy tail stay represented."""
    if len(frame) <= size:
        return frame.copy()
    frac = size / len(frame)
    if not keys:
        return frame.sample(n=size, random_state=seed)
    groups = frame.groupby(keys, sort=True, dropna=False, group_keys=False)
    sample = groups.sample(frac=frac, random_state=seed)
    if len(sample) > size:  # rounding up in many small strata
        sample = sample.sample(n=size, random_state=seed)
    return sample.sort_index()


def build_baseline(
    spec: ModelSpec,
    frame: pd.DataFrame,
    predictions: np.ndarray,
    metrics: dict[str, float],
    *,
    version: str = "",
    run_id: str | None = None,
    sample_size: int = 5000,
    seed: int = 0,
    estimator: dict[str, Any] | None = None,
    entity_keys: pd.Series | None = None,
) -> Baseline:
    """The reference profile of a model trained on ``frame`` (spec columns, consenting
    rows): stratified sample of features + the model's predictions, schema, stats.

    Only the schema's columns survive in ``reference``, so identifiers (entity key,
    request id), the timestamp, the consent flag and the label never reach what a monitor
    compares with. The pseudonym of each sampled row (``entity_keys``, aligned with
    ``frame``; else the frame's ``entity_key`` column when it has one) is kept apart in
    :attr:`Baseline.entity_keys`, for erasure.
    """
    m = spec.model
    schema = spec.column_types_with_prediction
    task = task_for(m)
    scored = frame.copy()
    if entity_keys is None and ENTITY_KEY in frame.columns:
        entity_keys = frame[ENTITY_KEY]
    if entity_keys is not None:
        scored[KEY_COLUMN] = entity_keys.to_numpy()
    for column, values in task.prediction_frame(m, predictions).items():
        scored[column] = values.to_numpy()
    # The task's strata (binary and multiclass: label, then segments; regression: the
    # label's quantile bin, then segments); the label only when the frame has it.
    keys = task.stratum_keys(scored, m.target, m.segments)
    sample = stratified_sample(scored, keys, sample_size, seed)
    reference = sample[list(schema)].reset_index(drop=True)
    from driftline.monitoring.profiles import profile_frame

    keys = tuple(str(k) for k in sample[KEY_COLUMN]) if entity_keys is not None else None
    return Baseline(
        model=spec.name,
        version=version,
        reference=reference,
        schema=schema,
        stats=column_stats(scored, schema),
        metrics={k: float(v) for k, v in metrics.items()},
        run_id=run_id,
        estimator=estimator,
        profile=profile_frame(reference, schema),
        entity_keys=keys,
    )


def capture_estimator(
    spec: ModelSpec,
    features: pd.DataFrame,
    labels: np.ndarray | pd.Series,
    scores: np.ndarray,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """The champion's performance estimator, fitted on its validation rows (``features``
    with the spec's feature columns, n rows; ``labels`` as stored, n; ``scores`` as the
    task's ``score`` returns them) by the spec's task (:meth:`Task.fit_estimator`: CBPE
    for binary classification, DLE for regression). Rows the estimator cannot use never
    fail the capture: the reason is stored instead (``{"method": None, "reason": ...}``)
    and shown where estimates would be."""
    task = task_for(spec.model)
    try:
        typed = task.typed_labels(pd.Series(np.asarray(labels))).to_numpy()
        return task.fit_estimator(spec.model, features, spec.column_types, typed, scores, seed=seed)
    except DriftlineError as exc:
        return {"method": None, "reason": f"no performance estimator: {exc}"}

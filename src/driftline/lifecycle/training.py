"""Training: assemble a training set from the store, fit the spec's model, register it.

The training window ends where the holdout window starts (see :func:`plan_windows`), so
the benchmark can always score a new model on days it never saw. The model is fitted by
the spec's trainer (a registered one, or the user's function given as an import path;
see :mod:`driftline.lifecycle.trainers`) and stored in the flavour that suits it
(:mod:`driftline.lifecycle.flavors`: scikit-learn with skops, LightGBM as text). Every
trained model is logged to MLflow with its parameters, validation metrics, signature, the
training data as a dataset input, why it was trained, and its baseline; the new version
gets the ``challenger`` alias. Promotion is a separate, gated step.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from driftline.config.errors import DataError, DriftlineError, ModelError
from driftline.config.progress import Progress, Stages
from driftline.data import claims
from driftline.data.store import ENTITY_KEY, Store
from driftline.data.values import as_numbers, as_text
from driftline.data.windows import (
    Windows,
    data_clock,
    plan_after_change,
    plan_windows,
    usable_rows,
)
from driftline.lifecycle import flavors
from driftline.lifecycle.baseline import build_baseline, capture_estimator
from driftline.lifecycle.registry import CHALLENGER, CHAMPION, MODEL_ARTIFACT, TAG, Registry
from driftline.lifecycle.trainers import train_function, trainer_for
from driftline.specs import ModelSpec
from driftline.tasks import task_for

log = logging.getLogger(__name__)

Reason = Literal["bootstrap", "drift", "performance", "quality", "manual", "schedule", "adopted"]
#: Why a model version exists, one word everywhere (retrain parameters, the audit trail,
#: the ``driftline.reason`` tag, ``driftline models``, alerts): ``bootstrap`` (the first
#: model of a name), ``drift`` (lasting input drift), ``performance`` (realized performance
#: dropped), ``quality`` (retrained after a data-quality incident was fixed), ``manual``,
#: ``schedule``, ``adopted`` (a model that already served, :mod:`driftline.lifecycle.adopt`;
#: never trained here).
REASONS: tuple[str, ...] = (
    "bootstrap",
    "drift",
    "performance",
    "quality",
    "manual",
    "schedule",
    "adopted",
)
TRAINING_REASONS = tuple(r for r in REASONS if r != "adopted")
#: The stages :func:`train` reports to its ``progress`` callable, in order.
TRAINING_STAGES = (
    "reading labelled rows",
    "fitting",
    "scoring",
    "capturing the baseline",
    "logging and registering in MLflow",
    "storing the baseline",
)
#: How long a retrain may hold its claim; one whose process died is taken over after it.
RETRAIN_LEASE = timedelta(hours=4)


def claim_retrain(
    store: Store,
    spec: ModelSpec,
    *,
    owner: str,
    monitor_run_id: str | int | None = None,
    request_id: str | None = None,
) -> claims.Claim | None:
    """Claim the retrain asked for by monitor run ``monitor_run_id`` (or by the explicit
    ``request_id``, which wins): exactly one caller wins it, however many deliveries of
    the same event arrive, at once or later (a unique row in ``dl_claims``). Returns None
    when neither is given (a manual retrain is never a repeat). A loser's claim says who
    handled it (``claim.describe()``); a claim whose retrain failed, or whose holder died
    (:data:`RETRAIN_LEASE`), is taken over."""
    if request_id:
        key = f"retrain:request:{request_id}"
    elif monitor_run_id is not None and str(monitor_run_id):
        key = f"retrain:monitor-run:{monitor_run_id}"
    else:
        return None
    detail = {"monitor_run_id": monitor_run_id, "request_id": request_id}
    return claims.claim(store, spec.name, key, owner, detail=detail, lease=RETRAIN_LEASE)


def build_pipeline(spec: ModelSpec) -> Pipeline:
    """The spec's unfitted scikit-learn pipeline, built by the registered trainer that
    ``training.trainer`` names (see :mod:`driftline.lifecycle.trainers`).

    Raises SpecError when the trainer is not registered (an import path builds nothing: it
    fits), does not support the model's task, or rejects ``training.params``.
    """
    return trainer_for(spec).build(spec)


#: A category fewer customers than this hold in the training rows is shown to the trainer
#: as missing, so a fitted model's vocabulary (an encoder's ``categories_``) never names
#: a value that only one or two customers sent.
MIN_CATEGORY_CUSTOMERS = 5


def training_frame(spec: ModelSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """What a trainer receives: :func:`feature_frame` of ``rows`` plus the target column
    as the task names labels (a multiclass model's class names); no identifiers,
    timestamps or consent flags. When ``rows`` carry pseudonyms (``entity_key``, as the
    store gives them), a category held by fewer than :data:`MIN_CATEGORY_CUSTOMERS`
    customers is missing in the frame (the model then scores it as an unseen category)."""
    frame = feature_frame(spec, rows)
    if ENTITY_KEY in rows.columns:
        for column in spec.model.features.categorical:
            customers = rows[ENTITY_KEY].groupby(frame[column].to_numpy()).nunique()
            rare = customers.index[customers < MIN_CATEGORY_CUSTOMERS]
            if len(rare):
                frame[column] = frame[column].where(~frame[column].isin(rare), np.nan)
    labels = rows[spec.model.target].to_numpy()
    frame[spec.model.target] = task_for(spec.model).decode_labels(labels)
    return frame


def fit_model(spec: ModelSpec, frame: pd.DataFrame) -> flavors.Prepared:
    """Fit the spec's model on ``frame`` (:func:`training_frame`) with its trainer, and
    check what came back (:func:`driftline.lifecycle.flavors.prepare`).

    Raises SpecError when the trainer cannot be found or imported, or the spec must allow
    something the model needs (a flavour, skops types); ModelError when the trainer raises
    (the original exception is chained) or returns something driftline cannot score or
    store.
    """
    name = spec.training.trainer
    what = f"the model returned by training.trainer {name!r}"
    fit = train_function(spec)
    try:
        model = fit(frame.copy(), spec)
    except DriftlineError:
        raise
    except Exception as exc:  # the user's code may fail in any way
        raise ModelError(
            f"{spec.name}: training.trainer {name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if model is None:
        raise ModelError(f"{spec.name}: training.trainer {name!r} returned None, not a model")
    return flavors.prepare(model, spec, what=what)


def feature_frame(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, typed: floats and strings (missing as NaN), by the rules
    of :mod:`driftline.data.values`, so a model sees the category 1 as ``"1"`` whether its
    rows came from the store, a CSV or a Parquet file (text that is no number: NaN)."""
    m = spec.model
    out = pd.DataFrame(index=frame.index)
    for column in m.features.numerical:
        out[column] = as_numbers(frame[column])[0]
    for column in m.features.categorical:
        values = as_text(frame[column])
        out[column] = values.where(values.notna(), np.nan)
    return out


def threads(spec: ModelSpec) -> AbstractContextManager[Any]:
    """Limit OpenMP threads of fitting and scoring to ``training.n_threads`` (if set)."""
    if spec.training.n_threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=spec.training.n_threads, user_api="openmp")


@dataclass(frozen=True)
class TrainingResult:
    """What one training run produced."""

    model: str
    version: str
    run_id: str
    reason: str
    windows: Windows
    counts: dict[str, int]
    metrics: dict[str, float]
    baseline_rows: int
    champion_version: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    primary_metric: str = "roc_auc"

    def summary(self) -> str:
        return (
            f"{self.model} version {self.version} ({self.reason}): trained on "
            f"{self.counts['train_rows']:,} rows from {self.windows.train_start:%Y-%m-%d} to "
            f"{self.windows.train_end:%Y-%m-%d}, validation {self.primary_metric} "
            f"{self.metrics.get(self.primary_metric, float('nan')):.4f}"
        )


def train(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    reason: str | None = None,
    triggered_by: str = "manual",
    monitor_run_id: str | None = None,
    as_of: datetime | pd.Timestamp | None = None,
    since: datetime | pd.Timestamp | None = None,
    held: claims.Claim | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train the spec's model on matured labels, log it with its baseline, register it
    and give the new version the ``challenger`` alias. ``held`` is the caller's claim
    (:func:`claim_retrain`): settled ``done`` with the new version, or ``failed`` (so a
    repeat may try again) when training raises.

    ``reason`` is one of :data:`TRAINING_REASONS` (default: bootstrap when the model has
    no champion yet, else manual). ``since``: a change point (UTC); training and holdout
    then hold only data after it (:func:`driftline.data.windows.plan_after_change`), and
    the version is tagged ``driftline.change_point``. Raises ValueError for an unknown
    reason; DataError when the window holds too few usable rows (after ``since``: fewer
    than the retrain needs) or labels the task cannot learn from (binary: a single class);
    SpecError or ModelError when the trainer cannot be used or its model cannot be scored
    or stored (see :func:`fit_model`). Nothing is registered then. ``progress`` hears of
    each stage (:data:`TRAINING_STAGES`, task ``train <model>``).
    """
    stages = Stages(progress, f"train {spec.name}", TRAINING_STAGES)
    try:
        result = _train(
            store, registry, spec, reason, triggered_by, monitor_run_id, as_of, since, stages
        )
    except BaseException as exc:
        if held is not None:
            try:
                claims.settle(store, held, "failed", f"{type(exc).__name__}: {exc}"[:500])
            except Exception as settle_exc:  # the lease frees it; the first error matters
                log.warning("could not release the retrain claim %s: %s", held.key, settle_exc)
        raise
    if held is not None:
        claims.settle(
            store,
            held,
            "done",
            f"challenger v{result.version} trained by {triggered_by}",
            detail={**held.detail, "version": result.version, "run_id": result.run_id},
        )
    return result


def _train(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    reason: str | None,
    triggered_by: str,
    monitor_run_id: str | None,
    as_of: datetime | pd.Timestamp | None,
    since: datetime | pd.Timestamp | None,
    stage: Stages,
) -> TrainingResult:
    m, t = spec.model, spec.training
    task = task_for(m)
    stage("reading labelled rows")
    champion = registry.version_by_alias(spec, CHAMPION)
    reason = reason or ("bootstrap" if champion is None else "manual")
    if reason not in TRAINING_REASONS:
        raise ValueError(f"reason must be one of {', '.join(TRAINING_REASONS)}, not {reason!r}")
    clock = as_of if as_of is not None else data_clock(store, spec)
    if since is None:
        windows = plan_windows(spec, clock)
    else:
        after = plan_after_change(store, spec, clock, since)
        if after.windows is None:
            raise DataError(
                f"{spec.name}: only {after.rows:,} of the {after.needed:,} labelled rows a "
                f"retrain needs exist after the change on {after.since:%Y-%m-%d %H:%M} UTC "
                "(training.min_rows plus a holdout); wait for more labels to mature, or "
                "train without a change point"
            )
        windows = after.windows
    frame, counts = usable_rows(store, spec, windows.train_start, windows.train_end)
    _check_trainable(spec, frame, windows)

    cut = round(len(frame) * (1 - t.validation_fraction))
    fit_rows, val_rows = frame.iloc[:cut], frame.iloc[cut:]
    why = task.why_unusable(fit_rows[m.target]) or task.why_unusable(val_rows[m.target])
    if why:
        raise DataError(
            f"{spec.name}: in the training or validation part of {_window_text(windows)}, "
            f"{why}; widen training.lookback_days or wait for more labels"
        )
    counts.update(train_rows=len(fit_rows), validation_rows=len(val_rows))
    x_fit, x_val = feature_frame(spec, fit_rows), feature_frame(spec, val_rows)
    with threads(spec):
        stage("fitting")
        prepared = fit_model(spec, training_frame(spec, fit_rows))
        stage("scoring")
        val_scores = _scores(spec, task, prepared.model, x_val)
    metrics = task.evaluate(val_rows[m.target].to_numpy(), val_scores)
    stage("capturing the baseline")
    # The reference is the validation part: rows the model did not learn from, so its
    # scores are what the model gives to new rows. In-sample scores of the fitted rows are
    # more confident than any live window's (a boosted model's most of all), and the
    # score would "drift" every day against them.
    baseline = build_baseline(
        spec,
        val_rows,
        val_scores,
        metrics,
        sample_size=t.baseline_sample_size,
        seed=t.random_state,
        estimator=capture_estimator(
            spec, val_rows, val_rows[m.target].to_numpy(), val_scores, seed=t.random_state
        ),
    )
    tags = {
        f"{TAG}reason": reason,
        f"{TAG}triggered_by": triggered_by,
        f"{TAG}monitor_run_id": monitor_run_id or "",
        f"{TAG}champion_at_training": champion or "",
    }
    if since is not None:
        tags[f"{TAG}change_point"] = pd.Timestamp(since).isoformat()
    stage("logging and registering in MLflow")
    run_id, version = _log_and_register(
        registry, spec, prepared, frame, x_fit, windows, counts, metrics, tags
    )
    stage("storing the baseline")
    registry.log_baseline(baseline, run_id)
    registry.set_version_tags(
        spec,
        version,
        {
            **tags,
            f"{TAG}train_end": windows.train_end.isoformat(),
            f"{TAG}run_id": run_id,
            f"{TAG}trainer": t.trainer,
            f"{TAG}flavor": prepared.flavor,
        },
    )
    registry.set_alias(spec, CHALLENGER, version)
    stage.finish()
    result = TrainingResult(
        model=spec.name,
        version=version,
        run_id=run_id,
        reason=reason,
        windows=windows,
        counts=counts,
        metrics=metrics,
        baseline_rows=len(baseline.reference),
        champion_version=champion,
        tags=tags,
        primary_metric=spec.promotion.primary_metric,
    )
    log.info("%s", result.summary())
    return result


def _scores(spec: ModelSpec, task: Any, model: Any, x: pd.DataFrame) -> np.ndarray:
    """The model's scores of ``x`` through the task; ModelError when scoring fails or gives
    values the task's models cannot produce (e.g. probabilities outside [0, 1])."""
    what = f"{spec.name}: the model of training.trainer {spec.training.trainer!r}"
    try:
        scores = task.score(model, x)
    except DriftlineError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{what} cannot score the training window: {type(exc).__name__}: {exc}"
        ) from exc
    columns = task.prediction_frame(spec.model, scores)
    checked = task.check_predictions(spec.model, columns)
    bad = [p.what for _, p in checked if np.count_nonzero(p.rows)]
    if np.isnan(np.asarray(scores, dtype=float)).any():
        bad.append("are missing")
    if bad:
        raise ModelError(f"{what}: some of its scores {'; '.join(bad)}")
    return scores


def _check_trainable(spec: ModelSpec, frame: pd.DataFrame, windows: Windows) -> None:
    m, t = spec.model, spec.training
    if len(frame) < t.min_rows:
        raise DataError(
            f"{spec.name}: only {len(frame):,} labelled, consenting rows in "
            f"{_window_text(windows)} (training.min_rows is {t.min_rows}). Ingest more "
            "predictions and labels, widen training.lookback_days, or pass an --as-of "
            "that leaves the labels time to mature."
        )
    why = task_for(m).why_unusable(frame[m.target])
    if why:
        raise DataError(f"{spec.name}: in {_window_text(windows)}, {why}")


def _window_text(windows: Windows) -> str:
    return (
        f"the training window {windows.train_start:%Y-%m-%d %H:%M} to "
        f"{windows.train_end:%Y-%m-%d %H:%M} UTC"
    )


def _log_and_register(
    registry: Registry,
    spec: ModelSpec,
    prepared: flavors.Prepared,
    frame: pd.DataFrame,
    x_fit: pd.DataFrame,
    windows: Windows,
    counts: dict[str, int],
    metrics: dict[str, float],
    tags: dict[str, str],
) -> tuple[str, str]:
    """One MLflow run: params, metrics, dataset input, model (registered). Returns the
    run id and the new version number. The run is named :func:`training_run_name` once
    the version is known (``train-<model>-<reason>`` until then)."""
    import mlflow

    m, t = spec.model, spec.training
    reason = tags[f"{TAG}reason"]
    experiment_id = registry.experiment_id(spec)
    # Identifiers, timestamps and consent never leave the store: features + label only.
    dataset_frame = training_frame(spec, frame)
    with (
        warnings.catch_warnings(),
        registry.active(),
        mlflow.start_run(
            experiment_id=experiment_id, run_name=f"train-{spec.name}-{reason}", tags=tags
        ) as run,
    ):
        # MLflow hints that integer columns cannot hold missing values: labels never do.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        mlflow.log_params(
            {
                "trainer": t.trainer,
                "flavor": prepared.flavor,
                **{f"param.{k}": v for k, v in t.params.items()},
                "lookback_days": t.lookback_days,
                "holdout_days": t.holdout_days,
                "label_delay_days": m.label_delay_days,
                "validation_fraction": t.validation_fraction,
                **windows.as_params(),
                **{f"rows.{k}": v for k, v in counts.items()},
            }
        )
        mlflow.log_metrics({f"val_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        dataset = mlflow.data.from_pandas(
            dataset_frame, name=f"{spec.name}-training", targets=m.target
        )
        mlflow.log_input(dataset, context="training")
        version = flavors.log_model(prepared, spec, example=x_fit.head(5), artifact=MODEL_ARTIFACT)
        mlflow.set_tag("mlflow.runName", training_run_name(spec.name, version, reason))
        run_id = run.info.run_id
    return run_id, version


def training_run_name(model: str, version: str, reason: str) -> str:
    """The MLflow run name of a training run, searchable in the UI:
    ``train-purchase_propensity-v4-drift``."""
    return f"train-{model}-v{version}-{reason}"

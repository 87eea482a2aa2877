"""Adopt a model you already have: give a production model trained elsewhere a baseline
and make it driftline's champion, so monitors, alerts and the benchmark treat it like any
champion from then on.

:func:`adopt` takes an MLflow model (``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
``runs:/RUN_ID/PATH`` or the folder of an MLflow model) and a reference dataset: rows the
model scored, with the spec's feature columns, its predictions (the spec's prediction
column; scored by the model when absent) and, if known, labels. Labels come either from
the reference's own target column or from a labels file joined on the request id, the
same file ``driftline ingest labels`` reads; not both.

What it records, in this order (nothing is registered until the model has been read
under the spec's rules and has scored the reference):

1. the model, read under the spec's trust rules (:func:`driftline.lifecycle.flavors.
   load_source`) and stored again as a new version of the spec's registered model (created
   if needed): scikit-learn with skops, LightGBM as text, anything else as it came. The
   original stays where it is, untouched;
2. its baseline, as training captures one: a stratified sample of the reference's
   consenting rows (features and predictions), schema, column profiles, and validation
   metrics from the labelled rows;
3. the ``champion`` alias, through the promotion audit (outcome ``promoted``, reason
   ``adopted ...``; version tag ``driftline.reason=adopted``). A model that already has a
   champion is refused unless ``replace_champion`` is given: adopting bypasses the gates.

If anything fails before the alias moves, the new version is deleted again.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftline.config.errors import DataError, DriftlineError, ModelError, RegistryError
from driftline.data.ingest import prepare_labels, prepare_prediction_columns
from driftline.data.store import REQUEST_ID, Store
from driftline.data.values import as_numbers, require_unique_columns
from driftline.lifecycle import flavors
from driftline.lifecycle.baseline import build_baseline, capture_estimator
from driftline.lifecycle.promotion import (
    Announce,
    PromotionOutcome,
    default_actor,
    install_champion,
)
from driftline.lifecycle.registry import CHAMPION, MODEL_ARTIFACT, TAG, Registry
from driftline.lifecycle.training import feature_frame
from driftline.specs import ModelSpec
from driftline.tasks import task_for

log = logging.getLogger(__name__)

#: The reason an adopted version carries (``driftline.reason`` tag, audit text).
ADOPTED = "adopted"
#: Largest difference between the model's scores and the reference's own predictions
#: before adopt warns that they may come from another model.
SCORE_TOLERANCE = 0.01


@dataclass(frozen=True)
class AdoptionResult:
    """What :func:`adopt` recorded: the new champion version, where it came from, how it
    is stored, its baseline and validation metrics, the audit outcome, and warnings."""

    model: str
    version: str
    run_id: str
    source_uri: str
    flavor: str
    reference_rows: int
    baseline_rows: int
    labelled_rows: int
    metrics: dict[str, float]
    outcome: PromotionOutcome
    scored_by_driftline: bool = False
    max_score_difference: float | None = None
    train_end: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    primary_metric: str = "roc_auc"

    def summary(self) -> str:
        head = f"{self.model} version {self.version} adopted as champion from {self.source_uri}"
        metric = self.metrics.get(self.primary_metric)
        scored = f", validation {self.primary_metric} {metric:.4f}" if metric is not None else ""
        return f"{head} ({self.flavor}; baseline of {self.baseline_rows:,} rows{scored})"


def adopt(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    model_uri: str,
    reference: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    triggered_by: str | None = None,
    replace_champion: bool = False,
    reference_source: str = "reference",
    labels_source: str = "labels",
    announce: Announce | None = None,
) -> AdoptionResult:
    """Adopt the model at ``model_uri`` as the champion of ``spec``'s model, with a
    baseline from ``reference`` (see the module docstring). ``announce`` builds the
    alert recorded with the audit row (:func:`~driftline.lifecycle.promotion.install_champion`).

    Raises RegistryError when the model already has a champion (and ``replace_champion``
    is false) or the registry fails; DataError for a reference or labels that do not fit
    the spec; SpecError when the spec must allow the model's flavour or types first;
    ModelError when the model cannot be downloaded, read or score the reference.
    """
    m = spec.model
    task = task_for(m)
    actor = triggered_by or default_actor()
    champion = registry.version_by_alias(spec, CHAMPION)
    if champion is not None and not replace_champion:
        raise RegistryError(
            f"{spec.name} already has a champion (v{champion}). Adopting replaces it without "
            "a benchmark or gates: pass replace_champion=True (`--replace-champion`) if "
            "that is what you want; `driftline rollback` restores it afterwards."
        )
    frame = reference_frame(
        spec, reference, labels, source=reference_source, labels_source=labels_source
    )
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="driftline-adopt-") as tmp:
        folder = _fetch(registry, model_uri, Path(tmp))
        prepared = flavors.load_source(folder, spec, f"the model at {model_uri}")
        x = feature_frame(spec, frame)
        computed = _score(spec, task, prepared.model, x, model_uri)
        difference: float | None = None
        logged = _has_predictions(spec, frame)
        if logged:
            predictions = task.stored_scores(m, frame)
            difference = float(np.max(np.abs(computed - predictions)))
            if difference > SCORE_TOLERANCE:
                notes.append(
                    f"the model's scores differ from the reference's {m.prediction!r} by up "
                    f"to {difference:.3f}: is this the model that made them? The baseline "
                    "keeps the reference's predictions; the benchmark scores with the model."
                )
        else:
            predictions = computed
            notes.append(f"the reference has no {m.prediction!r}: the model scored it")
        metrics, labelled = _metrics(spec, frame, predictions, notes)
        baseline = build_baseline(
            spec,
            frame,
            predictions,
            metrics,
            sample_size=spec.training.baseline_sample_size,
            seed=spec.training.random_state,
            estimator=_estimator(spec, frame, predictions),
        )
        train_end = _reference_end(spec, reference)
        run_id, version = _register(registry, spec, prepared, frame, x, model_uri, metrics)
        try:
            registry.log_baseline(baseline, run_id)
            tags = {
                f"{TAG}reason": ADOPTED,
                f"{TAG}triggered_by": actor,
                f"{TAG}source_uri": model_uri,
                f"{TAG}run_id": run_id,
                f"{TAG}flavor": prepared.flavor,
                f"{TAG}champion_at_training": champion or "",
            }
            if train_end is not None:
                tags[f"{TAG}train_end"] = train_end
            registry.set_version_tags(spec, version, tags)
        except Exception:
            _withdraw(registry, spec, version)
            raise
    outcome = install_champion(
        store,
        registry,
        spec,
        version,
        reason=f"v{version} {ADOPTED} from {model_uri}, without gates: it already serves",
        triggered_by=actor,
        announce=announce,
    )
    result = AdoptionResult(
        model=spec.name,
        version=version,
        run_id=run_id,
        source_uri=model_uri,
        flavor=prepared.flavor,
        reference_rows=len(frame),
        baseline_rows=len(baseline.reference),
        labelled_rows=labelled,
        metrics=metrics,
        outcome=outcome,
        scored_by_driftline=not logged,
        max_score_difference=difference,
        train_end=train_end,
        warnings=tuple(notes),
        primary_metric=spec.promotion.primary_metric,
    )
    log.info("%s", result.summary())
    for note in notes:
        log.warning("%s: %s", spec.name, note)
    return result


# -- the reference ------------------------------------------------------------------------


def reference_frame(
    spec: ModelSpec,
    reference: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    *,
    source: str = "reference",
    labels_source: str = "labels",
) -> pd.DataFrame:
    """The reference as adopt uses it: consenting rows only (when the spec has a consent
    column, the reference must carry it), the spec's features typed as driftline scores
    them, the prediction column when present, and the target (from ``labels`` joined on
    the request id, or the reference's own target column; missing where unknown).

    Raises DataError naming the file, the columns and the rows at fault.
    """
    m = spec.model
    task = task_for(m)
    if reference.empty:
        raise DataError(f"{source}: the reference has no rows")
    require_unique_columns(reference.columns, source)
    needed = [*m.features.all, *([m.consent] if m.consent else [])]
    missing = [c for c in needed if c not in reference.columns]
    if missing:
        raise DataError(
            f"{source}: missing columns {missing}; a reference holds the spec's features, "
            f"the predictions in {m.prediction!r}"
            + (f" and the consent flag {m.consent!r}" if m.consent else "")
            + f" (it has {list(reference.columns)})"
        )
    rows = reference
    if m.consent:
        consent = rows[m.consent].astype(str).str.strip().str.lower()
        rows = rows[consent.isin(["true", "t", "yes", "y", "1", "1.0"]).to_numpy()]
        if rows.empty:
            raise DataError(f"{source}: no row has {m.consent!r} true; nothing may be used")
    rows = rows.reset_index(drop=True)
    problems: list[str] = []
    out = feature_frame(spec, rows)
    for column in m.features.numerical:
        numbers, bad = as_numbers(rows[column])
        if bad.any():
            problems.append(f"column {column!r}: {int(bad.sum())} values are not numbers")
        infinite = int(np.isinf(numbers.to_numpy()).sum())
        if infinite:
            problems.append(f"column {column!r}: {infinite} values are infinite")
    if _has_predictions(spec, rows):
        # Checked by the task, as ingestion checks them (DataError naming columns, rows).
        predictions = prepare_prediction_columns(spec, rows, source)
        scores = [c for c, kind in spec.prediction_types.items() if kind == "numerical"]
        unscored = predictions[scores].isna().any(axis=1)
        if unscored.any():
            problems.append(f"columns {scores}: {int(unscored.sum())} rows have no score")
        for column in predictions:
            out[column] = predictions[column].to_numpy()
    if labels is not None:
        if m.target in rows.columns:
            problems.append(
                f"the labels are given twice (column {m.target!r} and {labels_source}); keep one"
            )
        elif m.request_id not in rows.columns:
            problems.append(
                f"{labels_source} joins on the request id, but the reference has no "
                f"{m.request_id!r} column"
            )
        else:
            found = prepare_labels(spec, labels, labels_source)
            by_id = found.drop_duplicates(REQUEST_ID).set_index(REQUEST_ID)["label"]
            ids = rows[m.request_id].astype(str).str.strip()
            out[m.target] = ids.map(by_id).to_numpy(dtype=float)
    elif m.target in rows.columns:
        encoded = task.encode_labels(rows[m.target])
        target = pd.to_numeric(rows[m.target], errors="coerce") if encoded is None else encoded
        for problem in task.label_problems(target.dropna()):
            if np.count_nonzero(problem.rows):
                problems.append(f"column {m.target!r}: labels {problem.what}")
        out[m.target] = target.to_numpy(dtype=float)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise DataError(f"{source}: cannot adopt with this reference:\n{listed}")
    return out


def _has_predictions(spec: ModelSpec, frame: pd.DataFrame) -> bool:
    """Whether ``frame`` holds the model's logged predictions (every prediction column
    but those the task derives)."""
    derived = set(task_for(spec.model).derived_prediction_columns(spec.model))
    return all(c in frame.columns for c in spec.prediction_types if c not in derived)


def _reference_end(spec: ModelSpec, reference: pd.DataFrame) -> str | None:
    """The newest prediction time of the reference, when it has the spec's timestamp
    column: the benchmark never scores the adopted model on rows before it."""
    column = spec.model.timestamp
    if column not in reference.columns:
        return None
    stamps = pd.to_datetime(reference[column], utc=True, errors="coerce", format="mixed")
    newest = stamps.max()
    return None if pd.isna(newest) else newest.isoformat()


def _estimator(
    spec: ModelSpec, frame: pd.DataFrame, predictions: np.ndarray
) -> dict[str, Any] | None:
    """The performance estimator fitted on the reference's labelled rows (the adopted
    model's validation data), or None without labels."""
    target = spec.model.target
    if target not in frame.columns:
        return None
    known = frame[target].notna().to_numpy()
    rows = frame[known].reset_index(drop=True)
    return capture_estimator(
        spec, rows, rows[target].to_numpy(), predictions[known], seed=spec.training.random_state
    )


def _metrics(
    spec: ModelSpec, frame: pd.DataFrame, predictions: np.ndarray, notes: list[str]
) -> tuple[dict[str, float], int]:
    """Validation metrics of ``predictions`` on the labelled rows, and how many there
    were; none (with a note) without labels. DataError when labels cannot be judged."""
    m = spec.model
    task = task_for(m)
    if m.target not in frame.columns:
        notes.append(
            "no labels: the baseline has no validation metrics, so realized performance is "
            "not judged against this version"
        )
        return {}, 0
    known = frame[m.target].notna().to_numpy()
    y = frame[m.target].to_numpy()[known]
    why = task.why_unusable(y)
    if why:
        raise DataError(f"the reference's labels cannot validate the model: {why}")
    return task.evaluate(task.typed_labels(pd.Series(y)).to_numpy(), predictions[known]), int(
        known.sum()
    )


# -- the model ----------------------------------------------------------------------------


def _fetch(registry: Registry, uri: str, folder: Path) -> Path:
    """The MLflow model at ``uri`` as a local folder: a folder as it is, a ``models:/`` or
    ``runs:/`` URI (or any artifact URI) downloaded from the registry's tracking server."""
    local = Path(uri).expanduser()
    if local.is_dir():
        return local
    if "://" not in uri and not uri.startswith(("models:/", "runs:/")):
        raise ModelError(
            f"{uri}: no such folder. Give models:/NAME/VERSION, models:/NAME@ALIAS, "
            "runs:/RUN_ID/PATH, or the folder of an MLflow model."
        )
    import mlflow.artifacts

    with registry.active():
        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder)))
        except Exception as exc:
            raise ModelError(f"cannot download {uri} ({type(exc).__name__}: {exc})") from None


def _score(spec: ModelSpec, task: Any, model: Any, x: pd.DataFrame, uri: str) -> np.ndarray:
    try:
        scores = np.asarray(task.score(model, x), dtype=float)
    except DriftlineError:
        raise
    except Exception as exc:
        raise ModelError(
            f"the model at {uri} cannot score the reference ({type(exc).__name__}: {exc}); "
            "the reference must hold the features it was trained on, named as in the spec"
        ) from None
    checked = task.check_predictions(spec.model, task.prediction_frame(spec.model, scores))
    bad = [p.what for _, p in checked if np.count_nonzero(p.rows)]
    if np.isnan(scores).any():
        bad.append("are missing")
    if bad:
        raise ModelError(f"the model at {uri}: some of its scores {'; '.join(bad)}")
    return scores


def _register(
    registry: Registry,
    spec: ModelSpec,
    prepared: flavors.Prepared,
    frame: pd.DataFrame,
    x: pd.DataFrame,
    uri: str,
    metrics: dict[str, float],
) -> tuple[str, str]:
    """One MLflow run ``adopt`` in the model's experiment: where the model came from, the
    reference as a dataset input (features and labels), validation metrics, and the model
    stored as a new version. Returns the run id and the version."""
    import mlflow

    m = spec.model
    dataset = x.copy()
    if m.target in frame.columns:
        dataset[m.target] = frame[m.target].to_numpy()
    with (
        warnings.catch_warnings(),
        registry.active(),
        mlflow.start_run(
            experiment_id=registry.experiment_id(spec),
            run_name=f"{ADOPTED}-{spec.name}",
            tags={f"{TAG}reason": ADOPTED, f"{TAG}source_uri": uri},
        ) as run,
    ):
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        mlflow.log_params(
            {"source_uri": uri, "flavor": prepared.flavor, "rows.reference": len(frame)}
        )
        mlflow.log_metrics({f"val_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_input(
            mlflow.data.from_pandas(
                dataset,
                name=f"{spec.name}-reference",
                targets=m.target if m.target in dataset.columns else None,
            ),
            context="reference",
        )
        version = flavors.log_model(prepared, spec, example=x.head(5), artifact=MODEL_ARTIFACT)
        mlflow.set_tag("mlflow.runName", f"{ADOPTED}-{spec.name}-v{version}")
        return run.info.run_id, version


def _withdraw(registry: Registry, spec: ModelSpec, version: str) -> None:
    """Delete a version whose adoption failed half-way (best effort, logged)."""
    try:
        registry.delete_version(spec, version)
    except Exception as exc:
        log.warning("%s: could not delete the half-adopted version %s: %s", spec.name, version, exc)


__all__ = ["ADOPTED", "AdoptionResult", "adopt", "reference_frame"]

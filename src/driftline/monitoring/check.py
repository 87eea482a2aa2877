"""Drift checks: a window against a reference profile, a typed :class:`DriftResult` out.

The statistics come from a drift engine (see :mod:`driftline.monitoring.engines`).
Everything around the engine is engine-independent: input validation, columns that
arrived empty, data-quality rules, the dataset verdict, and realized performance (which
the model's task computes, see :mod:`driftline.tasks`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from driftline.config.errors import BaselineError, DataError, DriftlineError, PluginError
from driftline.monitoring.engines import ENGINES, ColumnScore, DriftEngine, EngineOutput
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.quality import data_quality
from driftline.monitoring.results import (
    ALL_MISSING,
    ColumnDrift,
    DriftResult,
    RealizedPerformance,
)
from driftline.specs import ModelSpec
from driftline.tasks import TASKS, Task

if TYPE_CHECKING:
    from driftline.lifecycle.baseline import Baseline

log = logging.getLogger(__name__)
_SHOW = 5


def check_drift(
    current: pd.DataFrame,
    baseline: Baseline,
    spec: ModelSpec,
    *,
    labelled: pd.DataFrame | None = None,
    engine: DriftEngine | None = None,
    timestamp: datetime | None = None,
) -> DriftResult:
    """Compare a window of the model's inference log with its champion's baseline.

    ``labelled`` (score + target of predictions whose labels have matured) adds realized
    metrics, computed by the spec's task, next to the baseline's validation metrics.
    ``engine`` defaults to the one the spec names (``monitoring.drift.engine``). Raises
    DataError when the window does not fit the spec, BaselineError when the baseline
    does not.
    """
    plan = DriftPlan.from_spec(spec)
    reference = baseline.reference
    _check_baseline(baseline, spec, plan)
    ranges = _baseline_ranges(baseline)
    return compare_frames(
        reference,
        current,
        plan,
        labelled=labelled,
        baseline_metrics=baseline.metrics,
        ranges=ranges,
        engine=engine,
        timestamp=timestamp,
        tags=[spec.name, f"version:{baseline.version}"],
        names=(f"baseline {baseline.model} v{baseline.version}", "window"),
    )


def _check_baseline(baseline: Baseline, spec: ModelSpec, plan: DriftPlan) -> None:
    """BaselineError when the baseline is another model's, lacks a monitored column, or
    types a column differently from the spec."""
    if baseline.model != spec.name:
        raise BaselineError(f"the baseline belongs to {baseline.model!r}, not {spec.name!r}")
    wanted = list(plan.columns) + ([plan.prediction] if plan.prediction else [])
    missing = [c for c in wanted if c not in baseline.reference.columns]
    if missing:
        raise BaselineError(
            f"the baseline of {spec.name} version {baseline.version} lacks columns {missing} "
            "that the spec monitors; retrain so the champion's baseline matches the spec"
        )
    clash = {
        c: (baseline.schema[c], t)
        for c, t in plan.columns.items()
        if c in baseline.schema and baseline.schema[c] != t
    }
    if clash:
        detail = ", ".join(f"{c}: baseline {a}, spec {b}" for c, (a, b) in clash.items())
        raise BaselineError(
            f"column types of {spec.name} version {baseline.version}'s baseline differ from "
            f"the spec ({detail}); retrain or fix the spec"
        )


def _baseline_ranges(baseline: Baseline) -> dict[str, tuple[float, float]]:
    ranges = {}
    for column, stats in baseline.stats.items():
        lo, hi = stats.get("min"), stats.get("max")
        if isinstance(lo, int | float) and isinstance(hi, int | float):
            ranges[column] = (float(lo), float(hi))
    return ranges


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: DriftPlan,
    *,
    labelled: pd.DataFrame | None = None,
    baseline_metrics: Mapping[str, float] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    engine: DriftEngine | None = None,
    timestamp: datetime | None = None,
    tags: Sequence[str] = (),
    names: tuple[str, str] = ("reference", "current"),
) -> DriftResult:
    """The engine-independent check of two frames under a plan (files or store windows).

    ``engine`` defaults to the registered engine the plan names (``plan.engine``); an
    unknown name is a SpecError listing the registered ones. With ``labelled`` rows and a
    plan that names the score, the target and the task, the result carries realized
    performance from the task; the engine only gets the rows to show them. Raises
    DataError for frames that do not fit the plan.
    """
    engine = engine or ENGINES.get(plan.engine)
    wanted = dict(plan.columns)
    if plan.prediction:
        wanted[plan.prediction] = "numerical"
    ref = _prepare(reference, wanted, names[0])
    cur = _prepare(current, wanted, names[1])

    empty_ref = [c for c in wanted if ref[c].notna().sum() == 0]
    if empty_ref:
        raise DataError(f"{names[0]}: columns {empty_ref} have no values; nothing to compare with")
    missing_share = {c: float(cur[c].isna().mean()) for c in wanted}
    empty_cur = [c for c in wanted if missing_share[c] == 1.0]
    testable = {c: t for c, t in wanted.items() if c not in empty_cur}
    if not testable:
        raise DataError(f"{names[1]}: every checked column is empty")

    task = TASKS.get(plan.task) if plan.task else None
    labels = _labelled(labelled, plan, task)
    output = _run_engine(engine, cur, ref, plan, testable, labels, timestamp, tuple(tags))
    scores = _checked_scores(engine, output.scores, testable)
    limit = plan.quality.max_missing_share

    def verdict(name: str) -> ColumnDrift:
        kind = wanted[name]
        if name in empty_cur:
            return ColumnDrift(name, kind, ALL_MISSING, 1.0, limit, True, 1.0, p_value=False)
        s = scores[name]
        return ColumnDrift(
            name,
            kind,
            s.method,
            _finite(s.score, s.p_value),
            s.threshold,
            s.drifted,
            missing_share[name],
            p_value=s.p_value,
        )

    columns = tuple(verdict(c) for c in plan.columns)
    drifted = sum(c.drifted for c in columns)
    share = drifted / len(columns)
    performance = None
    if labelled is not None and plan.score and plan.target and task is not None:
        rows, positives = task.count_labels(labelled[plan.target])
        performance = RealizedPerformance(
            labelled_rows=rows,
            positives=positives,
            metrics=task.realized(labels, plan.score, plan.target) if labels is not None else {},
            baseline={k: float(v) for k, v in (baseline_metrics or {}).items()},
        )
    return DriftResult(
        columns=columns,
        drift_share=share,
        drift_share_threshold=plan.drift_share,
        dataset_drift=share >= plan.drift_share,
        prediction=verdict(plan.prediction) if plan.prediction else None,
        quality=tuple(data_quality(ref, cur, plan, ranges or {})),
        performance=performance,
        rows_reference=len(ref),
        rows_current=len(cur),
        engine=engine.name,
        report=output.report,
    )


def _engine_name(engine: DriftEngine) -> str:
    """``'name' (where it came from)`` for messages about an engine."""
    name = getattr(engine, "name", type(engine).__name__)
    entry = next((e for e in ENGINES.entries() if e.value is engine), None)
    return f"{name!r} ({entry.source})" if entry else repr(name)


def _run_engine(
    engine: DriftEngine,
    current: pd.DataFrame,
    reference: pd.DataFrame,
    plan: DriftPlan,
    columns: dict[str, str],
    labelled: pd.DataFrame | None,
    timestamp: datetime | None,
    tags: tuple[str, ...],
) -> EngineOutput:
    """``engine.run``; an exception other than driftline's own becomes a PluginError that
    names the engine (a crash in a statistics library is not "drift found")."""
    try:
        return engine.run(
            current, reference, plan, columns, labelled, timestamp=timestamp, tags=tags
        )
    except DriftlineError:
        raise
    except Exception as exc:
        log.exception("drift engine %s failed", getattr(engine, "name", engine))
        raise PluginError(
            f"drift engine {_engine_name(engine)} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _checked_scores(
    engine: DriftEngine, scores: Mapping[str, ColumnScore], columns: Mapping[str, str]
) -> dict[str, ColumnScore]:
    """The engine's scores, one per tested column, as plain Python values; a missing
    column, a method outside the engine's catalogue or a p-value flag that contradicts it
    is a PluginError naming the engine."""
    missing = sorted(set(columns) - set(scores))
    if missing:
        raise PluginError(f"drift engine {_engine_name(engine)} returned no result for {missing}")
    out: dict[str, ColumnScore] = {}
    for column in columns:
        s = scores[column]
        method = engine.methods.get(s.method)
        if method is None or method.p_value != bool(s.p_value):
            why = (
                f"method {s.method!r} is not in its catalogue"
                if method is None
                else f"its catalogue says {s.method!r} scores a {method.score}"
            )
            raise PluginError(
                f"drift engine {_engine_name(engine)} answered for column {column!r} "
                f"outside its contract: {why}"
            )
        out[column] = ColumnScore(
            s.method, float(s.score), float(s.threshold), bool(s.drifted), p_value=method.p_value
        )
    return out


def _finite(value: float, p_value: bool) -> float:
    """Scores must be JSON numbers: a degenerate test's NaN becomes "no evidence of drift"
    (p-value 1, distance 0) and an infinite distance the largest float."""
    if math.isnan(value):
        return 1.0 if p_value else 0.0
    return value if math.isfinite(value) else 1e308


def _labelled(
    labelled: pd.DataFrame | None, plan: DriftPlan, task: Task | None
) -> pd.DataFrame | None:
    """Score + label rows the task can compute realized metrics on, else None."""
    if labelled is None or plan.score is None or plan.target is None or task is None:
        return None
    missing = [c for c in (plan.score, plan.target) if c not in labelled.columns]
    if missing:
        raise DataError(f"labelled rows lack columns {missing}")
    return task.labelled(labelled, plan.score, plan.target)


def _prepare(frame: pd.DataFrame, columns: Mapping[str, str], name: str) -> pd.DataFrame:
    """Exactly ``columns``, typed: float for numerical, str (missing as None/NaN) otherwise.

    Columns that already have the right type pass through without a per-value pass (the
    check must stay cheap next to the statistics at a million rows).
    """
    if frame.empty:
        raise DataError(f"{name}: no rows to check")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: missing columns {missing}; it has {list(frame.columns)}")
    out: dict[str, Any] = {}
    for column, kind in columns.items():
        raw = frame[column]
        if kind == "numerical":
            out[column] = _numerical(raw, column, name)
        elif pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):
            out[column] = raw.to_numpy(dtype=object)
        else:
            text = raw.astype(str).astype(object)
            out[column] = text.where(raw.notna(), None).to_numpy(dtype=object)
    return pd.DataFrame(out)


def _numerical(raw: pd.Series, column: str, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype="float64", na_value=np.nan)
    else:
        coerced = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = coerced.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            examples = ", ".join(repr(v) for v in raw[bad].astype(str).unique()[:_SHOW])
            raise DataError(
                f"{name}: column {column!r} is numerical but has {int(bad.sum())} "
                f"non-numeric values ({examples}); declare it categorical or fix the data"
            )
        values = coerced.to_numpy()
    infinite = np.isinf(values)
    if infinite.any():
        values = np.where(infinite, np.nan, values)
    return values

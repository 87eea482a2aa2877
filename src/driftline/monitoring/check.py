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
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from driftline.config.errors import BaselineError, DataError, DriftlineError, PluginError
from driftline.data.values import as_numbers, as_text, require_unique_columns
from driftline.monitoring.attribution import majority_version, version_key
from driftline.monitoring.engines import ENGINES, ColumnScore, DriftEngine
from driftline.monitoring.guards import all_rare, effect_size, pool_rare
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.quality import data_quality
from driftline.monitoring.results import (
    ALL_MISSING,
    ColumnDrift,
    DriftReport,
    DriftResult,
    EstimatedPerformance,
    RealizedPerformance,
    combine_reports,
)
from driftline.specs import ModelSpec
from driftline.tasks import TASKS, Task, task_for

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
    baselines: Mapping[str, Baseline] | None = None,
    cohort: str | None = None,
    matured: pd.DataFrame | None = None,
) -> DriftResult:
    """Compare a window of the model's inference log with its champion's baseline.

    ``labelled`` (score + target of predictions whose labels have matured) adds realized
    metrics, computed by the spec's task, next to the baseline's validation metrics;
    ``cohort`` names the prediction cohort they come from (recorded with them).
    ``engine`` defaults to the one the spec names (``monitoring.drift.engine``). Raises
    DataError when the window does not fit the spec, BaselineError when the baseline
    does not.

    When ``current`` and ``labelled`` carry the spec's ``model.model_version`` column (the
    version that made each row, as :mod:`driftline.monitoring.attribution` assigns it):

    - rows without a version (no known model made them: a bootstrap period) are left out
      of every test, so they never raise a drift or performance alarm;
    - features are tested against ``baseline`` (the champion's), whichever version scored
      the rows: the inputs do not depend on the model;
    - the score is tested on the rows of the version that made most of the window, against
      that version's own reference (``baseline``, or the version's entry in ``baselines``):
      a new model scores differently by design, which is not drift. One version keeps one
      score verdict per window; a window that spans a promotion is judged by the version
      that served most of it, and the next window belongs to the new champion alone;
    - realized performance is measured per version against that version's own validation
      metrics: the champion's is ``performance`` (what the policy judges), the others'
      ``other_performance`` (shown, never judged; a version missing from ``baselines`` is
      shown without validation metrics).

    Without the column every row counts as the champion's.

    The champion's performance is also estimated without labels (:func:`estimate_window`)
    on its rows of the window, and on the labelled rows (or ``matured``: the predictions
    of the labelled window, for an estimator that reads features the labelled rows lack)
    next to their realized metrics.
    """
    plan = DriftPlan.from_spec(spec)
    _check_baseline(baseline, spec, plan)
    column = spec.model.model_version
    champion = baseline.version
    known = dict(baselines or {})
    notes: list[str] = []
    score: ScoreSample | None = None
    if column in current.columns:
        made = current[column].notna()
        if not made.all():
            notes.append(
                f"{int((~made).sum()):,} rows of the window were made by no known model "
                "version (logged before the first champion, or without a score): left out"
            )
            current = current[made]
        versions = current[column].astype(str)
        tested = majority_version(versions, champion)
        if plan.prediction and tested is not None and not (versions == champion).all():
            source = baseline if tested == champion else known.get(tested)
            if source is None:
                notes.append(
                    f"the score was not tested: most of the window was scored by version "
                    f"{tested}, whose baseline is not available (see the log)"
                )
                plan = replace(plan, prediction=None)
            else:
                _check_score_reference(source, spec)
                score = ScoreSample(current[versions == tested], source.reference, tested)
    judged, others, note = split_labelled(labelled, spec, plan, champion, known)
    notes += [note] if note else []
    result = compare_frames(
        baseline.reference,
        current,
        plan,
        labelled=judged,
        baseline_metrics=baseline.metrics,
        ranges=_baseline_ranges(baseline),
        engine=engine,
        reference_profiles=baseline.profile,
        timestamp=timestamp,
        tags=[spec.name, f"version:{champion}"],
        names=(f"baseline {baseline.model} v{champion}", "window"),
        version=champion,
        score=score,
    )
    performance = result.performance
    champion_rows = current
    if column in current.columns:
        champion_rows = current[current[column].astype(str) == str(champion)]
    estimated, note = estimate_window(baseline, spec, champion_rows)
    notes += [note] if note else []
    matured_estimate = None
    if estimated is not None and performance is not None and performance.metrics:
        rows = matured if matured is not None else judged
        if rows is not None and column in rows.columns:
            rows = rows[rows[column].astype(str) == str(champion)]
        matured_estimate, note = estimate_window(baseline, spec, rows)
        if matured_estimate is not None:
            realized = {k: v for k, v in performance.metrics.items() if k in estimated.metrics}
            matured_estimate = replace(matured_estimate, realized=realized)
        elif note:
            notes.append(f"{note} (on the labelled window)")
    if cohort is not None:
        performance = replace(performance, cohort=cohort) if performance else None
        others = [replace(o, cohort=cohort) for o in others]
    return replace(
        result,
        performance=performance,
        other_performance=tuple(others),
        notes=(*result.notes, *notes),
        estimated=estimated,
        estimated_labelled=matured_estimate,
    )


def split_labelled(
    labelled: pd.DataFrame | None,
    spec: ModelSpec,
    plan: DriftPlan,
    champion: str,
    baselines: Mapping[str, Baseline],
) -> tuple[pd.DataFrame | None, list[RealizedPerformance], str | None]:
    """The labelled rows by the model version that made them (the spec's
    ``model.model_version`` column; without it every row is the champion's): the
    champion's rows (what the policy judges), the realized performance of every other
    version against its own validation metrics (from ``baselines``; none when missing),
    and a note counting the rows no known version made (left out)."""
    column = spec.model.model_version
    if labelled is None or column not in labelled.columns:
        return labelled, [], None
    by_version = labelled[column]
    unknown = int(by_version.isna().sum())
    note = (
        f"{unknown:,} labelled predictions were made by no known model version: not scored"
        if unknown
        else None
    )
    task = task_for(spec.model)
    others = []
    for version in sorted(set(by_version.dropna()) - {champion}, key=version_key):
        source = baselines.get(version)
        others.append(
            realized_performance(
                labelled[by_version == version],
                plan,
                task,
                source.metrics if source is not None else {},
                version=version,
            )[0]
        )
    return labelled[by_version == champion], others, note


def estimate_window(
    baseline: Baseline, spec: ModelSpec, rows: pd.DataFrame | None
) -> tuple[EstimatedPerformance | None, str | None]:
    """The champion's performance on ``rows`` (its predictions, with features when its
    estimator reads them) estimated without labels by the spec's task from the estimator
    stored with ``baseline`` (:meth:`Task.estimate`), and a note when there is none: off
    in the spec, a baseline without an estimator (the reason it stored), or rows the
    estimator cannot read."""
    rules = spec.monitoring.performance.estimated
    if not rules.enabled or rows is None or rows.empty:
        return None, None
    estimator = baseline.estimator
    if estimator is None:  # captured before driftline estimated performance: say nothing
        return None, None
    if estimator.get("method") is None:
        return None, f"no estimated performance: {estimator.get('reason', 'no estimator')}"
    try:
        found = task_for(spec.model).estimate(estimator, spec.model, rows, sigmas=rules.band_sigmas)
    except DataError as exc:
        return None, f"no estimated performance: {exc}"
    return replace(found, version=baseline.version), None


def _check_score_reference(baseline: Baseline, spec: ModelSpec) -> None:
    """The version whose score is tested must have its prediction columns in its reference."""
    missing = [c for c in spec.prediction_types if c not in baseline.reference.columns]
    if missing:
        raise BaselineError(
            f"the baseline of {spec.name} version {baseline.version} has no prediction "
            f"columns {missing}, so the predictions that version made cannot be tested; "
            "retrain, or turn monitoring.prediction_drift off"
        )


def _check_baseline(baseline: Baseline, spec: ModelSpec, plan: DriftPlan) -> None:

    if baseline.model != spec.name:
        raise BaselineError(f"the baseline belongs to {baseline.model!r}, not {spec.name!r}")
    wanted = [*plan.columns, *plan.tested_predictions]
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
        # range_lo / range_hi; min / max in baselines captured before they existed
        lo, hi = stats.get("range_lo", stats.get("min")), stats.get("range_hi", stats.get("max"))
        if isinstance(lo, int | float) and isinstance(hi, int | float):
            ranges[column] = (float(lo), float(hi))
    return ranges


@dataclass(frozen=True)
class ScoreSample:
    """Scores to test apart from the features: the window's rows one model version made
    (``current``) and that version's reference (``reference``), each holding at least the
    score column."""

    current: pd.DataFrame
    reference: pd.DataFrame
    version: str


@dataclass(frozen=True)
class _EngineRun:
    """One engine run over prepared frames: per-column scores, missing shares (infinite
    values not counted), infinite counts (reference, current), the report."""

    reference: pd.DataFrame
    current: pd.DataFrame
    scores: dict[str, ColumnScore]
    missing_share: dict[str, float]
    empty: list[str]
    report: DriftReport | None
    infinite: dict[str, tuple[int, int]]
    engine: str = ""


def _run_engine(
    engine: DriftEngine,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: DriftPlan,
    labels: pd.DataFrame | None,
    *,
    timestamp: datetime | None,
    tags: Sequence[str],
    names: tuple[str, str],
    reference_profiles: Mapping[str, Any] | None = None,
) -> _EngineRun:
    """Prepare both frames for ``plan`` (its columns and its score, if any), check that
    there is something to compare, and run the engine on the columns that have values.

    A column holding one and the same value in both frames is not given to the engine:
    two samples of a single value cannot differ, so it gets the no-drift score of the
    method that would have tested it (many tests divide by the spread, which is zero).
    """
    wanted = {**plan.columns, **plan.tested_predictions}
    ref, ref_inf = _prepare(reference, wanted, names[0])
    cur, cur_inf = _prepare(current, wanted, names[1])
    if plan.prediction and plan.prediction_method is None:
        plan = replace(plan, prediction_method=score_method(engine, len(ref)))
    empty_ref = [c for c in wanted if ref[c].notna().sum() == 0]
    if empty_ref:
        raise DataError(
            f"{names[0]}: columns {empty_ref} have no values (or only infinite ones); "
            "nothing to compare with"
        )
    missing_share = {c: float((cur[c].isna().sum() - cur_inf.get(c, 0)) / len(cur)) for c in wanted}
    empty_cur = [c for c in wanted if cur[c].notna().sum() == 0]
    testable = {c: t for c, t in wanted.items() if c not in empty_cur}
    if not testable:
        raise DataError(f"{names[1]}: every checked column is empty")
    constant = {
        c: _no_drift(engine, plan, c, t, len(ref))
        for c, t in testable.items()
        if _one_value(ref[c], cur[c])
    }
    tested = {c: t for c, t in testable.items() if c not in constant}
    scores: dict[str, ColumnScore] = {}
    report = None
    used = engine.name
    if tested:
        eng_ref, eng_cur = _pooled(ref, cur, tested, plan.min_category_count)
        extra: dict[str, Any] = {}
        if reference_profiles and getattr(engine, "takes_reference_profiles", False):
            extra["reference_profiles"] = reference_profiles
        try:
            output = engine.run(
                eng_cur,
                eng_ref,
                plan,
                tested,
                labels,
                timestamp=timestamp,
                tags=tuple(tags),
                **extra,
            )
        except DriftlineError:
            raise
        except Exception as exc:  # a crash in a statistics library is not "drift found"
            log.exception("drift engine %s failed", getattr(engine, "name", engine))
            raise PluginError(
                f"drift engine {_engine_name(engine)} failed: {type(exc).__name__}: {exc}"
            ) from exc
        scores = _checked_scores(engine, output.scores, tested)
        scores = _effect_floor(scores, eng_ref, eng_cur, tested, plan.min_effect)
        report = output.report
        used = output.engine or engine.name
    scores.update(constant)
    infinite = {c: (ref_inf.get(c, 0), cur_inf.get(c, 0)) for c in wanted}
    return _EngineRun(ref, cur, scores, missing_share, empty_cur, report, infinite, used)


def _pooled(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Mapping[str, str], min_count: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames the engine tests: rare categories of each categorical column pooled
    into one (:func:`driftline.monitoring.guards.pool_rare`); the quality rules keep
    seeing the categories as they came."""
    ref, cur = reference, current
    for column, kind in columns.items():
        if kind != "categorical":
            continue
        r, c = pool_rare(reference[column], current[column], min_count)
        if r is not reference[column]:
            if ref is reference:
                ref, cur = reference.copy(), current.copy()
            ref[column], cur[column] = r, c
    return ref, cur


def _effect_floor(
    scores: dict[str, ColumnScore],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Mapping[str, str],
    floor: float,
) -> dict[str, ColumnScore]:
    """``scores`` with the drift of a p-value test withdrawn where the effect is below
    ``floor`` (:func:`driftline.monitoring.guards.effect_size`)."""
    if floor <= 0:
        return scores
    out = dict(scores)
    for column, s in scores.items():
        if s.p_value and s.drifted:
            effect = effect_size(columns[column], reference[column], current[column])
            if effect < floor:
                out[column] = replace(s, drifted=False)
    return out


def _one_value(reference: pd.Series, current: pd.Series) -> bool:
    """True when both columns hold a single value, the same one (missing values aside)."""
    values = pd.concat([reference, current], ignore_index=True).dropna()
    return bool(len(values) and (values == values.iloc[0]).all())


def _no_drift(
    engine: DriftEngine, plan: DriftPlan, column: str, kind: str, reference_rows: int
) -> ColumnScore:
    """The score of "no drift at all" (p-value 1, distance 0) under the method and
    threshold the plan or the engine would have used for ``column``."""
    if column == plan.prediction:
        method, threshold = plan.prediction_method, plan.prediction_threshold
    else:
        method, threshold = plan.methods.get(column), plan.thresholds.get(column)
    method = method or engine.default_method(kind, reference_rows=reference_rows, distinct_values=1)
    entry = engine.methods[method]
    limit = entry.threshold if threshold is None else threshold
    return ColumnScore(method, 1.0 if entry.p_value else 0.0, limit, False, entry.p_value)


#: "As many distinct values as a continuous number has": what the score always counts as.
AS_NUMBER = 2**31


def score_method(engine: DriftEngine, reference_rows: int) -> str:
    """The method that tests a model's score when the spec names none: the engine's choice
    for a numerical column with many values, whatever the score's number of distinct
    values. A score is a number (a probability, an amount) even when a model emits few
    values (rounded, or a tree with few leaves); tested as a category, every value that
    moved in the last decimal would be a new category, and every window would drift."""
    return engine.default_method(
        "numerical", reference_rows=reference_rows, distinct_values=AS_NUMBER
    )


def _engine_name(engine: DriftEngine) -> str:
    """``'name' (where it came from)`` for messages about an engine."""
    name = getattr(engine, "name", type(engine).__name__)
    entry = next((e for e in ENGINES.entries() if e.value is engine), None)
    return f"{name!r} ({entry.source})" if entry else repr(name)


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


def _verdict(run: _EngineRun, name: str, kind: str, limit: float) -> ColumnDrift:
    """One column's verdict from an engine run; a column with no values in the window is
    drift by itself (:data:`ALL_MISSING`)."""
    if name in run.empty:
        return ColumnDrift(name, kind, ALL_MISSING, 1.0, limit, True, 1.0, p_value=False)
    s = run.scores[name]
    return ColumnDrift(
        name,
        kind,
        s.method,
        _finite(s.score, s.p_value),
        s.threshold,
        s.drifted,
        run.missing_share[name],
        p_value=s.p_value,
    )


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
    version: str | None = None,
    score: ScoreSample | None = None,
    reference_profiles: Mapping[str, Any] | None = None,
) -> DriftResult:
    """The engine-independent check of two frames under a plan (files or store windows).

    ``engine`` defaults to the registered engine the plan names (``plan.engine``); an
    unknown name is a SpecError listing the registered ones. With ``labelled`` rows and a
    plan that names the score, the target and the task, the result carries realized
    performance from the task; the engine only gets the rows to show them. ``version``
    names the model version of ``reference`` and of the labelled rows (recorded on the
    result). ``score``, when given, replaces the score of ``current`` and ``reference``:
    the engine then runs twice, once for the features and once for the score alone, and
    the report holds both. ``reference_profiles`` (the baseline's stored column profiles
    of ``reference``) spare an engine that takes them (``takes_reference_profiles``, the
    native one) profiling the reference again. Raises DataError for frames that do not
    fit the plan.
    """
    engine = engine or ENGINES.get(plan.engine)
    plan.require_fit(engine)
    task = TASKS.get(plan.task).configure(plan.task_options) if plan.task else None
    performance, labels = None, None
    if labelled is not None and plan.score and plan.target and task is not None:
        performance, labels = realized_performance(
            labelled, plan, task, baseline_metrics or {}, version=version
        )
    features = replace(plan, prediction=None) if score is not None else plan
    run = _run_engine(
        engine,
        reference,
        current,
        features,
        labels,
        timestamp=timestamp,
        tags=tags,
        names=names,
        reference_profiles=reference_profiles,
    )
    limit = plan.quality.max_missing_share
    columns = tuple(_verdict(run, c, plan.columns[c], limit) for c in plan.columns)
    prediction, report = None, run.report
    tested_version = version
    if plan.prediction and score is None:
        predictions = [_verdict(run, c, k, limit) for c, k in plan.tested_predictions.items()]
    elif plan.prediction and score is not None:
        alone = replace(plan, columns={}, methods={}, thresholds={})
        scored = _run_engine(
            engine,
            score.reference,
            score.current,
            alone,
            None,
            timestamp=timestamp,
            tags=[*tags, f"score:v{score.version}"],
            names=(f"reference of version {score.version}", f"rows of version {score.version}"),
        )
        predictions = [_verdict(scored, c, k, limit) for c, k in plan.tested_predictions.items()]
        report = combine_reports(report, f"-score-v{score.version}", scored.report)
        tested_version = score.version
    if plan.prediction:
        prediction, *extra = predictions
    drifted = sum(c.drifted for c in columns)
    share = drifted / len(columns)
    return DriftResult(
        columns=columns,
        drift_share=share,
        drift_share_threshold=plan.drift_share,
        dataset_drift=share >= plan.drift_share,
        prediction=prediction,
        extra_predictions=tuple(extra) if prediction is not None else (),
        quality=tuple(
            data_quality(
                run.reference, run.current, plan, ranges or {}, run.infinite, _owners(current)
            )
        ),
        performance=performance,
        rows_reference=len(run.reference),
        rows_current=len(run.current),
        engine=run.engine or engine.name,
        report=report,
        prediction_version=tested_version if prediction is not None else None,
        notes=tuple(
            note
            for c, kind in plan.columns.items()
            if kind == "categorical"
            and (
                note := all_rare(
                    c,
                    run.reference[c].value_counts(dropna=True).to_dict(),
                    run.current[c].value_counts(dropna=True).to_dict(),
                    plan.min_category_count,
                )
            )
        ),
    )


def realized_performance(
    labelled: pd.DataFrame,
    plan: DriftPlan,
    task: Task,
    validation: Mapping[str, float],
    *,
    version: str | None = None,
) -> tuple[RealizedPerformance, pd.DataFrame | None]:
    """Realized performance of ``labelled`` rows (the plan's score and target columns)
    next to ``validation``, the validation metrics of the version that made them; and the
    rows the task could score (None when it could not, e.g. a single class). Raises
    DataError when a column is missing or a label unreadable."""
    if plan.score is None or plan.target is None:
        raise DataError("realized performance needs a plan that names the score and the target")
    labels = _labelled(labelled, plan, task)
    rows, positives = task.count_labels(labelled[plan.target])
    metrics = task.realized(labels, plan.score, plan.target) if labels is not None else {}
    performance = RealizedPerformance(
        labelled_rows=rows,
        positives=positives,
        metrics=metrics,
        baseline={k: float(v) for k, v in validation.items()},
        version=version,
        higher_is_better={m: task.higher_is_better(m) for m in task.watched_metrics},
    )
    return performance, labels


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


def _owners(current: pd.DataFrame) -> pd.Series | None:
    """The pseudonym of each current row when the rows came from a store window."""
    from driftline.data.store import ENTITY_KEY  # here: a file check needs no SQL layer

    if ENTITY_KEY not in current.columns:
        return None
    return current[ENTITY_KEY].reset_index(drop=True)


def _prepare(
    frame: pd.DataFrame, columns: Mapping[str, str], name: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Exactly ``columns``, typed, and the number of infinite values of each numerical
    column (the test sees them as missing; the quality rules report them as infinite).

    Numerical columns become floats (:func:`driftline.data.values.as_numbers`: blanks and
    missing markers are missing, other text is a DataError); categorical ones text
    (:func:`driftline.data.values.as_text`: ``1``, ``1.0`` and ``"1"`` are one category),
    whatever path the frame came by (a file, the store, a source table, a baseline).
    """
    if frame.empty:
        raise DataError(f"{name}: no rows to check")
    require_unique_columns(frame.columns, name)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: missing columns {missing}; it has {list(frame.columns)}")
    out: dict[str, Any] = {}
    infinite: dict[str, int] = {}
    for column, kind in columns.items():
        raw = frame[column]
        if kind == "numerical":
            out[column], infinite[column] = _numerical(raw, column, name)
        else:
            out[column] = as_text(raw).to_numpy(dtype=object)
    return pd.DataFrame(out), infinite


def _numerical(raw: pd.Series, column: str, name: str) -> tuple[np.ndarray, int]:
    values, unparsed = as_numbers(raw)
    if unparsed.any():
        examples = ", ".join(repr(v) for v in raw[unparsed].astype(str).unique()[:_SHOW])
        raise DataError(
            f"{name}: column {column!r} is numerical but has {int(unparsed.sum())} "
            f"non-numeric values ({examples}); declare it categorical or fix the data"
        )
    numbers = values.to_numpy(dtype="float64")
    infinite = np.isinf(numbers)
    if infinite.any():
        numbers = np.where(infinite, np.nan, numbers)
    return numbers, int(infinite.sum())

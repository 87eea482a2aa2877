"""Drift checks: a window against a reference profile, a typed :class:`DriftResult` out.

The statistics come from an engine behind a small interface (:class:`DriftEngine`).
The default, :class:`EvidentlyEngine`, runs an Evidently ``Report`` with
``DataDriftPreset(include_tests=True)`` for the features, a ``ValueDrift`` for the
model's score, ``MissingValueCount`` per column, and ``RocAuc`` on labelled rows.
Everything around the engine is engine-independent: input validation, columns that
arrived empty, data-quality rules, realized PR AUC, the dataset verdict. A faster
statistics path can therefore sit behind the same result without touching callers.

Raw Evidently dictionaries never leave this module: results are matched by metric type
and column, never by position, and turned into the dataclasses below.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd

from driftline.config.errors import DataError
from driftline.monitoring.methods import ALL_MISSING, is_p_value
from driftline.specs import DataQuality, ModelSpec, Monitoring

if TYPE_CHECKING:
    from driftline.lifecycle.baseline import Baseline

log = logging.getLogger(__name__)

QualityRule = Literal["missing_share", "unseen_categories", "out_of_range"]
_SHOW = 5


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column: which test, its score and threshold, drifted or not."""

    name: str
    type: str
    method: str
    score: float
    threshold: float
    drifted: bool
    missing_share: float = 0.0

    @property
    def p_value(self) -> bool:
        """True when ``score`` is a p-value (drift = score below threshold)."""
        return is_p_value(self.method)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class QualityFinding:
    """A broken data-quality rule: which column, which rule, how bad, what was seen."""

    column: str
    rule: QualityRule
    share: float
    limit: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "rule": self.rule,
            "share": self.share,
            "limit": self.limit,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RealizedPerformance:
    """Metrics of the stored scores against matured labels, next to the baseline's."""

    labelled_rows: int
    positives: int
    metrics: dict[str, float]
    baseline: dict[str, float]

    @property
    def negatives(self) -> int:
        return self.labelled_rows - self.positives

    def drop(self, metric: str) -> float | None:
        """How far ``metric`` fell below the baseline (negative = improved)."""
        if metric not in self.metrics or metric not in self.baseline:
            return None
        return self.baseline[metric] - self.metrics[metric]

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled_rows": self.labelled_rows,
            "positives": self.positives,
            "metrics": dict(self.metrics),
            "baseline": dict(self.baseline),
        }


class DriftReport(Protocol):
    """What an engine's report can do: be saved for people, and kept for dashboards."""

    def save_html(self, path: Path) -> list[Path]:
        """Write the report(s); return every file written."""
        ...

    def add_to_workspace(self, workspace: Any, project_id: Any, name: str) -> list[str]:
        """Add the snapshot(s) to a project of an Evidently workspace; return their ids."""
        ...


@dataclass(frozen=True)
class DriftResult:
    """Everything a drift check found; plain values, safe to store and to render."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float
    drift_share_threshold: float
    dataset_drift: bool
    prediction: ColumnDrift | None
    quality: tuple[QualityFinding, ...]
    performance: RealizedPerformance | None
    rows_reference: int
    rows_current: int
    engine: str
    report: DriftReport | None = field(default=None, compare=False, repr=False)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    @property
    def prediction_drift(self) -> bool:
        return bool(self.prediction and self.prediction.drifted)

    def column(self, name: str) -> ColumnDrift:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"no drift result for column {name!r}")

    def to_contract(self) -> dict[str, Any]:
        """The fixed JSON of ``driftline drift check --json`` (a public contract)."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "rows": {"reference": self.rows_reference, "current": self.rows_current},
            "columns": [c.to_dict() for c in self.columns],
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (the contract's keys plus prediction, quality, performance)."""
        out = self.to_contract()
        out.update(
            drift_share_threshold=self.drift_share_threshold,
            prediction=self.prediction.to_dict() if self.prediction else None,
            quality=[q.to_dict() for q in self.quality],
            performance=self.performance.to_dict() if self.performance else None,
            engine=self.engine,
        )
        return out


# -- what to check -------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftPlan:
    """Which columns to test, how, and the rules around them (built from a spec or flags).

    ``prediction`` is the score column when its drift is tested (else None); ``score``
    and ``target`` name the columns realized performance is computed from.
    """

    columns: dict[str, str]
    methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    prediction: str | None = None
    prediction_method: str | None = None
    prediction_threshold: float | None = None
    score: str | None = None
    target: str | None = None
    quality: DataQuality = field(default_factory=DataQuality)

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, prediction: bool | None = None) -> DriftPlan:
        """The plan a spec describes (``prediction=False`` leaves the score out)."""
        mon = spec.monitoring
        plan = cls.from_columns(spec.column_types, mon)
        with_prediction = mon.prediction_drift.enabled if prediction is None else prediction
        return DriftPlan(
            columns=plan.columns,
            methods=plan.methods,
            thresholds=plan.thresholds,
            drift_share=plan.drift_share,
            prediction=spec.model.prediction if with_prediction else None,
            prediction_method=mon.prediction_drift.method,
            prediction_threshold=mon.prediction_drift.threshold,
            score=spec.model.prediction,
            target=spec.model.target,
            quality=mon.data_quality,
        )

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, str], monitoring: Monitoring | None = None
    ) -> DriftPlan:
        """A plan for named columns, with the rules of a monitoring section (or defaults)."""
        mon = monitoring or Monitoring()
        methods: dict[str, str] = {}
        thresholds: dict[str, float] = {}
        for name, kind in columns.items():
            rule = mon.drift.rule_for(name, kind)
            if rule.method:
                methods[name] = rule.method
            if rule.threshold:
                thresholds[name] = rule.threshold
        return cls(
            columns=dict(columns),
            methods=methods,
            thresholds=thresholds,
            drift_share=mon.drift.drift_share,
            quality=mon.data_quality,
        )

    @property
    def numerical(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == "numerical"]

    @property
    def categorical(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == "categorical"]


# -- engines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnScore:
    """One column's test as an engine reports it."""

    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class EngineOutput:
    scores: dict[str, ColumnScore]
    realized: dict[str, float]
    report: DriftReport | None


class DriftEngine(Protocol):
    """Computes per-column drift tests (and realized metrics) for a prepared window.

    ``columns`` maps the columns to test to their type; ``current`` and ``reference``
    hold exactly the plan's columns, already typed (float for numerical, str/None for
    categorical). ``labelled`` is None or a frame of the score and a 0/1 target with
    both classes present.
    """

    name: str

    def run(
        self,
        current: pd.DataFrame,
        reference: pd.DataFrame,
        plan: DriftPlan,
        columns: dict[str, str],
        labelled: pd.DataFrame | None,
        *,
        timestamp: datetime | None = None,
        tags: Sequence[str] = (),
    ) -> EngineOutput: ...


class EvidentlyEngine:
    """Evidently 0.7: ``DataDriftPreset`` with tests, ``ValueDrift``, ``RocAuc``."""

    name = "evidently"

    def __init__(self, *, missing_counts: bool = True) -> None:
        # Row and missing-value counts feed the dashboards; the drift verdicts do not
        # need them (the benchmark turns them off to compare like with like).
        self.missing_counts = missing_counts

    def run(
        self,
        current: pd.DataFrame,
        reference: pd.DataFrame,
        plan: DriftPlan,
        columns: dict[str, str],
        labelled: pd.DataFrame | None,
        *,
        timestamp: datetime | None = None,
        tags: Sequence[str] = (),
    ) -> EngineOutput:
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import MissingValueCount, RowCount, ValueDrift
        from evidently.presets import DataDriftPreset

        features = [c for c in columns if c != plan.prediction]
        numerical = [c for c in plan.numerical if c in current.columns]
        if plan.prediction and plan.prediction in current.columns:
            numerical.append(plan.prediction)
        definition = DataDefinition(
            numerical_columns=numerical, categorical_columns=plan.categorical
        )
        items: list[Any] = [
            DataDriftPreset(
                columns=features,
                drift_share=plan.drift_share,
                per_column_method={c: m for c, m in plan.methods.items() if c in features} or None,
                per_column_threshold={c: t for c, t in plan.thresholds.items() if c in features}
                or None,
            )
        ]
        if plan.prediction and plan.prediction in columns:
            items.append(
                ValueDrift(
                    column=plan.prediction,
                    method=plan.prediction_method,
                    threshold=plan.prediction_threshold,
                )
            )
        if self.missing_counts:
            items += [RowCount(), *(MissingValueCount(column=c) for c in plan.columns)]
        report = Report(items, include_tests=True)
        stamp = _naive_utc(timestamp)
        with warnings.catch_warnings():
            # Evidently divides by zero on constant or empty columns; the verdicts are fine.
            warnings.simplefilter("ignore", RuntimeWarning)
            snapshot = report.run(
                Dataset.from_pandas(current, data_definition=definition),
                Dataset.from_pandas(reference, data_definition=definition),
                timestamp=stamp,
                tags=list(tags),
            )
        scores = _value_drift_scores(snapshot.dict())
        missing = set(columns) - set(scores)
        if missing:
            raise DataError(f"the drift engine returned no result for columns {sorted(missing)}")

        realized: dict[str, float] = {}
        performance = None
        if labelled is not None and plan.score and plan.target:
            realized, performance = _realized_evidently(
                labelled, plan.score, plan.target, stamp, tags
            )
        return EngineOutput(
            scores={c: scores[c] for c in columns},
            realized=realized,
            report=EvidentlyReport(snapshot, performance),
        )


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def _method_names() -> dict[str, str]:
    """Evidently's display names of its tests ("K-S p_value") -> their names ("ks")."""
    from evidently.legacy.calculations import stattests
    from evidently.legacy.calculations.stattests.registry import StatTest

    return {t.display_name: t.name for t in vars(stattests).values() if isinstance(t, StatTest)}


def _value_drift_scores(raw: dict[str, Any]) -> dict[str, ColumnScore]:
    """Per-column scores from a snapshot's dict: every ValueDrift metric, matched with
    its test by the metric's id (never by position)."""
    names = _method_names()
    failed = {
        t["metric_config"]["metric_id"]: str(getattr(t["status"], "value", t["status"])) == "FAIL"
        for t in raw.get("tests", [])
        if t.get("id") == "drift"
    }
    scores: dict[str, ColumnScore] = {}
    for metric in raw.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        column = config["column"]
        method = names.get(config.get("method"), str(config.get("method")))
        scores[column] = ColumnScore(
            method=method,
            score=float(metric["value"]),
            threshold=float(config["threshold"]),
            drifted=failed.get(metric["id"], False),
        )
    return scores


def _realized_evidently(
    labelled: pd.DataFrame,
    prediction: str,
    target: str,
    timestamp: datetime | None,
    tags: Sequence[str],
) -> tuple[dict[str, float], Any]:
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import RocAuc
    from sklearn.metrics import average_precision_score

    definition = DataDefinition(
        numerical_columns=[prediction],
        classification=[BinaryClassification(target=target, prediction_probas=prediction)],
    )
    snapshot = Report([RocAuc()]).run(
        Dataset.from_pandas(labelled[[prediction, target]], data_definition=definition),
        None,
        timestamp=timestamp,
        tags=[*tags, "performance"],
    )
    realized: dict[str, float] = {}
    for metric in snapshot.dict().get("metrics", []):
        if str(metric.get("config", {}).get("type", "")).endswith(":RocAuc"):
            realized["roc_auc"] = float(metric["value"])
    # Evidently 0.7 has no PR AUC metric; average precision is its usual estimate.
    realized["pr_auc"] = float(average_precision_score(labelled[target], labelled[prediction]))
    return realized, snapshot


class EvidentlyReport:
    """The Evidently snapshots of one check: drift, and performance when labels existed."""

    def __init__(self, drift: Any, performance: Any | None = None) -> None:
        self._drift = drift
        self._performance = performance

    def save_html(self, path: Path) -> list[Path]:
        path.parent.mkdir(parents=True, exist_ok=True)
        # save_html needs a str path: given a file object it silently writes nothing.
        self._drift.save_html(str(path))
        written = [path]
        if self._performance is not None:
            perf = path.with_name(f"{path.stem}-performance{path.suffix}")
            self._performance.save_html(str(perf))
            written.append(perf)
        return written

    def add_to_workspace(self, workspace: Any, project_id: Any, name: str) -> list[str]:
        ids = [str(workspace.add_run(project_id, self._drift, include_data=False, name=name).id)]
        if self._performance is not None:
            ref = workspace.add_run(
                project_id, self._performance, include_data=False, name=f"{name} performance"
            )
            ids.append(str(ref.id))
        return ids


# -- the check -----------------------------------------------------------------------------


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
    metrics next to the baseline's validation metrics. Raises DataError when the window
    or the baseline does not fit the spec.
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
        names=("baseline " + f"{baseline.model} v{baseline.version}", "window"),
    )


def _check_baseline(baseline: Baseline, spec: ModelSpec, plan: DriftPlan) -> None:
    from driftline.config.errors import BaselineError

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
    """The engine-independent check of two frames under a plan (files or store windows)."""
    engine = engine or EvidentlyEngine()
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

    labels = _labelled(labelled, plan)
    output = engine.run(cur, ref, plan, testable, labels, timestamp=timestamp, tags=tuple(tags))
    limit = plan.quality.max_missing_share

    def verdict(name: str) -> ColumnDrift:
        kind = wanted[name]
        if name in empty_cur:
            return ColumnDrift(name, kind, ALL_MISSING, 1.0, limit, True, 1.0)
        s = output.scores[name]
        score = _finite(s.score, is_p_value(s.method))
        return ColumnDrift(name, kind, s.method, score, s.threshold, s.drifted, missing_share[name])

    columns = tuple(verdict(c) for c in plan.columns)
    drifted = sum(c.drifted for c in columns)
    share = drifted / len(columns)
    performance = None
    if labelled is not None and plan.score and plan.target:
        rows, positives = _label_counts(labelled, plan.target)
        performance = RealizedPerformance(
            labelled_rows=rows,
            positives=positives,
            metrics=dict(output.realized),
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


def _finite(value: float, p_value: bool) -> float:
    """Scores must be JSON numbers: a degenerate test's NaN becomes "no evidence of drift"
    (p-value 1, distance 0) and an infinite distance the largest float."""
    if math.isnan(value):
        return 1.0 if p_value else 0.0
    return value if math.isfinite(value) else 1e308


def _label_counts(labelled: pd.DataFrame, target: str) -> tuple[int, int]:
    """(labelled rows, positive labels) among ``labelled``."""
    if target not in labelled.columns:
        return 0, 0
    values = pd.to_numeric(labelled[target], errors="coerce").dropna()
    return len(values), int((values == 1).sum())


def _labelled(labelled: pd.DataFrame | None, plan: DriftPlan) -> pd.DataFrame | None:
    """Score + 0/1 target rows fit for ROC AUC (both classes present), else None."""
    if labelled is None or plan.score is None or plan.target is None:
        return None
    missing = [c for c in (plan.score, plan.target) if c not in labelled.columns]
    if missing:
        raise DataError(f"labelled rows lack columns {missing}")
    frame = pd.DataFrame(
        {
            plan.score: pd.to_numeric(labelled[plan.score], errors="coerce"),
            plan.target: pd.to_numeric(labelled[plan.target], errors="coerce"),
        }
    ).dropna()
    if frame.empty or frame[plan.target].nunique() < 2:
        return None
    bad = ~frame[plan.target].isin([0, 1])
    if bad.any():
        raise DataError(f"labels in {plan.target!r} must be 0 or 1; found {bad.sum()} others")
    frame[plan.target] = frame[plan.target].astype(int)
    return frame.reset_index(drop=True)


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


# -- data quality --------------------------------------------------------------------------


def data_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: DriftPlan,
    ranges: Mapping[str, tuple[float, float]],
) -> list[QualityFinding]:
    """Broken rules per column: missing values, unseen categories, out-of-range values."""
    rules = plan.quality
    findings: list[QualityFinding] = []
    for column, kind in plan.columns.items():
        cur, ref = current[column], reference[column]
        cur_missing, ref_missing = float(cur.isna().mean()), float(ref.isna().mean())
        if cur_missing > rules.max_missing_share and cur_missing > ref_missing:
            findings.append(
                QualityFinding(
                    column,
                    "missing_share",
                    cur_missing,
                    rules.max_missing_share,
                    f"{cur_missing:.1%} of values missing (reference {ref_missing:.1%})",
                )
            )
        present = cur.dropna()
        if present.empty:
            continue
        if kind == "categorical":
            unseen = ~present.isin(set(ref.dropna().unique()))
            share = float(unseen.sum() / len(cur))
            if share > rules.max_unseen_share:
                counts = present[unseen].value_counts()
                shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(_SHOW).items())
                findings.append(
                    QualityFinding(
                        column,
                        "unseen_categories",
                        share,
                        rules.max_unseen_share,
                        f"{len(counts)} categories the reference never had: {shown}",
                    )
                )
        else:
            lo, hi = ranges.get(column, (float(ref.min()), float(ref.max())))
            values = present.astype("float64")
            outside = (values < lo) | (values > hi)
            share = float(outside.sum() / len(present))
            if share > rules.max_out_of_range_share:
                findings.append(
                    QualityFinding(
                        column,
                        "out_of_range",
                        share,
                        rules.max_out_of_range_share,
                        f"{share:.1%} of values outside the reference range "
                        f"[{lo:g}, {hi:g}] (window min {values.min():g}, max {values.max():g})",
                    )
                )
    return findings

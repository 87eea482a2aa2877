"""What a drift check found, as plain values: per-column verdicts, data-quality findings,
realized performance, and the window's verdict. Safe to store, render and compare."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from driftline.monitoring.engines import DEFAULT_ENGINE, ENGINES

QualityRule = Literal["infinite", "missing_share", "unseen_categories", "out_of_range"]

#: Not a statistical test: the column had no values in the window, which is drift by
#: itself (a broken pipeline), reported with the share of missing values as its score.
ALL_MISSING = "all_missing"


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column: which test, its score and threshold, drifted or not.

    ``p_value`` is True when ``score`` is a p-value (drift = score below threshold) and
    False for a distance; the engine that produced the score says which (its catalogue
    entry for ``method``). Left out (None), as in results built by hand, it is read from
    the catalogue of the default engine; :data:`ALL_MISSING` is not a p-value.
    """

    name: str
    type: str
    method: str
    score: float
    threshold: float
    drifted: bool
    missing_share: float = 0.0
    p_value: bool | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.p_value is None:
            object.__setattr__(self, "p_value", _default_p_value(self.method))

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
    """Metrics of the stored scores against matured labels, next to the validation
    metrics of the version that made them (``baseline``; empty when unknown).

    ``version`` is the model version whose predictions were scored (None when versions
    were not known, e.g. a file check); realized performance is only ever compared with
    the same version's validation metrics. ``higher_is_better`` gives each metric's
    direction (the task's; a metric it does not name counts as higher-is-better, as every
    metric of runs stored before directions were recorded). ``cohort`` names the
    prediction cohort scored (``2026-W35``, ``2026-09``) when the spec measures by cohort
    (``monitoring.performance.cohort``), else None (a rolling window).
    """

    labelled_rows: int
    positives: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    version: str | None = None
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    cohort: str | None = None

    @property
    def negatives(self) -> int:
        return self.labelled_rows - self.positives

    def higher(self, metric: str) -> bool:
        """Whether a larger ``metric`` is better."""
        return self.higher_is_better.get(metric, True)

    def drop(self, metric: str) -> float | None:
        """How far ``metric`` got worse than the baseline, in the metric's own direction
        (baseline - realized when higher is better, realized - baseline for an error);
        negative = improved. None when either value is missing."""
        if metric not in self.metrics or metric not in self.baseline:
            return None
        worse = self.baseline[metric] - self.metrics[metric]
        return worse if self.higher(metric) else -worse

    def limit(self, metric: str, max_drop: float) -> float:
        """The worst realized value of ``metric`` within ``max_drop`` of the baseline."""
        base = self.baseline[metric]
        return base - max_drop if self.higher(metric) else base + max_drop

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled_rows": self.labelled_rows,
            "positives": self.positives,
            "metrics": dict(self.metrics),
            "baseline": dict(self.baseline),
            "version": self.version,
            "higher_is_better": dict(self.higher_is_better),
            "cohort": self.cohort,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RealizedPerformance:
        """The inverse of :meth:`to_dict`; stored runs from before versions, directions or
        cohorts were recorded have none."""
        return cls(
            labelled_rows=int(data["labelled_rows"]),
            positives=int(data["positives"]),
            metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
            baseline={k: float(v) for k, v in data.get("baseline", {}).items()},
            version=data.get("version"),
            higher_is_better={k: bool(v) for k, v in data.get("higher_is_better", {}).items()},
            cohort=data.get("cohort"),
        )


@dataclass(frozen=True)
class SegmentColumn:
    """One column's drift test inside one segment. ``score`` is the method's raw score;
    ``p_adjusted`` the Benjamini-Hochberg adjusted p-value across every p-value test of the
    window's segments (None for a distance method, which is not corrected); ``drifted``
    the verdict after that correction."""

    name: str
    method: str
    score: float
    threshold: float
    drifted: bool
    p_adjusted: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "p_adjusted": self.p_adjusted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentColumn:
        return cls(
            name=data["name"],
            method=data["method"],
            score=float(data["score"]),
            threshold=float(data["threshold"]),
            drifted=bool(data["drifted"]),
            p_adjusted=None if data.get("p_adjusted") is None else float(data["p_adjusted"]),
        )


@dataclass(frozen=True)
class SegmentResult:
    """Drift, data quality and realized performance of one segment (``column`` =
    ``value``, e.g. channel = paid_social) against the same segment of the reference."""

    column: str
    value: str
    rows_reference: int
    rows_current: int
    columns: tuple[SegmentColumn, ...]
    quality: tuple[QualityFinding, ...] = ()
    performance: RealizedPerformance | None = None

    @property
    def label(self) -> str:
        """``channel=paid_social``."""
        return f"{self.column}={self.value}"

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    def counted_columns(self, expected: Collection[str] = ()) -> list[str]:
        """The drifted columns that count: those no calendar event declared ``expected``
        (drift on an expected column is recorded and shown, never counted)."""
        return [c for c in self.drifted_columns if c not in expected]

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "value": self.value,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "columns": [c.to_dict() for c in self.columns],
            "quality": [q.to_dict() for q in self.quality],
            "performance": self.performance.to_dict() if self.performance else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentResult:
        perf = data.get("performance")
        return cls(
            column=data["column"],
            value=data["value"],
            rows_reference=int(data["rows_reference"]),
            rows_current=int(data["rows_current"]),
            columns=tuple(SegmentColumn.from_dict(c) for c in data.get("columns", [])),
            quality=tuple(QualityFinding(**q) for q in data.get("quality", [])),
            performance=RealizedPerformance.from_dict(perf) if perf else None,
        )


@dataclass(frozen=True)
class SegmentReport:
    """Every checked segment of a window; ``skipped`` says which segment values had too
    few rows (``channel=referral: 120 rows in the window``); ``tests`` counts the p-value
    tests Benjamini-Hochberg corrected together at false discovery rate ``alpha``."""

    segments: tuple[SegmentResult, ...]
    skipped: tuple[str, ...] = ()
    alpha: float = 0.05
    tests: int = 0

    @property
    def drifted(self) -> list[SegmentResult]:
        return [s for s in self.segments if s.drifted_columns]

    def counted(self, expected: Collection[str] = ()) -> list[SegmentResult]:
        """The segments with a drifted column that counts (see
        :meth:`SegmentResult.counted_columns`): what alerts and summaries name."""
        return [s for s in self.segments if s.counted_columns(expected)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [s.to_dict() for s in self.segments],
            "skipped": list(self.skipped),
            "alpha": self.alpha,
            "tests": self.tests,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentReport:
        return cls(
            segments=tuple(SegmentResult.from_dict(s) for s in data.get("segments", [])),
            skipped=tuple(data.get("skipped", [])),
            alpha=float(data.get("alpha", 0.05)),
            tests=int(data.get("tests", 0)),
        )


@dataclass(frozen=True)
class JointDrift:
    """The domain-classifier check: how well a classifier tells the window's rows from the
    reference's (cross-validated ROC AUC, 0.5 = not at all), and the features it relies on
    most (permutation importance: the AUC lost when a feature is shuffled)."""

    auc: float
    auc_std: float
    threshold: float
    drifted: bool
    top_features: tuple[tuple[str, float], ...]
    rows_reference: int
    rows_current: int
    columns: tuple[str, ...] = ()

    def separating(self, *, values: bool = False) -> str:
        """The separating features as text ("a, b", or "a 0.120, b 0.031" with their
        importances), or "none clearly" when no feature's importance is positive."""
        shown = (f"{n} {v:.3f}" if values else n for n, v in self.top_features)
        return ", ".join(shown) or "none clearly"

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "auc_std": self.auc_std,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "top_features": [[n, v] for n, v in self.top_features],
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JointDrift:
        return cls(
            auc=float(data["auc"]),
            auc_std=float(data["auc_std"]),
            threshold=float(data["threshold"]),
            drifted=bool(data["drifted"]),
            top_features=tuple((str(n), float(v)) for n, v in data.get("top_features", [])),
            rows_reference=int(data["rows_reference"]),
            rows_current=int(data["rows_current"]),
            columns=tuple(data.get("columns", [])),
        )


@dataclass(frozen=True)
class EstimatedPerformance:
    """Performance of the champion's predictions estimated without labels (CBPE for
    classifiers, DLE for regressions; :mod:`driftline.tasks.estimation`).

    ``metrics`` are the estimates on ``rows`` predictions, ``lower`` / ``upper`` their
    band (``sigmas`` sampling errors at that many rows), ``reference`` the realized
    validation values the estimator was fitted next to (what a drop is measured from),
    ``confusion`` the expected confusion matrix as shares of the rows (CBPE only), and
    ``realized`` the realized metrics of the same rows once their labels matured (empty
    for the monitored window, whose labels have not arrived).
    """

    method: str
    rows: int
    metrics: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    reference: dict[str, float]
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    confusion: dict[str, float] = field(default_factory=dict)
    realized: dict[str, float] = field(default_factory=dict)
    version: str | None = None
    sigmas: float = 3.0

    def higher(self, metric: str) -> bool:
        """Whether a larger ``metric`` is better."""
        return self.higher_is_better.get(metric, True)

    def drop(self, metric: str) -> float | None:
        """How far the estimate of ``metric`` is worse than the validation value, in the
        metric's direction (negative = better); None when either is missing."""
        value, base = self.metrics.get(metric), self.reference.get(metric)
        if value is None or base is None or value != value or base != base:
            return None
        worse = base - value
        return worse if self.higher(metric) else -worse

    def text(self, metric: str) -> str:
        """``estimated roc_auc 0.710 [0.690, 0.730]`` plus ``, realized 0.700`` once known."""
        value = self.metrics[metric]
        lo, hi = self.lower.get(metric, float("nan")), self.upper.get(metric, float("nan"))
        shown = f"estimated {metric} {value:.3f} [{lo:.3f}, {hi:.3f}]"
        if metric in self.realized:
            shown += f", realized {self.realized[metric]:.3f}"
        return shown

    def covers(self, metric: str) -> bool | None:
        """Whether the band holds the realized value (None before labels matured)."""
        if metric not in self.realized or metric not in self.lower:
            return None
        return self.lower[metric] <= self.realized[metric] <= self.upper[metric]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "rows": self.rows,
            "metrics": dict(self.metrics),
            "lower": dict(self.lower),
            "upper": dict(self.upper),
            "reference": dict(self.reference),
            "higher_is_better": dict(self.higher_is_better),
            "confusion": dict(self.confusion),
            "realized": dict(self.realized),
            "version": self.version,
            "sigmas": self.sigmas,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EstimatedPerformance:
        """The inverse of :meth:`to_dict`."""

        def floats(key: str) -> dict[str, float]:
            return {k: float(v) for k, v in (data.get(key) or {}).items()}

        return cls(
            method=str(data["method"]),
            rows=int(data["rows"]),
            metrics=floats("metrics"),
            lower=floats("lower"),
            upper=floats("upper"),
            reference=floats("reference"),
            higher_is_better={k: bool(v) for k, v in (data.get("higher_is_better") or {}).items()},
            confusion=floats("confusion"),
            realized=floats("realized"),
            version=data.get("version"),
            sigmas=float(data.get("sigmas", 3.0)),
        )


def _default_p_value(method: str) -> bool:
    entry = ENGINES.get(DEFAULT_ENGINE).methods.get(method)
    return entry is not None and entry.p_value


class DriftReport(Protocol):
    """What an engine's report can do: be saved for people, and kept for dashboards."""

    def save_html(self, path: Path) -> list[Path]:
        """Write the report(s); return every file written."""
        ...

    def add_to_workspace(
        self,
        workspace: Any,
        project_id: Any,
        name: str,
        *,
        tags: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Add the snapshot(s) to a project of an Evidently workspace, each with ``tags``
        added and ``metadata`` merged in; return their ids."""
        ...


class ReportSet:
    """The reports of one check made by separate engine runs (the features against the
    champion's reference, the score against its own version's), kept together: saved side
    by side, the first under the path given and each other with its suffix in the name."""

    def __init__(self, first: DriftReport, others: dict[str, DriftReport]) -> None:
        self.first = first
        self.others = others

    def save_html(self, path: Path) -> list[Path]:
        written = self.first.save_html(path)
        for suffix, report in self.others.items():
            written += report.save_html(path.with_name(f"{path.stem}{suffix}{path.suffix}"))
        return written

    def add_to_workspace(
        self,
        workspace: Any,
        project_id: Any,
        name: str,
        *,
        tags: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        labels = {"tags": tags, "metadata": metadata}
        ids = self.first.add_to_workspace(workspace, project_id, name, **labels)
        for suffix, report in self.others.items():
            ids += report.add_to_workspace(
                workspace, project_id, f"{name} {suffix.strip('-')}", **labels
            )
        return ids


def combine_reports(
    first: DriftReport | None, suffix: str, second: DriftReport | None
) -> DriftReport | None:
    """One report for two engine runs (either may have made none)."""
    if first is None or second is None:
        return first or second
    return ReportSet(first, {suffix: second})


@dataclass(frozen=True)
class DriftResult:
    """Everything a drift check found; plain values, safe to store and to render.

    ``prediction_version`` is the model version whose rows' score was tested (against that
    version's own reference); ``performance`` is the realized performance the policy judges
    (the champion's predictions) and ``other_performance`` that of other versions found in
    the labelled window (measured against their own validation metrics, never judged);
    ``notes`` say what the check left out and why (e.g. rows no known model made).
    ``segments`` holds the per-segment checks and ``multivariate`` the domain-classifier
    check when the spec turns them on (``monitoring.segments``, ``monitoring.multivariate``).
    ``estimated`` is the champion's performance on the window estimated without labels;
    ``estimated_labelled`` the same estimate on the rows realized performance scored,
    with their realized metrics beside it (how well the estimator tracks).
    """

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
    prediction_version: str | None = None
    other_performance: tuple[RealizedPerformance, ...] = ()
    notes: tuple[str, ...] = ()
    extra_predictions: tuple[ColumnDrift, ...] = ()
    segments: SegmentReport | None = None
    multivariate: JointDrift | None = None
    estimated: EstimatedPerformance | None = None
    estimated_labelled: EstimatedPerformance | None = None

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    @property
    def predictions(self) -> tuple[ColumnDrift, ...]:
        """Every tested prediction column: ``prediction`` first (the score; a multiclass
        model's predicted class), then ``extra_predictions`` (each class's probability)."""
        return (self.prediction, *self.extra_predictions) if self.prediction else ()

    @property
    def prediction_drift(self) -> bool:
        return any(p.drifted for p in self.predictions)

    def column(self, name: str) -> ColumnDrift:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"no drift result for column {name!r}")

    def to_contract(self) -> dict[str, Any]:
        """The fixed JSON of ``driftline drift check --json`` (a public contract): the
        verdict, rows and columns, then the data-quality findings and the notes (what the
        check could not see)."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "rows": {"reference": self.rows_reference, "current": self.rows_current},
            "columns": [c.to_dict() for c in self.columns],
            "quality": [q.to_dict() for q in self.quality],
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (the contract's keys plus prediction, quality, performance)."""
        out = self.to_contract()
        out.update(
            drift_share_threshold=self.drift_share_threshold,
            prediction=self.prediction.to_dict() if self.prediction else None,
            extra_predictions=[p.to_dict() for p in self.extra_predictions],
            performance=self.performance.to_dict() if self.performance else None,
            engine=self.engine,
            prediction_version=self.prediction_version,
            other_performance=[p.to_dict() for p in self.other_performance],
            segments=self.segments.to_dict() if self.segments else None,
            multivariate=self.multivariate.to_dict() if self.multivariate else None,
            estimated=self.estimated.to_dict() if self.estimated else None,
            estimated_labelled=(
                self.estimated_labelled.to_dict() if self.estimated_labelled else None
            ),
        )
        return out

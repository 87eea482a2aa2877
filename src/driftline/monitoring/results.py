"""What a drift check found, as plain values: per-column verdicts, data-quality findings,
realized performance, and the window's verdict. Safe to store, render and compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from driftline.monitoring.engines import DEFAULT_ENGINE, ENGINES

QualityRule = Literal["missing_share", "unseen_categories", "out_of_range"]

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


def _default_p_value(method: str) -> bool:
    entry = ENGINES.get(DEFAULT_ENGINE).methods.get(method)
    return entry is not None and entry.p_value


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

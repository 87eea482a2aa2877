"""What a champion/challenger benchmark found, as plain values: each model's metrics on
the out-of-time window, per segment, and the paired-bootstrap difference.

Kept apart from :mod:`driftline.lifecycle.benchmark` (which reads the store, loads models
and logs to MLflow) so the pure gates can read a result without importing any of that.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from driftline.config.values import json_default
from driftline.tasks import DEFAULT_TASK


@dataclass(frozen=True)
class ModelScore:
    """One model's numbers on the benchmark window; ``calibration`` is the task's table of
    predicted vs actual by group of predictions (regression: deciles), when it has one."""

    version: str
    metrics: dict[str, float]
    rows_per_second: float
    size_bytes: int
    train_end: str | None = None
    calibration: list[dict[str, float]] | None = None


@dataclass(frozen=True)
class SegmentScore:
    """Both models' metrics on one segment (value of a segment column)."""

    column: str
    value: str
    rows: int
    positives: int
    challenger: dict[str, float]
    champion: dict[str, float] | None

    def diff(self, metric: str) -> float | None:
        if self.champion is None:
            return None
        return self.challenger[metric] - self.champion[metric]


@dataclass(frozen=True)
class BenchmarkResult:
    """Champion vs challenger on one out-of-time window (champion None at bootstrap).

    ``task`` names the model task whose metrics these are (results stored before it was
    recorded are binary classification). ``figures``: the MLflow artifact paths of the
    benchmark's pictures in its run (``figures/roc.png`` ...), empty when none were drawn."""

    model: str
    window_start: str
    window_end: str
    rows: int
    positives: int
    primary_metric: str
    challenger: ModelScore
    champion: ModelScore | None
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None
    bootstrap_samples: int | None = None
    segments: list[SegmentScore] = field(default_factory=list)
    mlflow_run_id: str | None = None
    benchmark_id: int | None = None
    task: str = DEFAULT_TASK
    figures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=json_default)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkResult:
        data = dict(data)
        data["challenger"] = ModelScore(**data["challenger"])
        data["champion"] = ModelScore(**data["champion"]) if data.get("champion") else None
        data["segments"] = [SegmentScore(**s) for s in data.get("segments", [])]
        return cls(**data)

    def summary(self) -> str:
        chal = self.challenger.metrics[self.primary_metric]
        if self.champion is None:
            return (
                f"v{self.challenger.version}: {self.primary_metric} {chal:.4f} on "
                f"{self.rows:,} rows (no champion yet)"
            )
        champ = self.champion.metrics[self.primary_metric]
        return (
            f"v{self.challenger.version} vs champion v{self.champion.version}: "
            f"{self.primary_metric} {chal:.4f} vs {champ:.4f}, difference {self.diff:+.4f} "
            f"({self.confidence:.0%} CI {self.ci_low:+.4f} to {self.ci_high:+.4f}) on "
            f"{self.rows:,} rows"
        )

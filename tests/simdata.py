"""Simulator data for monitoring tests: windows by day and baselines built directly from
a stable reference period (no registry needed). Simulations are cached: the simulator
is deterministic and tests never modify the frames they get."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from driftline.baseline import Baseline
from driftline.simulate import Simulation, simulate
from driftline.specs import ModelSpec

ROWS_PER_DAY = 2000
DAYS = 10
SEED = 11


@lru_cache(maxsize=16)
def scenario(name: str, days: int = DAYS, rows_per_day: int = ROWS_PER_DAY) -> Simulation:
    return simulate(name, days=days, rows_per_day=rows_per_day, seed=SEED)


def day_of(sim: Simulation) -> pd.Series:
    ts = sim.predictions["event_ts"]
    return (ts.dt.floor("D") - ts.min().floor("D")).dt.days


def window(sim: Simulation, first: int, last: int | None = None) -> pd.DataFrame:
    """Predictions of days ``first`` to ``last`` (inclusive), as the store returns them."""
    day = day_of(sim)
    last = first if last is None else last
    return sim.predictions[(day >= first) & (day <= last)].reset_index(drop=True)


def labelled(sim: Simulation, first: int, last: int | None = None) -> pd.DataFrame:
    """Score and label of the predictions of days ``first`` to ``last``."""
    rows = window(sim, first, last)
    return rows.merge(sim.labels[["request_id", "purchased_7d"]], on="request_id")


def event_columns(sim: Simulation) -> set[str]:
    return {c for e in sim.timeline["events"] for c in e["columns"]}


def event_start(sim: Simulation) -> int:
    return min(e["start_day"] for e in sim.timeline["events"])


def baseline_from(
    sim: Simulation, spec: ModelSpec, first: int = 0, last: int = 2, version: str = "1"
) -> Baseline:
    """A baseline as training would capture it: features + score of a stable period,
    and the score's ROC AUC / PR AUC on that period's labels as validation metrics."""
    rows = labelled(sim, first, last)
    columns = [*spec.model.features.all, spec.model.prediction]
    target = rows[spec.model.target]
    score = rows[spec.model.prediction]
    return Baseline(
        model=spec.name,
        version=version,
        reference=rows[columns].reset_index(drop=True),
        schema=spec.column_types,
        stats={},
        metrics={
            "roc_auc": float(roc_auc_score(target, score)),
            "pr_auc": float(average_precision_score(target, score)),
        },
    )

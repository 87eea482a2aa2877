"""Simulator data for monitoring tests: windows by day and baselines built directly from
a stable reference period (no registry needed), and a home with real champions for
flow and CLI tests. Simulations are cached: the simulator is deterministic and tests
never modify the frames they get."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml
from sklearn.metrics import average_precision_score, roc_auc_score

from driftline.config.settings import Settings
from driftline.devtools.simulate import Simulation, simulate
from driftline.lifecycle.baseline import Baseline
from driftline.specs import ModelSpec

REPO = Path(__file__).resolve().parents[1]
CHAMPION_DAY = 21  # lifecycle world: the champion learns the behaviour before the drift
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


def monitored_home(root: Path, key: str, *, champions: list[str], orphans: list[str]) -> Settings:
    """A home with specs (copies of purchase_propensity under other names) and the
    lifecycle test world (concept drift from day 21) loaded for each model. Models in
    ``champions`` get a champion trained and promoted with the data clock at day 21; the
    predictions from day 21 on are logged after it, with its version (as a serving app
    does), the earlier ones without (a bootstrap period, never judged).

    Prediction drift is off: the stored scores come from the simulator's rule, not from
    the trained champion, so they differ from the baseline's scores by construction.
    """
    from driftline.data import ingest
    from driftline.data.privacy import Pseudonymizer
    from driftline.data.store import Store
    from driftline.lifecycle.promotion import promote
    from driftline.lifecycle.registry import Registry
    from driftline.lifecycle.training import train
    from driftline.specs import find_spec
    from tests.lifecycle_data import day, load, world

    specs = root / "monitors"
    specs.mkdir()
    for name in [*champions, *orphans]:
        data = yaml.safe_load((REPO / "monitors" / "purchase_propensity.yaml").read_text())
        data["model"]["name"] = name
        data["training"]["n_threads"] = 1
        data["monitoring"]["prediction_drift"] = {"enabled": False}
        (specs / f"{name}.yaml").write_text(yaml.safe_dump(data))
    settings = Settings(home=root / "home", specs_dir=specs, pseudonym_key=key)
    store = Store.from_settings(settings)
    registry = Registry.from_settings(settings)
    sim = world("concept_drift")
    pseudonymizer = Pseudonymizer(key.encode())
    served = sim.predictions["event_ts"] >= day(sim, CHAMPION_DAY)
    for name in [*champions, *orphans]:
        spec = find_spec(name, specs)
        before = sim.predictions[~served] if name in champions else sim.predictions
        load(store, spec, pseudonymizer, before, sim.labels)
    for name in champions:
        spec = find_spec(name, specs)
        as_of = day(sim, CHAMPION_DAY)
        train(store, registry, spec, as_of=as_of, triggered_by="test")
        outcome = promote(store, registry, spec, as_of=as_of, triggered_by="test")
        assert outcome.promoted, outcome.reason
        ingest.log_predictions(
            store,
            spec,
            sim.predictions[served],
            pseudonymizer,
            model_version=outcome.champion_after,
        )
    store.dispose()
    return settings


def iso_day(n: int) -> str:
    """Midnight UTC at the start of day ``n`` of the lifecycle test world."""
    from tests.lifecycle_data import day, world

    return day(world("concept_drift"), n).isoformat()

"""Decisions against real MLflow (SQLite tracking and registry in a temporary folder) and a
real SQLite store, on the concept-drift world (the purchase rule changes on day 21):
a retrain for a performance drop trains only after the change point and waits until
enough labels exist there; its reason is recorded on the version, in the audit trail and
on the outcome; a re-baseline is audited and reversible."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from driftline.config.errors import DataError, RegistryError
from driftline.config.settings import Settings
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.data.windows import plan_after_change, rows_needed_after
from driftline.lifecycle import audit
from driftline.lifecycle.promotion import PromotionOutcome, promote
from driftline.lifecycle.rebaseline import refresh_baseline, undo_refresh
from driftline.lifecycle.registry import BASELINE_DIR, TAG, Registry
from driftline.lifecycle.training import TrainingResult, train
from driftline.monitoring.evidence import acknowledged_drift
from driftline.specs import ModelSpec, load_spec
from tests.lifecycle_data import CHAMPION_DAY, day, load, variant, world

SPECS_DIR = Path(__file__).resolve().parents[2] / "monitors"
CHANGE_DAY = 21  # the concept_drift world's change (mid-timeline of 42 days)


@dataclass
class Retrained:
    settings: Settings
    store: Store
    registry: Registry
    spec: ModelSpec
    trained: TrainingResult
    outcome: PromotionOutcome


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retrained]:
    """A champion trained before the change (data clock day 28), then a challenger for a
    performance drop trained after the change point only, and promoted."""
    home = tmp_path_factory.mktemp("decisions-home")
    settings = Settings(home=home, specs_dir=SPECS_DIR, pseudonym_key="d" * 32)
    store = Store.from_settings(settings)
    registry = Registry.from_settings(settings)
    spec = variant(load_spec(SPECS_DIR / "purchase_propensity.yaml"), "pp_decisions")
    sim = world("concept_drift")
    load(store, spec, Pseudonymizer(b"d" * 32), sim.predictions, sim.labels)
    as_of = day(sim, CHAMPION_DAY)
    train(store, registry, spec, as_of=as_of, triggered_by="test")
    assert promote(store, registry, spec, as_of=as_of, triggered_by="test").promoted
    trained = train(
        store, registry, spec, reason="performance", since=day(sim, CHANGE_DAY), triggered_by="test"
    )
    outcome = promote(store, registry, spec, triggered_by="test:performance")
    try:
        yield Retrained(settings, store, registry, spec, trained, outcome)
    finally:
        store.dispose()


def test_a_retrain_after_a_change_waits_until_enough_labels_exist_after_it(
    retrained: Retrained,
) -> None:
    lab, sim = retrained, world("concept_drift")
    early = plan_after_change(lab.store, lab.spec, day(sim, CHANGE_DAY + 7), day(sim, CHANGE_DAY))
    assert (early.rows, early.needed, early.windows) == (0, rows_needed_after(lab.spec), None)
    with pytest.raises(DataError, match=r"only 0 of the \d+ labelled rows a retrain needs"):
        train(
            lab.store,
            lab.registry,
            lab.spec,
            reason="performance",
            since=day(sim, CHANGE_DAY),
            as_of=day(sim, CHANGE_DAY + 7),
        )
    one_day = plan_after_change(lab.store, lab.spec, day(sim, CHANGE_DAY + 8), day(sim, CHANGE_DAY))
    assert one_day.ready and one_day.rows >= one_day.needed
    assert one_day.windows is not None and one_day.windows.train_start >= day(sim, CHANGE_DAY)


def test_a_retrain_after_a_change_trains_and_benchmarks_on_data_after_it(
    retrained: Retrained,
) -> None:
    lab, sim = retrained, world("concept_drift")
    w = lab.trained.windows
    assert w.train_start == day(sim, CHANGE_DAY)
    assert w.train_start < w.train_end < w.holdout_end
    tags = lab.registry.version(lab.spec, lab.trained.version).tags
    assert tags[f"{TAG}change_point"] == day(sim, CHANGE_DAY).isoformat()
    report = lab.outcome.report
    assert report is not None
    assert pd.Timestamp(report.window.split(" to ")[0]) >= w.train_end
    assert lab.outcome.promoted, lab.outcome.reason


def test_the_reason_performance_is_recorded_everywhere(retrained: Retrained) -> None:
    lab = retrained
    assert lab.trained.reason == "performance"
    tags = lab.registry.version(lab.spec, lab.trained.version).tags
    assert tags[f"{TAG}reason"] == "performance"
    assert lab.outcome.retrain_reason == "performance"
    latest = audit.recent_decisions(lab.store, lab.spec.name, limit=1)[0]
    assert latest.outcome == "promoted" and "(reason: performance)" in latest.reason


def test_a_refreshed_baseline_is_audited_and_reversible(retrained: Retrained) -> None:
    lab, sim = retrained, world("concept_drift")
    version = lab.outcome.champion_after
    assert version is not None
    before = lab.registry.read_baseline(lab.spec, version)
    # the demo logs no version with these rows: the audit trail attributes them, and the
    # champion took over at (wall-clock) now, so no stored row is its own yet
    with pytest.raises(DataError, match="predictions of champion"):
        refresh_baseline(
            lab.store, lab.registry, lab.spec, day(sim, 35), day(sim, 42), triggered_by="test"
        )
    with pytest.raises(DataError, match="end must come after its start"):
        refresh_baseline(lab.store, lab.registry, lab.spec, day(sim, 40), day(sim, 35))
    assert lab.registry.baseline_folder(lab.spec, version) == BASELINE_DIR
    rows = world("concept_drift").predictions
    window = rows[(rows["event_ts"] >= day(sim, 40)) & (rows["event_ts"] < day(sim, 42))]
    ingest.log_predictions(
        lab.store,
        lab.spec,
        window.assign(request_id=window["request_id"] + "-v", score=window["score"] * 0.9),
        Pseudonymizer(b"d" * 32),
        model_version=version,
    )
    done = refresh_baseline(
        lab.store, lab.registry, lab.spec, day(sim, 40), day(sim, 42), triggered_by="test:refresh"
    )
    consenting = int(window["consent_analytics"].sum())  # monitoring reads consenting rows
    assert done.outcome == "rebaselined" and done.rows == consenting
    after = lab.registry.read_baseline(lab.spec, version)
    assert after.version == version and after.metrics == before.metrics
    assert after.stats["discount_share"]["count"] == consenting
    assert not after.reference["score"].equals(before.reference["score"])
    record = audit.recent_decisions(lab.store, lab.spec.name, limit=1)[0]
    assert (record.action, record.outcome, record.triggered_by) == (
        "rebaseline",
        "rebaselined",
        "test:refresh",
    )
    assert record.champion_before == record.champion_after == version
    assert "driftline baseline undo" in record.reason
    # a rebaseline is no takeover: the champion's history is unchanged
    assert [t.version for t in audit.champion_takeovers(lab.store, lab.spec.name)][-1] == version
    assert acknowledged_drift(lab.store, lab.spec.name, version) is None

    undone = undo_refresh(lab.store, lab.registry, lab.spec, triggered_by="test:undo")
    assert (undone.outcome, undone.folder, undone.previous) == (
        "restored",
        BASELINE_DIR,
        done.folder,
    )
    restored = lab.registry.read_baseline(lab.spec, version)
    assert restored.reference.equals(before.reference)
    assert audit.recent_decisions(lab.store, lab.spec.name, limit=1)[0].outcome == "restored"
    with pytest.raises(RegistryError, match="no refresh to undo"):
        undo_refresh(lab.store, lab.registry, lab.spec)

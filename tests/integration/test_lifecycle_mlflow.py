"""The model lifecycle against real MLflow (SQLite tracking and registry in a temporary
folder) and a real SQLite store: promotion decisions on simulated worlds where the
better model is known, rollback, an interrupted promotion, and what the artifacts hold.

Each scenario is its own registered model in one shared home, built once per module.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from driftline.config.errors import BaselineError, DataError, RegistryError
from driftline.config.settings import Settings
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.lifecycle import audit
from driftline.lifecycle.baseline import KEY_COLUMN
from driftline.lifecycle.benchmark import benchmark, figures_markdown, latest_benchmark
from driftline.lifecycle.promotion import PromotionOutcome, promote, rollback
from driftline.lifecycle.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG,
    Registry,
    load_baseline,
    load_champion_baseline,
)
from driftline.lifecycle.training import TrainingResult, train
from driftline.specs import ModelSpec, load_spec
from tests.lifecycle_data import (
    CHAMPION_DAY,
    assert_png,
    champion_then_challenger,
    day,
    load,
    segment_kept_old_behaviour,
    variant,
    world,
)

SPECS_DIR = Path(__file__).resolve().parents[2] / "monitors"


@dataclass
class Lab:
    settings: Settings
    store: Store
    registry: Registry
    spec: ModelSpec
    pseudonymizer: Pseudonymizer


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lifecycle-home")
    settings = Settings(home=home, specs_dir=SPECS_DIR, pseudonym_key="p" * 32)
    store = Store.from_settings(settings)
    try:
        yield Lab(
            settings,
            store,
            Registry.from_settings(settings),
            load_spec(SPECS_DIR / "purchase_propensity.yaml"),
            Pseudonymizer(b"p" * 32),
        )
    finally:
        store.dispose()


@dataclass
class Scenario:
    spec: ModelSpec
    first: PromotionOutcome
    challenger: TrainingResult


def _scenario(lab: Lab, name: str, labels: pd.DataFrame, **sections: dict) -> Scenario:
    spec = variant(lab.spec, name, **sections)
    load(lab.store, spec, lab.pseudonymizer, world("concept_drift").predictions, labels)
    first, challenger = champion_then_challenger(lab.store, lab.registry, spec)
    return Scenario(spec, first, challenger)


@pytest.fixture(scope="module")
def better(lab: Lab) -> tuple[Scenario, PromotionOutcome]:
    """After concept drift: the challenger trained on new behaviour should win."""
    scenario = _scenario(lab, "pp_better", world("concept_drift").labels)
    outcome = promote(lab.store, lab.registry, scenario.spec, triggered_by="test:better")
    return scenario, outcome


def champions(lab: Lab, spec: ModelSpec) -> list[str]:
    """Every version that carries the champion alias, read version by version."""
    found = lab.registry.client.search_model_versions(f"name = '{spec.name}'")
    return [
        str(mv.version)
        for mv in found
        if CHAMPION in lab.registry.client.get_model_version(spec.name, mv.version).aliases
    ]


# -- promotion decisions --------------------------------------------------------------------


def test_first_model_is_promoted_with_champion_gates_skipped(lab: Lab, better) -> None:
    scenario, _ = better
    first = scenario.first
    assert first.champion_before is None and first.champion_after == "1"
    report = first.report
    assert report is not None and report.champion_version is None
    for name in ("improvement", "non_inferiority", "segments"):
        assert report.gate(name).status == "skipped"
        assert "no champion yet" in report.gate(name).reason
    assert report.gate("floor").status == "passed"
    recorded = audit.recent_decisions(lab.store, scenario.spec.name, limit=20)[-1]
    assert (recorded.outcome, recorded.champion_after) == ("promoted", "1")
    assert recorded.gate_report["gates"][1]["status"] == "skipped"


def test_known_better_challenger_is_promoted(lab: Lab, better) -> None:
    scenario, outcome = better
    assert outcome.status == "promoted", outcome.reason
    assert (outcome.champion_before, outcome.champion_after) == ("1", "2")
    assert outcome.report is not None and outcome.report.passed
    assert outcome.report.gate("improvement").observed > 0.02
    aliases = lab.registry.aliases(scenario.spec)
    assert aliases == {CHAMPION: "2", PREVIOUS: "1"}
    assert champions(lab, scenario.spec) == ["2"]
    tags = lab.registry.version(scenario.spec, "2").tags
    assert tags[f"{TAG}decision"] == "promoted"
    assert tags[f"{TAG}replaced_version"] == "1"
    assert tags[f"{TAG}reason"] == "drift"
    assert lab.registry.version(scenario.spec, "1").tags[f"{TAG}replaced_by"] == "2"
    latest = audit.recent_decisions(lab.store, scenario.spec.name)[0]
    assert (latest.action, latest.outcome, latest.triggered_by) == (
        "promote",
        "promoted",
        "test:better",
    )
    assert (latest.champion_before, latest.champion_after) == ("1", "2")
    assert latest.gate_report["passed"] is True


def test_promotion_switches_the_champion_baseline(lab: Lab, better) -> None:
    scenario, _ = better
    spec = scenario.spec
    current = load_champion_baseline(lab.settings, spec)
    old = load_baseline(lab.settings, spec, 1)
    assert (current.version, old.version) == ("2", "1")
    assert current.run_id == scenario.challenger.run_id
    assert list(current.reference.columns) == list(current.schema)
    assert set(current.schema) == {*spec.model.features.all, spec.model.prediction}
    assert 0 < len(current.reference) <= spec.training.baseline_sample_size
    # the reference is the validation part: rows the model was not fitted on
    validation = scenario.challenger.counts["validation_rows"]
    assert current.stats["discount_share"]["count"] == validation
    assert validation < scenario.challenger.counts["rows"]
    assert current.metrics["roc_auc"] == pytest.approx(scenario.challenger.metrics["roc_auc"])
    assert not current.reference[spec.model.prediction].equals(old.reference[spec.model.prediction])


def test_benchmark_is_logged_on_the_challenger_and_kept_in_the_store(
    lab: Lab, better, tmp_path: Path
) -> None:
    scenario, outcome = better
    spec = scenario.spec
    stored = latest_benchmark(lab.store, spec.name, "2", "1")
    assert stored is not None and stored.benchmark_id == outcome.report.benchmark_id
    assert stored.champion is not None and stored.ci_low is not None
    assert stored.ci_low <= stored.diff <= stored.ci_high
    assert stored.window_start >= scenario.challenger.windows.train_end.isoformat()
    assert {s.column for s in stored.segments} == set(spec.model.segments)
    assert sum(s.rows for s in stored.segments if s.column == "device") == stored.rows
    run = lab.registry.client.get_run(stored.mlflow_run_id)
    assert run.data.metrics["roc_auc_diff"] == pytest.approx(stored.diff)
    assert run.data.tags[f"{TAG}challenger_version"] == "2"
    tags = lab.registry.version(spec, "2").tags
    assert tags[f"{TAG}benchmark_run_id"] == stored.mlflow_run_id
    report = json.loads(
        Path(
            lab.registry.client.download_artifacts(
                stored.mlflow_run_id, "gate_report.json", str(tmp_path)
            )
        ).read_text()
    )
    assert report["outcome"] == "promoted" and report["challenger_version"] == "2"
    model_id = lab.registry.version(spec, "2").model_id
    logged = lab.registry.client.get_logged_model(model_id)
    assert any(m.key == "benchmark_roc_auc" for m in logged.metrics)


def test_benchmark_pictures_are_png_artifacts_of_its_run(lab: Lab, better, tmp_path: Path) -> None:
    scenario, _ = better
    stored = latest_benchmark(lab.store, scenario.spec.name, "2", "1")
    assert stored is not None
    expected = {"roc", "pr", "calibration", "segments"}
    assert {Path(f).stem for f in stored.figures} == expected
    folder = Path(
        lab.registry.client.download_artifacts(stored.mlflow_run_id, "figures", str(tmp_path))
    )
    assert {p.stem for p in folder.iterdir()} == expected
    for path in folder.iterdir():
        assert_png(path.read_bytes())
    markdown = figures_markdown(lab.registry, stored, "http://mlflow.example:5000")
    images = re.findall(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert sorted(alt for alt, _ in images) == ["calibration", "pr", "roc", "segments"]
    for _, data in images:
        assert_png(base64.b64decode(data))
    assert "http://mlflow.example:5000/#/experiments/" in markdown


def test_runs_are_named_for_model_version_reason_and_gates_are_metrics(lab: Lab, better) -> None:
    scenario, outcome = better
    spec = scenario.spec
    client = lab.registry.client
    trained = client.get_run(scenario.challenger.run_id)
    assert trained.info.run_name == f"train-{spec.name}-v2-drift"
    first = client.get_run(lab.registry.version(spec, "1").tags[f"{TAG}run_id"])
    assert first.info.run_name == f"train-{spec.name}-v1-bootstrap"
    bench = client.get_run(outcome.report.benchmark_run_id)
    assert bench.info.run_name == f"benchmark-{spec.name}-v2-vs-v1"
    metrics = bench.data.metrics
    improvement = outcome.report.gate("improvement")
    # numbers, not text: chartable and comparable across runs in the MLflow UI
    assert metrics["gate_improvement_observed"] == pytest.approx(improvement.observed)
    assert metrics["gate_improvement_threshold"] == pytest.approx(improvement.threshold)
    assert metrics["gate_improvement_passed"] == 1.0 and metrics["gates_passed"] == 1.0
    assert "gate_segments_passed" in metrics  # judged against a champion: not skipped
    skipped = client.get_run(scenario.first.report.benchmark_run_id).data.metrics
    assert "gate_improvement_passed" not in skipped  # no champion yet: skipped, no verdict
    # the tags that other readers use stay
    assert lab.registry.version(spec, "2").tags[f"{TAG}gates"] == outcome.report.summary()


def test_no_better_challenger_is_rejected_naming_the_failing_gate(lab: Lab) -> None:
    scenario = _scenario(lab, "pp_stable", world("stable").labels)
    outcome = promote(lab.store, lab.registry, scenario.spec, triggered_by="test:stable")
    assert outcome.status == "rejected"
    failed = {g.name for g in outcome.report.failed}
    assert "improvement" in failed
    assert "improvement" in outcome.reason
    assert lab.registry.aliases(scenario.spec) == {CHAMPION: "1", CHALLENGER: "2"}
    recorded = audit.recent_decisions(lab.store, scenario.spec.name)[0]
    assert (recorded.outcome, recorded.champion_before, recorded.champion_after) == (
        "rejected",
        "1",
        "1",
    )
    assert "improvement" in recorded.reason
    tags = lab.registry.version(scenario.spec, "2").tags
    assert tags[f"{TAG}decision"] == "rejected"
    assert "improvement" in tags[f"{TAG}failed_gates"]


def test_segment_regression_blocks_promotion_even_when_overall_improves(lab: Lab) -> None:
    # Organic visitors kept their old behaviour after day 28; a challenger trained on the
    # week after the drift is better overall but much worse for them.
    labels = segment_kept_old_behaviour("channel", "organic", from_day=CHAMPION_DAY)
    scenario = _scenario(lab, "pp_segment", labels, training={"lookback_days": 7})
    outcome = promote(lab.store, lab.registry, scenario.spec, triggered_by="test:segment")
    report = outcome.report
    assert report.gate("improvement").status == "passed"
    assert report.gate("segments").status == "failed"
    assert "channel=organic" in report.gate("segments").reason
    assert outcome.status == "rejected"
    assert lab.registry.version_by_alias(scenario.spec, CHAMPION) == "1"


# -- rollback and interruption --------------------------------------------------------------


def test_rollback_restores_the_previous_champion(lab: Lab) -> None:
    scenario = _scenario(lab, "pp_rollback", world("concept_drift").labels)
    spec = scenario.spec
    assert promote(lab.store, lab.registry, spec, triggered_by="test").promoted
    outcome = rollback(lab.store, lab.registry, spec, triggered_by="test:oncall", reason="bad")
    assert (outcome.status, outcome.champion_before, outcome.champion_after) == (
        "rolled_back",
        "2",
        "1",
    )
    assert lab.registry.aliases(spec) == {CHAMPION: "1"}
    assert load_champion_baseline(lab.settings, spec).version == "1"
    recorded = audit.recent_decisions(lab.store, spec.name)[0]
    assert (recorded.action, recorded.triggered_by, recorded.reason) == (
        "rollback",
        "test:oncall",
        "v2 rolled back to v1: bad",
    )
    assert lab.registry.version(spec, "2").tags[f"{TAG}decision"] == "rolled_back"
    with pytest.raises(RegistryError, match="no previous-champion"):
        rollback(lab.store, lab.registry, spec, triggered_by="test:oncall")
    assert champions(lab, spec) == ["1"]


def test_interrupted_promotion_leaves_exactly_one_champion(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _scenario(lab, "pp_interrupted", world("concept_drift").labels)
    spec = scenario.spec
    real = lab.registry.client.set_registered_model_alias

    def fail_on_champion(name: str, alias: str, version: str) -> None:
        if alias == CHAMPION:
            raise ConnectionError("registry went away")
        real(name, alias, version)

    monkeypatch.setattr(lab.registry.client, "set_registered_model_alias", fail_on_champion)
    with pytest.raises(RegistryError, match="interrupted") as err:
        promote(lab.store, lab.registry, spec, triggered_by="test")
    assert "still v1" in str(err.value)
    assert champions(lab, spec) == ["1"]
    assert lab.registry.version_by_alias(spec, CHALLENGER) == "2"
    failed = audit.recent_decisions(lab.store, spec.name)[0]
    assert (failed.outcome, failed.champion_after) == ("failed", "1")
    assert "ConnectionError" in failed.error

    monkeypatch.setattr(lab.registry.client, "set_registered_model_alias", real)
    outcome = promote(lab.store, lab.registry, spec, triggered_by="test")
    assert outcome.promoted
    assert champions(lab, spec) == ["2"]
    assert lab.registry.aliases(spec) == {CHAMPION: "2", PREVIOUS: "1"}


# -- privacy --------------------------------------------------------------------------------


def test_no_mlflow_artifact_holds_identifiers_or_non_consenting_rows(
    lab: Lab, better, tmp_path: Path
) -> None:
    scenario, _ = better
    spec = scenario.spec
    sim = world("concept_drift")
    root = lab.settings.mlflow_artifacts_dir() / spec.name
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(f.name == "reference.parquet" for f in files)
    assert any(f.name == "MLmodel" for f in files)
    raw_ids = set(sim.predictions["customer_id"])
    request_ids = set(sim.predictions["request_id"])
    keys = set(lab.pseudonymizer.pseudonymise_series(sim.predictions["customer_id"]))
    forbidden = raw_ids | request_ids | keys
    texts = []
    for path in files:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            if path.name == "reference.parquet":
                # Each sampled row keeps its pseudonym, for erasure (never a raw id), in one
                # column that monitors and trainers never see; nothing else is an id.
                assert set(frame.pop(KEY_COLUMN)) <= keys
            texts.append(frame.to_csv(index=False))
            texts.append(" ".join(frame.columns))
        else:
            texts.append(path.read_bytes().decode("utf-8", errors="ignore"))
    tokens = set()
    for text in texts:
        tokens.update(text.replace('"', " ").replace(",", " ").replace("'", " ").split())
    assert not tokens & forbidden
    for name in (spec.model.entity_id, spec.model.request_id, spec.model.consent, "entity_key"):
        assert all(name not in text for text in texts), name

    # Non-consenting rows: no reference row (or input example row) equals one of theirs.
    numeric = spec.model.features.numerical
    refusing = sim.predictions[~sim.predictions[spec.model.consent]]
    refused = set(map(tuple, refusing[numeric].round(6).to_numpy()))
    seen = 0
    for path in files:
        if path.name == "reference.parquet":
            rows = pd.read_parquet(path)[numeric].round(6).to_numpy()
        elif path.name == "input_example.json":
            data = json.loads(path.read_text())
            rows = pd.DataFrame(data["data"], columns=data["columns"])[numeric]
            rows = rows.astype(float).round(6).to_numpy()
        else:
            continue
        seen += len(rows)
        assert not set(map(tuple, rows)) & refused
    assert seen > 1000


# -- failure paths ------------------------------------------------------------------------


def test_champion_baseline_without_a_champion_says_what_to_run(lab: Lab) -> None:
    spec = variant(lab.spec, "pp_nothing_yet")
    with pytest.raises(BaselineError, match="driftline train --model pp_nothing_yet"):
        load_champion_baseline(lab.settings, spec)


def test_training_on_too_few_rows_is_refused(lab: Lab) -> None:
    spec = variant(lab.spec, "pp_tiny", training={"min_rows": 5000})
    sim = world("stable")
    first_day = sim.predictions[sim.predictions["event_ts"] < day(sim, 1)]
    labels = sim.labels[sim.labels["request_id"].isin(first_day["request_id"])]
    load(lab.store, spec, lab.pseudonymizer, first_day, labels)
    with pytest.raises(DataError, match=r"training\.min_rows"):
        train(lab.store, lab.registry, spec, as_of=day(sim, 20))
    assert lab.registry.versions(spec) == []


def test_benchmark_and_rollback_without_versions_are_refused(lab: Lab) -> None:
    spec = variant(lab.spec, "pp_empty")
    with pytest.raises(RegistryError, match="no challenger"):
        benchmark(lab.store, lab.registry, spec)
    with pytest.raises(RegistryError, match="no champion"):
        rollback(lab.store, lab.registry, spec)

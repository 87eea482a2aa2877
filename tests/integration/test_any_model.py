"""Any team's model, against real MLflow (SQLite tracking and registry in a temporary
folder) and a real SQLite store: adopting a random forest and a LightGBM model that were
logged outside driftline, then monitoring and benchmarking them as champions; your own
trainer by import path; and what is refused (pickle, untrusted types, flavours the spec
does not allow) with nothing half-registered.

The world is the lifecycle test world (concept drift from day 21). The "team" trains its
models on days 0-14 and its serving app logs their scores; those are the predictions the
store holds for the adopted models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import yaml

from driftline.config.errors import DataError, ModelError, RegistryError, SpecError
from driftline.config.settings import Settings
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.lifecycle import audit
from driftline.lifecycle.adopt import adopt
from driftline.lifecycle.benchmark import benchmark
from driftline.lifecycle.flavors import LightGBMClassifier
from driftline.lifecycle.promotion import rollback
from driftline.lifecycle.registry import CHAMPION, PREVIOUS, TAG, Registry
from driftline.lifecycle.training import feature_frame, train, training_frame
from driftline.monitoring.profiles import profile_frame
from driftline.sdk import monitor_model
from driftline.specs import ModelSpec, find_spec
from tests import user_trainers
from tests.lifecycle_data import day, load, world

REPO_SPEC = Path(__file__).resolve().parents[2] / "monitors" / "purchase_propensity.yaml"
KEY = "a" * 32
TREE = "sklearn.tree._tree.Tree"


@dataclass
class Lab:
    settings: Settings
    store: Store
    registry: Registry
    team_rf: Any
    team_lgbm: Any
    rf_uri: str = ""
    lgbm_uri: str = ""

    def spec(self, name: str, **training: Any) -> ModelSpec:
        """A spec file (the repository's, renamed; training keys changed) in the lab's
        specs folder, read back as the CLI and the monitor read it."""
        data = yaml.safe_load(REPO_SPEC.read_text())
        data["model"]["name"] = name
        data["training"].update({"n_threads": 1, "lookback_days": 14, "holdout_days": 7})
        data["training"].update(training)
        path = self.settings.specs_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return find_spec(name, self.settings.specs_dir)


def _rows(first: int, last: int) -> pd.DataFrame:
    """Predictions of days [first, last) with their labels (as the team has them)."""
    sim = world("concept_drift")
    p = sim.predictions
    rows = p[(p["event_ts"] >= day(sim, first)) & (p["event_ts"] < day(sim, last))]
    return rows.merge(sim.labels[["request_id", "purchased_7d"]], on="request_id")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The team's two models, trained on days 0-14 and logged with MLflow's own API into
    the tracking server driftline uses (experiment ``team``), as they had them."""
    root = tmp_path_factory.mktemp("any-model")
    (root / "monitors").mkdir()
    settings = Settings(home=root / "home", specs_dir=root / "monitors", pseudonym_key=KEY)
    store = Store.from_settings(settings)
    registry = Registry.from_settings(settings)
    base = find_spec("purchase_propensity", REPO_SPEC.parent)
    history = training_frame(base, _rows(0, 14))
    rf = user_trainers.random_forest(history, base)
    lgbm = user_trainers.lightgbm_classifier(history, base)
    lab = Lab(settings, store, registry, rf, lgbm)
    with registry.active():
        experiment = mlflow.set_experiment("team")
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            # "Plain" MLflow: a pickled forest, registered under the team's own name.
            mlflow.sklearn.log_model(
                rf, name="model", serialization_format="cloudpickle", registered_model_name="rf"
            )
        with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
            mlflow.lightgbm.log_model(lgbm, name="model")  # MLflow's default: skops
        lab.rf_uri, lab.lgbm_uri = "models:/rf/1", f"runs:/{run.info.run_id}/model"
    try:
        yield lab
    finally:
        store.dispose()


def _serve(lab: Lab, spec: ModelSpec, model: Any) -> None:
    """The team's serving log: every prediction of the world with ``model``'s score."""
    sim = world("concept_drift")
    predictions = sim.predictions.copy()
    x = feature_frame(spec, predictions)
    if type(model).__module__.startswith("lightgbm"):
        scores = LightGBMClassifier(model.booster_).predict_proba(x)[:, 1]
    else:
        scores = model.predict_proba(x)[:, 1]
    predictions[spec.model.prediction] = scores
    load(lab.store, spec, Pseudonymizer(KEY.encode()), predictions, sim.labels)


def _reference(spec: ModelSpec, model: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Days 14-21 as the team's log has them (features, scores, consent, request ids),
    and their labels as a separate file."""
    rows = _rows(14, 21)
    x = feature_frame(spec, rows)
    if type(model).__module__.startswith("lightgbm"):
        rows[spec.model.prediction] = LightGBMClassifier(model.booster_).predict_proba(x)[:, 1]
    else:
        rows[spec.model.prediction] = model.predict_proba(x)[:, 1]
    labels = rows[["request_id", "purchased_7d"]]
    return rows.drop(columns=["purchased_7d"]), labels


# -- a random forest logged with pickle ------------------------------------------------------


@pytest.fixture(scope="module")
def forest(lab: Lab) -> tuple[ModelSpec, Any]:
    spec = lab.spec(
        "churn_rf",
        allowed_flavors=["pickle"],
        trusted_types=[TREE],
    )
    _serve(lab, spec, lab.team_rf)
    reference, labels = _reference(spec, lab.team_rf)
    result = adopt(
        lab.store,
        lab.registry,
        spec,
        model_uri=lab.rf_uri,
        reference=reference,
        labels=labels,
        triggered_by="test:adopt",
    )
    return spec, result


def test_pickle_is_refused_unless_the_spec_allows_it(lab: Lab) -> None:
    spec = lab.spec("churn_rf_strict", trusted_types=[TREE])
    reference, _ = _reference(spec, lab.team_rf)
    with pytest.raises(SpecError) as err:
        adopt(lab.store, lab.registry, spec, model_uri=lab.rf_uri, reference=reference)
    assert "saved with 'cloudpickle': reading it runs code from the file" in str(err.value)
    assert "add pickle to training.allowed_flavors" in str(err.value)
    untrusted = lab.spec("churn_rf_untrusted", allowed_flavors=["pickle"])
    with pytest.raises(SpecError, match=r"allow-list: \['sklearn\.tree\._tree\.Tree'\]"):
        adopt(lab.store, lab.registry, untrusted, model_uri=lab.rf_uri, reference=reference)
    for refused in (spec, untrusted):
        assert lab.registry.versions(refused) == []


def test_an_adopted_forest_is_stored_with_skops_and_becomes_champion(lab: Lab, forest) -> None:
    spec, result = forest
    assert (result.version, result.flavor) == ("1", "sklearn")
    assert result.outcome.status == "promoted" and result.outcome.champion_before is None
    assert lab.registry.aliases(spec) == {CHAMPION: "1"}
    assert result.reference_rows == result.labelled_rows > 5000  # consenting rows only
    assert result.max_score_difference == pytest.approx(0, abs=1e-9)
    assert result.metrics["roc_auc"] > 0.6
    assert result.train_end is not None and result.train_end.startswith("2026-09-2")
    info = lab.registry.version(spec, "1")
    assert info.tags[f"{TAG}reason"] == "adopted"
    assert info.tags[f"{TAG}source_uri"] == "models:/rf/1"
    assert lab.registry.client.get_run(result.run_id).info.run_name == f"adopted-{spec.name}-v1"
    assert info.tags[f"{TAG}decision"] == "promoted"
    stored = mlflow.artifacts.download_artifacts(
        artifact_uri=lab.registry.client.get_model_version_download_uri(spec.name, "1"),
        tracking_uri=lab.registry.tracking_uri,
    )
    flavor = yaml.safe_load((Path(stored) / "MLmodel").read_text())["flavors"]["sklearn"]
    assert flavor["serialization_format"] == "skops"
    decision = audit.recent_decisions(lab.store, spec.name)[0]
    assert (decision.action, decision.outcome, decision.champion_after) == (
        "adopt",
        "promoted",
        "1",
    )
    assert decision.reason.startswith("v1 adopted from models:/rf/1")
    assert decision.triggered_by == "test:adopt"
    baseline = lab.registry.read_baseline(spec, "1")
    assert list(baseline.reference.columns) == list(spec.column_types_with_prediction)
    assert baseline.metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    # the reference's column profiles are stored beside stats.json (profile.json)
    assert baseline.profile == profile_frame(baseline.reference, baseline.schema)


def test_the_monitor_watches_an_adopted_champion(lab: Lab, forest) -> None:
    spec, result = forest
    sim = world("concept_drift")
    quiet = monitor_model(spec.name, day(sim, 28).isoformat(), settings=lab.settings)
    assert quiet.status != "failed", quiet.error
    assert quiet.champion_version == result.version
    assert quiet.result is not None and quiet.result.performance is not None
    assert quiet.action == "none", quiet.decision.reasons
    # Day 35: the scored week follows the new behaviour; realized performance falls.
    fallen = monitor_model(spec.name, day(sim, 35).isoformat(), settings=lab.settings)
    assert fallen.action == "retrain" and "performance_drop" in fallen.decision.triggers


def test_the_benchmark_loads_an_adopted_champion(lab: Lab, forest) -> None:
    spec, _ = forest
    challenger = train(lab.store, lab.registry, spec, reason="drift", triggered_by="test")
    result = benchmark(lab.store, lab.registry, spec, challenger=challenger.version)
    assert result.champion is not None and result.champion.version == "1"
    assert result.diff is not None and result.diff > 0  # trained after the drift


def test_a_second_adoption_needs_replace_champion_and_can_be_rolled_back(lab: Lab, forest) -> None:
    spec, _ = forest
    reference, labels = _reference(spec, lab.team_rf)
    with pytest.raises(RegistryError, match="already has a champion"):
        adopt(lab.store, lab.registry, spec, model_uri=lab.rf_uri, reference=reference)
    again = adopt(
        lab.store,
        lab.registry,
        spec,
        model_uri=lab.rf_uri,
        reference=reference.assign(purchased_7d=labels["purchased_7d"].to_numpy()),
        replace_champion=True,
    )
    assert again.outcome.champion_before == "1"
    assert lab.registry.aliases(spec)[PREVIOUS] == "1"
    assert lab.registry.aliases(spec)[CHAMPION] == again.version
    rollback(lab.store, lab.registry, spec, triggered_by="test", reason="back")
    assert lab.registry.version_by_alias(spec, CHAMPION) == "1"


# -- a LightGBM model -------------------------------------------------------------------------


def test_lightgbm_is_adopted_only_when_allowed_then_monitored(lab: Lab) -> None:
    strict = lab.spec("churn_lgbm_strict")
    reference, labels = _reference(strict, lab.team_lgbm)
    with pytest.raises(SpecError, match="needs the 'lightgbm' flavour"):
        adopt(lab.store, lab.registry, strict, model_uri=lab.lgbm_uri, reference=reference)
    assert lab.registry.versions(strict) == []

    spec = lab.spec("churn_lgbm", allowed_flavors=["lightgbm"])
    _serve(lab, spec, lab.team_lgbm)
    result = adopt(
        lab.store,
        lab.registry,
        spec,
        model_uri=lab.lgbm_uri,
        reference=reference.drop(columns=[spec.model.prediction]),  # the model scores it
        labels=labels,
    )
    assert (result.flavor, result.scored_by_driftline) == ("lightgbm", True)
    assert result.metrics["roc_auc"] > 0.6
    loaded = lab.registry.load_model(spec, result.version)
    assert isinstance(loaded.estimator, LightGBMClassifier)
    run = monitor_model(
        spec.name, day(world("concept_drift"), 28).isoformat(), settings=lab.settings
    )
    assert run.status != "failed", run.error
    assert run.champion_version == result.version
    # A spec that stops allowing LightGBM cannot load the version any more.
    narrowed = spec.model_copy(
        update={"training": spec.training.model_copy(update={"allowed_flavors": []})}
    )
    with pytest.raises(SpecError, match=f"{spec.name} version {result.version} needs the"):
        lab.registry.load_model(narrowed, result.version)


def test_a_reference_that_does_not_fit_is_refused_before_anything_is_stored(lab: Lab) -> None:
    spec = lab.spec("churn_bad_reference", allowed_flavors=["pickle"], trusted_types=[TREE])
    reference, labels = _reference(spec, lab.team_rf)
    with pytest.raises(DataError, match=r"missing columns \['recency_days'\]"):
        adopt(
            lab.store,
            lab.registry,
            spec,
            model_uri=lab.rf_uri,
            reference=reference.drop(columns=["recency_days"]),
        )
    with pytest.raises(DataError, match="the labels are given twice"):
        adopt(
            lab.store,
            lab.registry,
            spec,
            model_uri=lab.rf_uri,
            reference=reference.assign(purchased_7d=1),
            labels=labels,
        )
    with pytest.raises(ModelError, match="no such folder"):
        adopt(lab.store, lab.registry, spec, model_uri="/nowhere/model", reference=reference)
    assert lab.registry.versions(spec) == []


# -- your own trainer -------------------------------------------------------------------------


def test_train_with_your_own_trainer_and_a_lightgbm_one(lab: Lab) -> None:
    spec = lab.spec("own_forest", trainer="tests.user_trainers:random_forest", trusted_types=[TREE])
    _serve(lab, spec, lab.team_rf)
    result = train(lab.store, lab.registry, spec, as_of=day(world("concept_drift"), 28))
    info = lab.registry.version(spec, result.version)
    assert info.tags[f"{TAG}trainer"] == "tests.user_trainers:random_forest"
    assert info.tags[f"{TAG}flavor"] == "sklearn"
    assert result.metrics["roc_auc"] > 0.6
    loaded = lab.registry.load_model(spec, result.version)
    assert type(loaded.estimator.named_steps["forest"]).__name__ == "RandomForestClassifier"

    boosted = lab.spec(
        "own_lgbm", trainer="tests.user_trainers:lightgbm_classifier", allowed_flavors=["lightgbm"]
    )
    _serve(lab, boosted, lab.team_rf)
    result = train(lab.store, lab.registry, boosted, as_of=day(world("concept_drift"), 28))
    assert lab.registry.version(boosted, result.version).tags[f"{TAG}flavor"] == "lightgbm"
    assert isinstance(
        lab.registry.load_model(boosted, result.version).estimator, LightGBMClassifier
    )


def test_a_trainer_returning_an_untrusted_type_registers_nothing(lab: Lab) -> None:
    spec = lab.spec("own_untrusted", trainer="tests.user_trainers:random_forest")
    _serve(lab, spec, lab.team_rf)
    with pytest.raises(SpecError) as err:
        train(lab.store, lab.registry, spec, as_of=day(world("concept_drift"), 28))
    assert "'tests.user_trainers:random_forest' holds types outside" in str(err.value)
    assert TREE in str(err.value) and "training.trusted_types" in str(err.value)
    assert lab.registry.versions(spec) == []


# -- the command --------------------------------------------------------------------------


def test_driftline_adopt_prints_what_it_recorded(
    lab: Lab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.conftest import cli_runner

    spec = lab.spec("churn_cli", trusted_types=[TREE])
    # A team that logged with skops (trusting the tree type in its own MLmodel file, which
    # driftline ignores: the spec's trusted_types decide).
    folder = tmp_path / "team-forest"
    mlflow.sklearn.save_model(lab.team_rf, str(folder), skops_trusted_types=[TREE, "numpy.dtype"])
    reference, labels = _reference(spec, lab.team_rf)
    reference.to_parquet(tmp_path / "reference.parquet", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    monkeypatch.setenv("DRIFTLINE_HOME", str(lab.settings.home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(lab.settings.specs_dir))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
    cli = cli_runner(monkeypatch, capsys)
    args = ["adopt", "--model", "churn_cli", "--model-uri", str(folder)]
    args += ["--reference", str(tmp_path / "reference.parquet")]
    code, out = cli(*args, "--labels", str(tmp_path / "labels.csv"))
    assert code == 0, out
    assert "churn_cli version 1 is the champion (adopted)" in out
    assert "validation roc_auc" in out and "stored as" in out
    assert f"v1 adopted from {folder}" in out
    code, out = cli(*args)
    assert code == 2
    assert "already has a champion (v1)" in out and "Traceback" not in out

    lab.spec("churn_cli_untrusted")
    code, out = cli("adopt", "--model", "churn_cli_untrusted", *args[3:])
    assert code == 2 and "Traceback" not in out
    assert "sklearn.tree._tree.Tree" in out and "training.trusted_types" in out


def test_the_sdk_adopts_from_files_with_labels_in_the_reference(lab: Lab, tmp_path: Path) -> None:
    import driftline

    spec = lab.spec("churn_sdk", allowed_flavors=["lightgbm"])
    folder = tmp_path / "booster"
    mlflow.lightgbm.save_model(lab.team_lgbm.booster_, str(folder))  # LightGBM text
    reference, labels = _reference(spec, lab.team_lgbm)
    path = tmp_path / "reference.csv"
    reference.assign(purchased_7d=labels["purchased_7d"].to_numpy()).to_csv(path, index=False)
    result = driftline.adopt("churn_sdk", str(folder), path, settings=lab.settings)
    assert (result.version, result.flavor) == ("1", "lightgbm")
    assert result.labelled_rows == result.reference_rows
    assert result.max_score_difference is not None and result.max_score_difference < 1e-6
    assert result.outcome.triggered_by.startswith("sdk:")
    assert lab.registry.version_by_alias(spec, CHAMPION) == "1"


class _Halves(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined,misc]
    """A custom pyfunc: the team's own scoring rule (saved with cloudpickle by MLflow)."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return (model_input["cart_adds_7d"].astype(float) > 0).astype(float) * 0.5 + 0.25


def test_any_pyfunc_is_adopted_only_with_python_function_allowed(lab: Lab, tmp_path: Path) -> None:
    import mlflow.pyfunc

    folder = tmp_path / "rule"
    mlflow.pyfunc.save_model(str(folder), python_model=_Halves())
    strict = lab.spec("churn_rule_strict")
    reference, labels = _reference(strict, lab.team_rf)
    reference = reference.drop(columns=[strict.model.prediction])
    with pytest.raises(SpecError, match="needs the 'python_function' flavour"):
        adopt(lab.store, lab.registry, strict, model_uri=str(folder), reference=reference)
    assert lab.registry.versions(strict) == []

    spec = lab.spec("churn_rule", allowed_flavors=["python_function"])
    result = adopt(
        lab.store, lab.registry, spec, model_uri=str(folder), reference=reference, labels=labels
    )
    assert result.flavor == "python_function"
    loaded = lab.registry.load_model(spec, result.version)
    p = loaded.estimator.predict_proba(feature_frame(spec, reference.head(4)))
    assert p.shape == (4, 2) and set(p[:, 1]) <= {0.25, 0.75}

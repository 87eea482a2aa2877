"""Which model version made each prediction, on a real SQLite file and a real PostgreSQL
server: the indexed ``model_version`` column (new tables and tables from before it),
ingestion from CSV and through the SDK, and monitor runs across a promotion.

The monitored world (20 simulated days, stable inputs):

- days 0-2: a bootstrap with no model at all: no version, no score;
- days 3-4: a rule scores the visitors, still no version and no champion;
- days 5-11: version 1, a weaker model (half noise), logged with ``model_version`` 1;
- days 12-19: version 2, promoted at the start of day 12, logged *without* a version:
  attributed by time from the audit trail.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import average_precision_score, roc_auc_score

from driftline.alerts.monitor_run import alert_for
from driftline.config.settings import Settings
from driftline.data.ingest import log_labels, log_predictions
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import MODELS_TABLE, Store, version_index_name
from driftline.devtools.simulate import Simulation
from driftline.lifecycle.audit import DECISIONS_TABLE, champion_takeovers
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.monitor import MonitorRun, run_monitor
from driftline.monitoring.runs import RUNS_TABLE, list_runs
from driftline.sdk import log_predictions as sdk_log_predictions
from driftline.specs import ModelSpec, load_spec, parse_spec
from tests.conftest import cli_runner
from tests.simdata import baseline_from, day_of, scenario

KEY = "v" * 32
PSEUDO = Pseudonymizer(KEY.encode())
START = datetime(2026, 9, 1, tzinfo=UTC)


def end_of(day: int) -> datetime:
    """The end of the daily window that covers simulated day ``day``."""
    return START + timedelta(days=day + 1)


def world() -> Simulation:
    return scenario("stable", days=20)


def worse(scores: pd.Series) -> np.ndarray:
    """Version 1's scores: half noise (a lower ROC AUC, another distribution)."""
    noise = np.random.default_rng(5).uniform(0, 1, len(scores))
    return np.round((scores.to_numpy() + noise) / 2, 5)


@pytest.fixture(scope="module")
def vspec() -> ModelSpec:
    """The shipped spec with a 3-day performance window (7-day label delay)."""
    from tests.conftest import SPECS_DIR

    data = load_spec(SPECS_DIR / "purchase_propensity.yaml").model_dump(
        exclude={"source"}, mode="json"
    )
    data["monitoring"]["performance"]["window"] = "3d"
    return parse_spec(data)


def takeover(store: Store, spec: ModelSpec, version: str, at: datetime) -> None:
    """An audit row as a promotion writes it, at a chosen time (the simulated past)."""
    table = store.table(DECISIONS_TABLE)
    with store.engine.begin() as conn:
        conn.execute(
            table.insert().values(
                model=spec.name,
                action="promote",
                outcome="promoted",
                challenger_version=version,
                champion_after=version,
                triggered_by="test",
                reason="test",
                created_at=at,
            )
        )


def load_world(store: Store, spec: ModelSpec) -> dict[str, pd.DataFrame]:
    sim = world()
    day = day_of(sim)
    preds = sim.predictions
    parts = {
        "empty": preds[day <= 2].assign(score=np.nan),
        "rule": preds[(day >= 3) & (day <= 4)],
        "v1": preds[(day >= 5) & (day <= 11)].assign(score=lambda f: worse(f["score"])),
        "v2": preds[day >= 12],
    }
    log_predictions(store, spec, parts["empty"], PSEUDO, source="bootstrap")
    log_predictions(store, spec, parts["rule"], PSEUDO, source="rule")
    log_predictions(store, spec, parts["v1"], PSEUDO, source="v1", model_version="1")
    log_predictions(store, spec, parts["v2"], PSEUDO, source="v2")
    log_labels(store, spec, sim.labels)
    takeover(store, spec, "1", START + timedelta(days=5))
    takeover(store, spec, "2", START + timedelta(days=12))
    return parts


def v1_baseline(spec: ModelSpec, rows: pd.DataFrame) -> Baseline:
    labelled = rows.merge(world().labels[["request_id", "purchased_7d"]], on="request_id")
    y, p = labelled["purchased_7d"], labelled["score"]
    return Baseline(
        model=spec.name,
        version="1",
        reference=labelled[[*spec.model.features.all, "score"]].reset_index(drop=True),
        schema=spec.column_types,
        metrics={
            "roc_auc": float(roc_auc_score(y, p)),
            "pr_auc": float(average_precision_score(y, p)),
        },
    )


# -- the column and its index -----------------------------------------------------------------


def version_indexes(store: Store, spec: ModelSpec) -> list[str]:
    table = store.predictions_table_name(spec)
    with store.engine.connect() as conn:
        return [
            str(i["name"])
            for i in sa.inspect(conn).get_indexes(table)
            if i["column_names"] == ["model_version"]
        ]


def test_a_new_table_has_an_indexed_version_column(store: Store, spec: ModelSpec) -> None:
    store.ensure_model(spec)
    store.ensure_model(spec)  # idempotent
    assert version_indexes(store, spec) == [version_index_name(spec)]


def test_a_table_from_before_versions_gets_the_column_and_its_index(
    store: Store, spec: ModelSpec
) -> None:
    """The table and its ``dl_models`` row exactly as driftline made them before
    ``model_version`` existed, with rows in it; opening the model again extends both."""
    name = store.predictions_table_name(spec)
    columns = {c: "float" if t == "numerical" else "text" for c, t in spec.column_types.items()}
    columns[spec.model.prediction] = "float"
    old = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("entity_key", sa.String(64), nullable=False, index=True),
        sa.Column("ts_us", sa.BigInteger, nullable=False, index=True),
        sa.Column("consent", sa.Boolean, nullable=True),
        *(sa.Column(c, sa.Float() if t == "float" else sa.Text()) for c, t in columns.items()),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    with store.engine.begin() as conn:
        old.create(conn)
        conn.execute(
            store.table(MODELS_TABLE)
            .insert()
            .values(
                name=spec.name,
                table_name=name,
                columns_json=json.dumps(columns, sort_keys=True),
                created_at=datetime.now(UTC),
            )
        )
        conn.execute(
            old.insert().values(
                request_id="old-1",
                entity_key="e",
                ts_us=1,
                consent=True,
                **dict.fromkeys(columns, None),
            )
        )
    reopened = Store(store.engine.url.render_as_string(hide_password=False))
    try:
        preds = world().predictions.head(5)
        log_predictions(reopened, spec, preds, PSEUDO, model_version=3)
        assert version_indexes(reopened, spec) == [version_index_name(spec)]
        rows = reopened.read_predictions(spec)
        versions = dict(zip(rows["request_id"], rows["model_version"], strict=True))
        assert versions["old-1"] is None
        assert {versions[r] for r in preds["request_id"]} == {"3"}
        reopened.ensure_model(spec)  # nothing left to add: no error, one index
        assert version_indexes(reopened, spec) == [version_index_name(spec)]
    finally:
        reopened.dispose()


def test_versions_and_empty_scores_are_stored_and_read_back(store: Store, spec: ModelSpec) -> None:
    """The bulk path of each database (ADBC + COPY on PostgreSQL) with the new column."""
    preds = world().predictions.head(300).copy()
    preds["model_version"] = ["7"] * 100 + [None] * 200
    preds.loc[preds.index[250:], "score"] = np.nan  # unversioned rows may lack a score
    assert log_predictions(store, spec, preds, PSEUDO).inserted == 300
    rows = store.read_predictions(spec).set_index("request_id").loc[preds["request_id"]]
    assert rows["model_version"].tolist() == ["7"] * 100 + [None] * 200
    assert rows["score"].isna().tolist() == [False] * 250 + [True] * 50


def registered(settings: Settings, spec: ModelSpec, versions: int) -> None:
    """Register versions 1..``versions`` of the model (ingestion checks a version exists)."""
    from driftline.lifecycle.registry import Registry

    client = Registry.from_settings(settings).client
    client.create_registered_model(spec.name)
    folder = settings.resolved_home / "dummy-model"
    folder.mkdir(exist_ok=True)
    for _ in range(versions):
        client.create_model_version(spec.name, source=folder.as_uri())


def test_csv_and_sdk_ingestion_carry_the_version(
    store: Store,
    spec: ModelSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from driftline.config.settings import Settings
    from tests.conftest import SPECS_DIR

    url = store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", url)
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
    cli = cli_runner(monkeypatch, capsys)
    registered(Settings(home=tmp_path / "home", specs_dir=SPECS_DIR), spec, 6)
    preds = world().predictions
    csv = tmp_path / "preds.csv"
    batch = preds.iloc[:40].copy()
    batch["model_version"] = ["4"] * 30 + [""] * 10
    batch.to_csv(csv, index=False)
    code, text = cli("ingest", "predictions", str(csv), "--model", spec.name)
    assert code == 0, text
    clashing = tmp_path / "clash.csv"
    preds.iloc[40:50].assign(model_version="4").to_csv(clashing, index=False)
    code, text = cli(
        "ingest", "predictions", str(clashing), "--model", spec.name, "--model-version", "5"
    )
    assert code == 2 and "10 rows name another version than model_version='5'" in text
    settings = Settings(
        home=tmp_path / "home", specs_dir=SPECS_DIR, database_url=url, pseudonym_key=KEY
    )
    assert (
        sdk_log_predictions(
            spec.name, preds.iloc[50:60], model_version=6, settings=settings
        ).inserted
        == 10
    )
    rows = store.read_predictions(spec).set_index("request_id")
    assert len(rows) == 50  # the clashing file wrote nothing
    stored = pd.concat([preds["request_id"].iloc[:40], preds["request_id"].iloc[50:60]])
    assert rows.loc[stored, "model_version"].tolist() == ["4"] * 30 + [None] * 10 + ["6"] * 10


# -- monitor runs across a promotion ------------------------------------------------------------


def test_across_a_promotion_each_version_is_judged_by_its_own_predictions(
    store: Store, vspec: ModelSpec
) -> None:
    parts = load_world(store, vspec)
    sim = world()
    v1 = v1_baseline(vspec, parts["v1"][day_of(sim)[parts["v1"].index] <= 7])
    v2 = baseline_from(sim, vspec, 12, 14, version="2")
    others = {"1": v1}.__getitem__
    assert [t.version for t in champion_takeovers(store, vspec.name)] == ["1", "2"]

    def monitor(day: int, baseline: Baseline = v2) -> MonitorRun:
        run = run_monitor(store, vspec, baseline, end_of(day), baseline_of=others)
        assert run.error is None, run.error
        return run

    # Bootstrap windows (no score, then a rule's scores before any champion): never judged.
    for day in (2, 4):
        quiet = monitor(day)
        assert (quiet.status, quiet.result) == ("insufficient_data", None)
        assert "never monitored" in quiet.decision.reasons[0]
        assert alert_for(quiet, vspec) is None

    # The day after the promotion: the window is v2's (by time), its labelled week v1's.
    after = monitor(13)
    assert (after.status, after.action) == ("ok", "none"), after.decision.reasons
    result = after.result
    assert result is not None and result.prediction_version == "2"
    assert result.performance is not None and result.performance.version == "2"
    assert result.performance.labelled_rows == 0  # v2's labels have not matured yet
    [old] = result.other_performance
    assert old.version == "1" and old.baseline == v1.metrics and old.labelled_rows > 2500
    # Against v2's validation, v1's predictions would have raised a performance alarm.
    assert (
        v2.metrics["roc_auc"] - old.metrics["roc_auc"]
        > vspec.monitoring.performance.max_drop["roc_auc"]
    )
    assert any(
        "labelled predictions were made by no known model" in r for r in after.decision.reasons
    )
    assert alert_for(after, vspec) is None

    # A window v1 served, checked now that v2 is champion: v1's scores against v1's reference.
    backfilled = monitor(11)
    assert backfilled.result is not None and backfilled.result.prediction_version == "1"
    assert not backfilled.result.prediction_drift and backfilled.action == "none"

    # A week later v2's own predictions have matured: v2 is judged against its validation.
    later = monitor(19)
    assert later.result is not None and later.result.performance is not None
    assert later.result.performance.version == "2"
    assert later.result.performance.labelled_rows > 1500
    assert later.action == "none", later.decision.reasons
    # ... and a real drop of the champion's own performance still asks for a retrain.
    proud = replace(v2, metrics={"roc_auc": 0.95, "pr_auc": 0.9})
    fell = monitor(19, proud)
    assert fell.action == "retrain" and "performance_drop" in fell.decision.triggers
    assert any("of champion v2 is" in r for r in fell.decision.reasons)

    stored = {r.id: r for r in list_runs(store, vspec.name)}
    record = stored[after.run_id]
    assert record.realized is not None and record.realized.version == "2"
    assert [o.version for o in record.other_realized] == ["1"]
    assert stored[fell.run_id].realized.version == "2"  # type: ignore[union-attr]


def test_runs_stored_before_versions_still_load(store: Store, spec: ModelSpec) -> None:
    runs = store.table(RUNS_TABLE)
    performance = {"labelled_rows": 900, "positives": 200, "metrics": {"roc_auc": 0.61}}
    with store.engine.begin() as conn:
        conn.execute(
            runs.insert().values(
                model=spec.name,
                window_start=START,
                window_end=end_of(0),
                status="ok",
                decision="none",
                severity="none",
                reasons_json="[]",
                triggers_json="[]",
                rows_labelled=900,
                performance_json=json.dumps({**performance, "baseline": {"roc_auc": 0.7}}),
                created_at=datetime.now(UTC),
            )
        )
    [run] = list_runs(store, spec.name)
    assert run.realized is not None and run.realized.version is None
    assert run.realized.metrics == {"roc_auc": 0.61} and run.other_realized == []


def test_a_version_the_registry_does_not_have_is_refused_before_anything_is_written(
    tmp_path: Path, spec: ModelSpec
) -> None:
    """A typo in the version would judge every row against nothing: refused, none stored."""
    from driftline.config.errors import RegistryError
    from tests.conftest import SPECS_DIR

    settings = Settings(home=tmp_path / "home", specs_dir=SPECS_DIR, pseudonym_key=KEY)
    registered(settings, spec, 1)
    batch = world().predictions.iloc[:20]
    with pytest.raises(RegistryError, match="has no version 7"):
        sdk_log_predictions(spec.name, batch, model_version=7, settings=settings)
    assert sdk_log_predictions(spec.name, batch, model_version=1, settings=settings).inserted == 20

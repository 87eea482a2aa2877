"""Lifecycle alerts end to end under the session's Prefect harness, with real MLflow, a
SQLite store and the local receiver standing in for Slack: retrain-model announces its
start and its outcome (promoted, or rejected with the failing gates), the CLI alerts on
promote and rollback, and a flow that fails alerts through its on_failure hook, which
itself never raises."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from driftline.flows.hooks import ALERTED_FAILURE, alert_on_failure
from driftline.flows.retrain import retrain_model
from typer.testing import CliRunner

from driftline.alerts.outbox import list_entries
from driftline.cli.main import app
from driftline.config.settings import Settings
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver
from driftline.specs import find_spec
from tests.lifecycle_data import CHAMPION_DAY, day, load, world

REPO_SPEC = Path(__file__).resolve().parents[2] / "monitors" / "purchase_propensity.yaml"
KEY = "a" * 32


def _write_spec(folder: Path, name: str, **promotion: Any) -> None:
    data = yaml.safe_load(REPO_SPEC.read_text())
    data["model"]["name"] = name
    data["promotion"].update(promotion)
    data["training"]["n_threads"] = 1  # see tests/lifecycle_data.variant
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """pp_alerted (default gates), pp_strict (a floor no model reaches) with traffic;
    pp_empty has a spec and no data at all, so its retrain fails."""
    root = tmp_path_factory.mktemp("lifecycle-alerts")
    specs = root / "monitors"
    specs.mkdir()
    _write_spec(specs, "pp_alerted")
    _write_spec(specs, "pp_strict", min_primary_metric=0.99)
    _write_spec(specs, "pp_empty")
    settings = Settings(home=root / "home", specs_dir=specs, pseudonym_key=KEY)
    store = Store.from_settings(settings)
    sim = world("concept_drift")
    for name in ("pp_alerted", "pp_strict"):
        load(
            store, find_spec(name, specs), Pseudonymizer(KEY.encode()), sim.predictions, sim.labels
        )
    store.dispose()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_HOME", str(settings.home))
        mp.setenv("DRIFTLINE_SPECS_DIR", str(specs))
        mp.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
        mp.delenv("DRIFTLINE_DATABASE_URL", raising=False)
        mp.delenv("DRIFTLINE_MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("DRIFTLINE_WEBHOOK_URL", raising=False)
        yield settings


@pytest.fixture
def slack(home: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalReceiver]:
    with LocalReceiver() as rx:
        monkeypatch.setenv("DRIFTLINE_SLACK_WEBHOOK_URL", rx.url)
        yield rx


def _messages(rx: LocalReceiver, model: str) -> list[dict[str, Any]]:
    """Slack payloads about ``model``, each with its header, sections and fields as text."""
    found = []
    for payload in rx.payloads():
        header = payload["blocks"][0]["text"]["text"]
        if f" · {model} · " not in header:
            continue
        texts = []
        for block in payload["blocks"][1:]:
            if "text" in block:
                texts.append(block["text"]["text"])
            texts += [f["text"] for f in block.get("fields", [])]
            texts += [e["text"] for e in block.get("elements", [])]
        found.append({"header": header, "body": "\n".join(texts), "text": payload["text"]})
    return found


def _kinds(settings: Settings, model: str) -> list[tuple[str, str, str]]:
    store = Store.from_settings(settings)
    try:
        entries = sorted(list_entries(store, model=model), key=lambda e: e.id)
        return [(e.kind, e.severity, e.status) for e in entries]
    finally:
        store.dispose()


def test_retrain_announces_its_start_and_the_promotion(
    home: Settings, slack: LocalReceiver
) -> None:
    sim = world("concept_drift")
    first = retrain_model(
        model="pp_alerted", reason="bootstrap", as_of=day(sim, CHAMPION_DAY), return_state=True
    )
    assert first.name == "Promoted", first.message
    outcome = retrain_model(model="pp_alerted", reason="drift", monitor_run_id="17")
    assert outcome.status == "promoted", outcome.reason

    started, promoted_first, restarted, promoted = _messages(slack, "pp_alerted")
    assert started["header"].endswith("INFO · pp_alerted · Retrain started (bootstrap)")
    assert "no champion yet" in started["body"]
    assert promoted_first["header"].endswith("Challenger v1 promoted to champion (first model)")
    assert "monitor run #17 asked for it" in restarted["body"]
    assert "*Monitor run*\n#17" in restarted["body"]

    assert promoted["header"].endswith(
        "pp_alerted · Challenger v2 promoted to champion (replacing v1)"
    )
    body = promoted["body"]
    assert "*Champion before*\nv1" in body and "*Champion now*\nv2" in body
    roc = outcome.report.gate("floor").observed
    diff = outcome.report.gate("improvement").observed
    assert f"*roc_auc*\n{roc:.4f} (champion v1 {roc - diff:.4f}, {diff:+.4f})" in body
    # the Prefect flow run is linked; MLflow on SQLite: the version under driftline ui's
    # MLflow UI (DRIFTLINE_MLFLOW_UI_URL's default)
    assert "|Prefect flow run>" in body and "/runs/flow-run/" in body
    assert "<http://127.0.0.1:5000/#/models/pp_alerted/versions/2|MLflow model version>" in body
    assert _kinds(home, "pp_alerted") == [
        ("retrain_started", "info", "sent"),
        ("promoted", "info", "sent"),
        ("retrain_started", "info", "sent"),
        ("promoted", "info", "sent"),
    ]

    # `driftline rollback` alerts too, with the URL from the environment
    result = CliRunner().invoke(app, ["rollback", "--model", "pp_alerted", "--reason", "test"])
    assert result.exit_code == 0, result.output
    assert "slack sent" in result.output and slack.url not in result.output
    rollback = _messages(slack, "pp_alerted")[-1]
    assert rollback["header"].endswith("WARNING · pp_alerted · Rolled back from v2 to v1")
    assert "v2 rolled back to v1: test" in rollback["body"]


def test_a_rejection_names_the_failing_gates_with_their_numbers(
    home: Settings, slack: LocalReceiver
) -> None:
    sim = world("concept_drift")
    state = retrain_model(
        model="pp_strict", reason="bootstrap", as_of=day(sim, CHAMPION_DAY), return_state=True
    )
    assert state.name == "Rejected", state.message
    auc = state.result().report.gate("floor").observed
    started, rejected = _messages(slack, "pp_strict")
    assert "Retrain started (bootstrap)" in started["header"]
    assert rejected["header"].endswith(
        "WARNING · pp_strict · Challenger v1 rejected by 1 gate; there is still no champion"
    )
    assert "*Failing gates*\n• *floor*: roc_auc " in rejected["body"]
    assert f"(value {auc:.3g}, threshold 0.99)" in rejected["body"]
    assert "improvement" not in rejected["body"].split("*Failing gates*")[1].split("\n")[1]

    # `driftline promote` judges the same challenger again: rejected, exit 1, alerted
    result = CliRunner().invoke(app, ["promote", "--model", "pp_strict"])
    assert result.exit_code == 1, result.output
    assert "slack sent" in result.output
    again = _messages(slack, "pp_strict")[-1]
    assert "rejected by 1 gate" in again["header"] and "*floor*" in again["body"]


def test_a_failing_flow_alerts_through_its_hook(home: Settings, slack: LocalReceiver) -> None:
    state = retrain_model(model="pp_empty", reason="manual", return_state=True)
    assert state.is_failed()
    started, failed = _messages(slack, "pp_empty")
    assert "Retrain started (manual)" in started["header"]
    assert failed["header"].startswith(":rotating_light: CRITICAL · pp_empty · Flow retrain-model")
    assert "*Flow*\nretrain-model" in failed["body"]
    assert "DataError: the store holds no predictions for 'pp_empty'" in failed["body"]
    assert "|Prefect flow run>" in failed["body"]
    assert _kinds(home, "pp_empty") == [
        ("retrain_started", "info", "sent"),
        ("flow_failed", "critical", "sent"),
    ]


class _Flow:
    name = "monitor-model"


def _flow_run(model: str) -> Any:
    from prefect.client.schemas.objects import FlowRun

    return FlowRun(
        id=uuid.uuid4(), name="test-run", flow_id=uuid.uuid4(), parameters={"model": model}
    )


def test_the_hook_skips_an_alerted_failure_and_never_raises(
    home: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from prefect.states import Failed

    alert_on_failure(_Flow(), _flow_run("pp_hooked"), Failed(name=ALERTED_FAILURE, message="x"))
    assert _kinds(home, "pp_hooked") == []

    monkeypatch.setenv(
        "DRIFTLINE_DATABASE_URL", "postgresql+psycopg://driftline:pw-s3cret@127.0.0.1:9/none"
    )
    with caplog.at_level(logging.ERROR, logger="driftline.alerts.lifecycle"):
        alert_on_failure(_Flow(), _flow_run("pp_hooked"), Failed(message="boom"))
    assert "could not record the flow_failed alert of pp_hooked" in caplog.text
    assert "pw-s3cret" not in caplog.text

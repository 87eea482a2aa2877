"""The retrain-model flow under the session's Prefect test harness, with real MLflow and
a SQLite store in a temporary home: bootstrap, a better challenger after concept drift,
and the manual-approval gate (approved from the outside, or timing out)."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from driftline.flows.retrain import retrain_model

from driftline.config.settings import Settings
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.lifecycle.promotion import PromotionOutcome
from driftline.lifecycle.registry import CHAMPION, Registry
from driftline.specs import find_spec
from tests.lifecycle_data import CHAMPION_DAY, assert_png, day, load, world

REPO_SPEC = Path(__file__).resolve().parents[2] / "monitors" / "purchase_propensity.yaml"
KEY = "f" * 32
OWN_TRAINER = "tests.user_trainers:logistic"


def _write_spec(folder: Path, name: str, manual_approval: bool, trainer: str = "") -> None:
    data = yaml.safe_load(REPO_SPEC.read_text())
    data["model"]["name"] = name
    data["promotion"]["manual_approval"] = manual_approval
    if trainer:
        data["training"]["trainer"] = trainer
    data["training"]["n_threads"] = 1  # see tests/lifecycle_data.variant
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A home with four models' traffic, and the environment pointing at it."""
    root = tmp_path_factory.mktemp("retrain-flow")
    specs = root / "monitors"
    specs.mkdir()
    _write_spec(specs, "pp_auto", manual_approval=False)
    _write_spec(specs, "pp_approved", manual_approval=True)
    _write_spec(specs, "pp_unanswered", manual_approval=True)
    _write_spec(specs, "pp_own", manual_approval=False, trainer=OWN_TRAINER)
    settings = Settings(home=root / "home", specs_dir=specs, pseudonym_key=KEY)
    store = Store.from_settings(settings)
    sim = world("concept_drift")
    for name in ("pp_auto", "pp_approved", "pp_unanswered", "pp_own"):
        load(
            store, find_spec(name, specs), Pseudonymizer(KEY.encode()), sim.predictions, sim.labels
        )
    store.dispose()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_HOME", str(settings.home))
        mp.setenv("DRIFTLINE_SPECS_DIR", str(specs))
        mp.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
        yield settings


def _champion(settings: Settings, name: str) -> str | None:
    return Registry.from_settings(settings).version_by_alias(
        find_spec(name, settings.specs_dir), CHAMPION
    )


def test_flow_bootstraps_a_champion_then_promotes_the_better_challenger(home: Settings) -> None:
    sim = world("concept_drift")
    first = retrain_model(
        model="pp_auto", reason="bootstrap", as_of=day(sim, CHAMPION_DAY), return_state=True
    )
    assert first.is_completed() and first.name == "Promoted"
    assert first.result().status == "promoted"
    assert "first model" in first.message

    # Called plainly (as a parent flow does), it returns the outcome to branch on.
    outcome = retrain_model(model="pp_auto", reason="drift")
    assert isinstance(outcome, PromotionOutcome)
    assert outcome.status == "promoted", outcome.reason
    assert (outcome.champion_before, outcome.champion_after) == ("1", "2")
    assert outcome.triggered_by.startswith("flow:retrain-model/")
    assert _champion(home, "pp_auto") == "2"

    from prefect.artifacts import Artifact

    artifact = Artifact.get("gate-report-pp-auto")
    assert artifact is not None
    assert "improvement" in str(artifact.data) and "promoted" in str(artifact.data)
    # the benchmark's pictures, inline (PNG data URIs), with the alt text naming each
    images = re.findall(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", artifact.data)
    assert sorted(alt for alt, _ in images) == ["calibration", "pr", "roc", "segments"]
    for _, data in images:
        assert_png(base64.b64decode(data))


def test_flow_rejects_when_nobody_approves_in_time(home: Settings) -> None:
    sim = world("concept_drift")
    state = retrain_model(
        model="pp_unanswered",
        reason="bootstrap",
        as_of=day(sim, CHAMPION_DAY),
        approval_timeout_seconds=2,
        return_state=True,
    )
    outcome = state.result()
    assert state.name == "Rejected"
    assert outcome.status == "rejected"
    assert [g.name for g in outcome.report.failed] == ["manual_approval"]
    assert "timeout" in outcome.report.gate("manual_approval").reason
    assert _champion(home, "pp_unanswered") is None


def test_flow_promotes_when_a_person_approves(home: Settings) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )
    from prefect.flow_runs import resume_flow_run

    sim = world("concept_drift")
    box: dict[str, Any] = {}

    def run() -> None:
        box["state"] = retrain_model(
            model="pp_approved",
            reason="bootstrap",
            as_of=day(sim, CHAMPION_DAY),
            approval_timeout_seconds=120,
            return_state=True,
        )

    worker = threading.Thread(target=run)
    worker.start()
    paused = FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"])))
    deadline = time.monotonic() + 100
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and worker.is_alive():
            runs = client.read_flow_runs(flow_run_filter=paused)
            if runs:
                resume_flow_run(
                    runs[0].id,
                    run_input={"approve": True, "reviewer": "alice", "comment": "looks right"},
                )
                break
            time.sleep(0.5)
    worker.join(timeout=120)
    state = box["state"]
    assert state.name == "Promoted", state.message
    gate = state.result().report.gate("manual_approval")
    assert (gate.status, gate.reason) == ("passed", "approved by alice: looks right")
    assert _champion(home, "pp_approved") == "1"


def test_flow_trains_with_your_own_trainer(home: Settings) -> None:
    sim = world("concept_drift")
    state = retrain_model(
        model="pp_own", reason="bootstrap", as_of=day(sim, CHAMPION_DAY), return_state=True
    )
    assert state.name == "Promoted", state.message
    spec = find_spec("pp_own", home.specs_dir)
    info = Registry.from_settings(home).version(spec, "1")
    assert info.tags["driftline.trainer"] == OWN_TRAINER
    assert info.aliases == (CHAMPION,)

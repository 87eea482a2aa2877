"""``monitoring.policy.retrain`` in the monitor-model flow, under the session's Prefect test
harness with real MLflow champions: ``never`` alerts that a retrain is recommended and
trains nothing; ``approve`` trains and benchmarks, then waits for a person before the
champion alias can move (nobody answers here: the challenger is rejected at the timeout).

Day 35 of the lifecycle world: realized performance fell (concept drift from day 21), so
the policy wants a retrain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from driftline.flows.monitor import monitor_model_flow

from driftline.alerts.outbox import list_entries
from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.lifecycle import audit
from driftline.lifecycle.registry import CHAMPION, Registry
from driftline.specs import find_spec
from tests.simdata import iso_day, monitored_home

KEY = "r" * 32


def _set_policy(specs: Path, name: str, retrain: str, **promotion: object) -> None:
    path = specs / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    data["monitoring"]["policy"]["retrain"] = retrain
    data["promotion"].update(promotion)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("retrain-policy")
    settings = monitored_home(root, KEY, champions=["pp_never", "pp_approve"], orphans=[])
    _set_policy(settings.specs_dir, "pp_never", "never")
    # 0.001 h: the flow's approval pause times out after 3 s.
    _set_policy(settings.specs_dir, "pp_approve", "approve", approval_timeout_hours=0.001)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_HOME", str(settings.home))
        mp.setenv("DRIFTLINE_SPECS_DIR", str(settings.specs_dir))
        mp.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
        mp.delenv("DRIFTLINE_SLACK_WEBHOOK_URL", raising=False)
        mp.delenv("DRIFTLINE_WEBHOOK_URL", raising=False)
        yield settings


def _versions(settings: Settings, name: str) -> set[str]:
    spec = find_spec(name, settings.specs_dir)
    return {v.version for v in Registry.from_settings(settings).versions(spec)}


def test_never_alerts_a_recommended_retrain_and_trains_nothing(home: Settings) -> None:
    summary = monitor_model_flow(model="pp_never", window_end=iso_day(35), retrain_via="subflow")
    assert summary["decision"] == "alert", summary["reasons"]
    assert {"performance_drop", "retrain_recommended"} <= set(summary["triggers"])
    assert summary["action_taken"] == "alert"
    assert any(r.startswith("retrain recommended, not started") for r in summary["reasons"])
    assert _versions(home, "pp_never") == {"1"}
    store = Store.from_settings(home)
    alerts = list_entries(store, model="pp_never")
    assert [(a.kind, a.severity) for a in alerts] == [("performance", "critical")]
    assert alerts[0].payload()["blocks"][0]["text"]["text"].endswith("(retrain recommended)")
    store.dispose()


def test_approve_trains_and_benchmarks_but_moves_no_alias_without_a_person(
    home: Settings,
) -> None:
    spec = find_spec("pp_approve", home.specs_dir)
    assert spec.promotion.manual_approval is True  # forced on by retrain: approve
    summary = monitor_model_flow(model="pp_approve", window_end=iso_day(35), retrain_via="subflow")
    assert summary["decision"] == "retrain", summary["reasons"]
    assert summary["action_taken"] == "alert, retrain: v2 rejected"
    assert _versions(home, "pp_approve") == {"1", "2"}
    assert Registry.from_settings(home).version_by_alias(spec, CHAMPION) == "1"
    store = Store.from_settings(home)
    decision = audit.recent_decisions(store, "pp_approve")[0]
    assert (decision.outcome, decision.challenger_version) == ("rejected", "2")
    gates = {g["name"]: g for g in decision.gate_report["gates"]}
    assert gates["manual_approval"]["status"] == "failed"
    assert "timeout" in gates["manual_approval"]["reason"]
    store.dispose()

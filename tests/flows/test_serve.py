"""Smoke test: every planned deployment loads as a Prefect runner deployment with its
schedule or trigger (what `driftline serve` serves)."""

from __future__ import annotations

from driftline.flows.serve import runner_deployments

from driftline.deployment_plan import plan_deployments
from driftline.specs import list_specs

from ..conftest import SPECS_DIR


def test_runner_deployments_carry_schedules_and_triggers() -> None:
    plan = plan_deployments(list_specs(SPECS_DIR))
    deployments = {d.name: d for d in runner_deployments(plan)}
    assert set(deployments) == {p.name for p in plan}
    monitor = deployments["purchase_propensity-monitor"]
    assert monitor.flow_name == "monitor-model"
    assert [s.schedule.cron for s in monitor.schedules] == ["0 6 * * *"]
    retrain = deployments["purchase_propensity-retrain"]
    assert retrain.flow_name == "retrain-model"
    assert not retrain.schedules
    (trigger,) = retrain.triggers
    assert trigger.expect == {"driftline.drift.detected"}
    assert trigger.parameters["monitor_run_id"] == "{{ event.payload.run_id }}"
    assert deployments["alerts-flush"].flow_name == "flush-alerts"

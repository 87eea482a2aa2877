from __future__ import annotations

import importlib

import yaml

from driftline.ops.deployments import DRIFT_EVENT, plan_deployments, render_prefect_yaml
from driftline.specs import list_specs

from ..conftest import REPO, SPECS_DIR


def test_every_model_gets_a_scheduled_monitor_and_a_triggered_retrain() -> None:
    specs = list_specs(SPECS_DIR)
    plan = {d.name: d for d in plan_deployments(specs)}
    for spec in specs:
        monitor = plan[f"{spec.name}-monitor"]
        assert monitor.cron == spec.monitoring.schedule
        assert monitor.parameters == {"model": spec.name}
        retrain = plan[f"{spec.name}-retrain"]
        assert retrain.cron is None
        assert retrain.trigger_event == DRIFT_EVENT
        assert retrain.trigger_resource == f"driftline.model.{spec.name}"
        assert retrain.trigger_parameters["model"] == spec.name
    assert plan["alerts-flush"].cron


def test_committed_prefect_yaml_matches_the_specs() -> None:
    """deployments/prefect.yaml is generated: it must say what the specs say."""
    expected = render_prefect_yaml(plan_deployments(list_specs(SPECS_DIR)))
    committed = (REPO / "deployments" / "prefect.yaml").read_text()
    assert committed == expected, "run `driftline deployments render`"


def test_prefect_yaml_entrypoints_are_flows_of_the_installed_package() -> None:
    """Module paths, not checkout paths: prefect.yaml works without a clone."""
    from prefect import Flow

    document = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
    for deployment in document["deployments"]:
        module, _, function = deployment["entrypoint"].partition(":")
        assert module.startswith("driftline.flows."), deployment["entrypoint"]
        assert isinstance(getattr(importlib.import_module(module), function), Flow)
        assert deployment["work_pool"]["name"] == "driftline"

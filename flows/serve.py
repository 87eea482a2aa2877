"""Serve every planned deployment from one process (``driftline serve``): schedules and
event triggers work without a work pool or workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect.events import DeploymentEventTrigger

from driftline.ops.deployments import PlannedDeployment


def _flows() -> dict[str, Any]:
    from driftline.flows.alerts import flush_alerts
    from driftline.flows.monitor import monitor_model_flow
    from driftline.flows.retrain import retrain_model

    return {
        "monitor-model": monitor_model_flow,
        "retrain-model": retrain_model,
        "flush-alerts": flush_alerts,
    }


def runner_deployments(plan: Sequence[PlannedDeployment]) -> list[Any]:
    """Prefect runner deployments for the plan (schedules and triggers included)."""
    flows = _flows()
    deployments = []
    for item in plan:
        kwargs: dict[str, Any] = {
            "name": item.name,
            "parameters": item.parameters,
            "description": item.description,
            "tags": list(item.tags),
        }
        if item.cron:
            kwargs["cron"] = item.cron
        if item.trigger_event and item.trigger_resource:
            kwargs["triggers"] = [
                DeploymentEventTrigger(
                    expect={item.trigger_event},
                    match={"prefect.resource.id": item.trigger_resource},
                    parameters=item.trigger_parameters,
                )
            ]
        deployments.append(flows[item.flow].to_deployment(**kwargs))
    return deployments


def serve_plan(plan: Sequence[PlannedDeployment]) -> None:
    """Run the deployments' schedules and triggers in this process until interrupted."""
    from prefect import serve

    serve(*runner_deployments(plan))

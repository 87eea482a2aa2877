"""What runs when: the deployments that operate driftline, derived from the model specs.

One source of truth for both ways of running them: ``deployments/prefect.yaml`` (a
process work pool and workers; rendered from this plan by ``driftline deployments
render`` and checked against it by the tests) and ``driftline serve`` (one process, no
work pool). Per model: a monitor on the spec's cron schedule and a retrain deployment
started by that model's ``driftline.drift.detected`` event; plus a nightly alerts flush.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from driftline.specs import ModelSpec

DRIFT_EVENT = "driftline.drift.detected"
FLUSH_CRON = "30 2 * * *"
WORK_POOL = "driftline"
#: Where the flows are installed: deployments name them by module path
#: (``driftline.flows.monitor:monitor_model_flow``), so a worker needs the installed
#: package, not a checkout of this repository.
FLOWS_PACKAGE = "driftline.flows"
# The monitor run that asked for the retrain, from the drift event's payload. Prefect
# renders a template that is one expression to the value's own JSON type, and the
# monitor's run id is a number: without `| string` the server refuses the flow run
# (`monitor_run_id` is a string parameter) and the triggered retrain never starts.
MONITOR_RUN_ID_TEMPLATE = "{{ event.payload.run_id | string }}"
# Why the monitor asked (drift or performance), and the change point the retrain trains
# after (an ISO time, or null: Prefect renders a one-expression template to the value's
# JSON type). An event from elsewhere, without them, retrains for drift on the usual
# windows.
REASON_TEMPLATE = "{{ event.payload.retrain_reason | default('drift', true) }}"
SINCE_TEMPLATE = "{{ event.payload.change_point | default(None) }}"


def model_resource(model: str) -> str:
    """The Prefect event resource id of a model (what drift events are about)."""
    return f"driftline.model.{model}"


@dataclass(frozen=True)
class PlannedDeployment:
    """One deployment: which flow, with which parameters, started by what."""

    name: str
    flow: str
    entrypoint: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    trigger_event: str | None = None
    trigger_resource: str | None = None
    trigger_parameters: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def plan_deployments(specs: Sequence[ModelSpec]) -> list[PlannedDeployment]:
    """The deployments that operate every model in ``specs``."""
    plan: list[PlannedDeployment] = []
    for spec in sorted(specs, key=lambda s: s.name):
        plan.append(
            PlannedDeployment(
                name=f"{spec.name}-monitor",
                flow="monitor-model",
                entrypoint=f"{FLOWS_PACKAGE}.monitor:monitor_model_flow",
                description=f"Check {spec.name}'s latest window against its champion's baseline.",
                parameters={"model": spec.name},
                cron=spec.monitoring.schedule,
                tags=("driftline", "monitor", spec.name),
            )
        )
        plan.append(
            PlannedDeployment(
                name=f"{spec.name}-retrain",
                flow="retrain-model",
                entrypoint=f"{FLOWS_PACKAGE}.retrain:retrain_model",
                description=f"Retrain, benchmark and gate {spec.name} when its monitor "
                "decides to retrain.",
                parameters={"model": spec.name, "reason": "drift"},
                trigger_event=DRIFT_EVENT,
                trigger_resource=model_resource(spec.name),
                trigger_parameters={
                    "model": spec.name,
                    "reason": REASON_TEMPLATE,
                    "monitor_run_id": MONITOR_RUN_ID_TEMPLATE,
                    "since": SINCE_TEMPLATE,
                },
                tags=("driftline", "retrain", spec.name),
            )
        )
    plan.append(
        PlannedDeployment(
            name="alerts-flush",
            flow="flush-alerts",
            entrypoint=f"{FLOWS_PACKAGE}.alerts:flush_alerts",
            description="Send alerts still pending in the outbox.",
            cron=FLUSH_CRON,
            tags=("driftline", "alerts"),
        )
    )
    return plan


def render_prefect_yaml(
    plan: Sequence[PlannedDeployment],
    work_pool: str = WORK_POOL,
    *,
    path: str = "deployments/prefect.yaml",
) -> str:
    """The ``prefect.yaml`` of a process work pool, from the plan; ``path`` is where it is
    written relative to the project folder (named in its header: how to deploy it and
    render it again). Entrypoints are module paths of the installed package."""
    deployments = []
    for d in plan:
        item: dict[str, Any] = {
            "name": d.name,
            "description": d.description,
            "entrypoint": d.entrypoint,
            "tags": list(d.tags),
            "parameters": dict(d.parameters),
            "work_pool": {"name": work_pool},
        }
        if d.cron:
            item["schedules"] = [{"cron": d.cron, "timezone": "UTC", "active": True}]
        if d.trigger_event:
            item["triggers"] = [
                {
                    "type": "event",
                    "enabled": True,
                    "expect": [d.trigger_event],
                    "match": {"prefect.resource.id": d.trigger_resource},
                    "posture": "Reactive",
                    "threshold": 1,
                    "within": 0,
                    "parameters": dict(d.trigger_parameters),
                }
            ]
        deployments.append(item)
    document = {
        "name": "driftline",
        "prefect-version": "3.9.1",
        # Workers import the flows from the installed driftline package and run them in
        # the project folder named by DRIFTLINE_PROJECT_DIR (monitors/, dashboards/, .env);
        # on Kubernetes or Docker pools, replace this with a git_clone or image step.
        # `prefect deploy` substitutes `{{ $VAR }}` itself when VAR is set in its own
        # environment, baking the deployer's path in; unset there, the placeholder is
        # kept and each worker resolves it from its environment when a run starts.
        "pull": [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": "{{ $DRIFTLINE_PROJECT_DIR }}"
                }
            }
        ],
        "deployments": deployments,
    }
    render = "driftline deployments render" + (
        "" if path == "deployments/prefect.yaml" else f" --out {path}"
    )
    deploy = "prefect deploy --all" + ("" if path == "prefect.yaml" else f" --prefect-file {path}")
    header = (
        f"# Generated from monitors/*.yaml by `{render}`; do not edit.\n"
        f"# Deploy with: {deploy}\n"
        "# from the project folder, DRIFTLINE_PROJECT_DIR unset (each worker sets it to its\n"
        "# copy of the project folder; the flows come from the installed driftline package).\n"
        '# See driftline\'s README, "Deployments and scale-out".\n'
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=100)

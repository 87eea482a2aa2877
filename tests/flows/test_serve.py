"""Smoke test: every planned deployment loads as a Prefect runner deployment with its
schedule or trigger (what `driftline serve` serves), and the retrain trigger's
parameters render, the way the Prefect server renders them, into valid parameters."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from driftline.flows.retrain import retrain_model
from driftline.flows.serve import runner_deployments
from prefect.server.events.actions import RunDeployment
from prefect.server.events.schemas.events import ReceivedEvent
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate
from prefect.utilities.schema_tools.validation import is_valid

from driftline.ops.deployments import (
    DRIFT_EVENT,
    MONITOR_RUN_ID_TEMPLATE,
    model_resource,
    plan_deployments,
)
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
    assert trigger.parameters["monitor_run_id"] == MONITOR_RUN_ID_TEMPLATE
    assert deployments["alerts-flush"].flow_name == "flush-alerts"


def _rendered(parameters: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """What the server's run-deployment action makes of trigger parameters for an event."""
    event = ReceivedEvent.model_validate(
        {
            "occurred": datetime.now(UTC),
            "event": DRIFT_EVENT,
            "resource": {"prefect.resource.id": model_resource("purchase_propensity")},
            "payload": payload,
            "id": uuid.uuid4(),
        }
    )
    parameters = copy.deepcopy(parameters)
    RunDeployment._upgrade_v1_templates(parameters)
    context = HydrationContext(
        raise_on_error=True, render_jinja=True, jinja_context={"event": event}
    )
    return hydrate(parameters, context)


def test_drift_event_parameters_are_valid_retrain_parameters() -> None:
    """The monitor's payload carries the run id as a number; the flow takes a string."""
    plan = {p.name: p for p in plan_deployments(list_specs(SPECS_DIR))}
    parameters = plan["purchase_propensity-retrain"].trigger_parameters
    schema = parameter_schema(retrain_model).model_dump_for_openapi()
    rendered = _rendered(parameters, {"run_id": 42, "model": "purchase_propensity"})
    assert rendered == {"model": "purchase_propensity", "reason": "drift", "monitor_run_id": "42"}
    assert is_valid(rendered, schema)
    # an event from elsewhere, without a run id, still starts a retrain
    assert is_valid(_rendered(parameters, {}), schema)


def test_a_bare_payload_template_would_not_be_valid() -> None:
    """Why the template says `| string`: without it the server keeps the number and
    refuses to create the run, so a drift event would start nothing."""
    schema = parameter_schema(retrain_model).model_dump_for_openapi()
    bare = {"model": "purchase_propensity", "monitor_run_id": "{{ event.payload.run_id }}"}
    assert not is_valid(_rendered(bare, {"run_id": 42}), schema)

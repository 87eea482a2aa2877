"""``retrain-model``: train a challenger, benchmark it against the champion, judge it by
the spec's gates, then promote it or reject it.

Each step is one call into the core (driftline.training, benchmark, promotion). Only
the steps that talk to a store or the registry and can safely run twice are retried;
training is not (a retry would register a second version). When the spec asks for a
manual approval, the run pauses and waits for a person's answer in the Prefect UI; no
answer within the timeout rejects the challenger.

The flow returns a :class:`driftline.lifecycle.promotion.PromotionOutcome` (``outcome.status`` is
``promoted`` or ``rejected``) and ends in a Completed state named ``Promoted`` or
``Rejected`` whose message is the one-line reason.

Alerts: ``retrain_started`` once the spec is read, ``promoted`` or ``rejected`` (with the
failing gates) at the end, and ``flow_failed`` from the failure hook. Delivery trouble
never fails the run: unsent alerts wait in the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from driftline.flows.hooks import alert_on_failure, flow_run_url
from driftline.flows.names import retrain_run_name, tag_flow_run
from driftline.flows.secrets import channel_urls
from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Completed, Running, State
from pydantic import SecretStr

from driftline.alerts.lifecycle import announcer, delivery_note, retrain_started_alert
from driftline.alerts.message import Alert
from driftline.alerts.outbox import NotifyResult
from driftline.config.markup import markdown_text
from driftline.config.secrets import scrub
from driftline.context import Context
from driftline.data.claims import Claim
from driftline.lifecycle.benchmark import benchmark, figures_markdown
from driftline.lifecycle.gates import Approval, GateReport, evaluate_gates
from driftline.lifecycle.promotion import PromotionOutcome, apply_gate_report
from driftline.lifecycle.results import BenchmarkResult
from driftline.lifecycle.training import TrainingResult, claim_retrain, train
from driftline.sdk import notify_event, send_recorded
from driftline.specs import ModelSpec


class ApprovalInput(RunInput):
    """Approve or reject the challenger (every automatic gate has passed)."""

    approve: bool = False
    reviewer: str = ""
    comment: str = ""


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def load_spec(model: str) -> ModelSpec:
    """Read and validate monitors/<model>.yaml."""
    with Context.open() as ctx:
        return ctx.spec(model)


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def claim(
    spec: ModelSpec, triggered_by: str, monitor_run_id: str | None, request_id: str | None
) -> Claim | None:
    """Claim this retrain (once per monitor run or request id, in the store)."""
    with Context.open() as ctx:
        return claim_retrain(
            ctx.store,
            spec,
            owner=triggered_by,
            monitor_run_id=monitor_run_id,
            request_id=request_id,
        )


@task(cache_policy=NO_CACHE)
def train_challenger(
    spec: ModelSpec,
    reason: str,
    triggered_by: str,
    monitor_run_id: str | None,
    as_of: datetime | None,
    since: datetime | None,
    held: Claim | None,
) -> TrainingResult:
    """Fit the spec's pipeline on matured labels (after the change point ``since``, when
    given); register it as the challenger."""
    with Context.open() as ctx:
        return train(
            ctx.store,
            ctx.registry(),
            spec,
            reason=reason,
            triggered_by=triggered_by,
            monitor_run_id=monitor_run_id,
            as_of=as_of,
            since=since,
            held=held,
        )


@task(cache_policy=NO_CACHE)
def benchmark_challenger(spec: ModelSpec, version: str, as_of: datetime | None) -> BenchmarkResult:
    """Score challenger and champion on the newest out-of-time window."""
    with Context.open() as ctx:
        return benchmark(ctx.store, ctx.registry(), spec, challenger=version, as_of=as_of)


@task(cache_policy=NO_CACHE)
def judge(result: BenchmarkResult, spec: ModelSpec, approval: Approval | None) -> GateReport:
    """Apply the spec's gates to the benchmark (pure)."""
    return evaluate_gates(result, spec.promotion, approval=approval)


@task(retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def apply_decision(
    spec: ModelSpec, report: GateReport, triggered_by: str, link: str | None
) -> PromotionOutcome:
    """Move the aliases (promotion) or record the rejection; both audited, with their
    alert in the outbox (same transaction). A retry finishes an interrupted promotion
    and never records it twice."""
    with Context.open() as ctx:
        return apply_gate_report(
            ctx.store,
            ctx.registry(),
            spec,
            report,
            triggered_by=triggered_by,
            announce=announcer(ctx.settings, flow_run_url=link),
        )


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_report(report: GateReport, outcome: PromotionOutcome, result: BenchmarkResult) -> None:
    """The gate report as a markdown artifact of this run, with the benchmark's pictures
    (curves, calibration, per-segment bars) from its MLflow run."""
    with Context.open() as ctx:
        pictures = figures_markdown(ctx.registry(), result, ctx.settings.mlflow_ui())
    create_markdown_artifact(
        key=f"gate-report-{report.model.replace('_', '-')}",
        markdown=f"{report.to_markdown()}\n\n**Outcome: {outcome.status}.** "
        + markdown_text(outcome.reason)
        + (f"\n\n{pictures}" if pictures else ""),
        description=f"{outcome.status}: {report.model} v{report.challenger_version}",
    )


@task(name="alert-retrain-started", cache_policy=NO_CACHE)
def announce_start(alert: Alert) -> str:
    """Record and send the retrain-started alert (never fails the run)."""
    return _delivered(lambda urls: notify_event(alert, overrides=urls))


@task(name="alert-outcome", cache_policy=NO_CACHE)
def announce_outcome(outcome: PromotionOutcome) -> str:
    """Send the promoted / rejected alert recorded with the decision (never fails the run)."""
    return _delivered(lambda urls: send_recorded(outcome.alert_id, overrides=urls))


def _delivered(send: Callable[[dict[str, SecretStr]], NotifyResult | None]) -> str:
    """Run ``send`` with the channels' URLs from Secret blocks; log what became of the
    alert. An alert that cannot be sent waits in the outbox; one that cannot be recorded
    is logged."""
    logger = get_run_logger()
    try:
        note = delivery_note(send(channel_urls()))
    except Exception as exc:  # an alert must never fail a retrain or undo a promotion
        note = f"alert not raised: {type(exc).__name__}: {scrub(str(exc))}"
        logger.error(note)
        return note
    logger.info(note)
    return note


def wait_for_approval(report: GateReport, timeout_seconds: int) -> Approval:
    """Pause until a person answers in the Prefect UI; a timeout counts as a rejection."""
    logger = get_run_logger()
    logger.info("every automatic gate passed; waiting up to %ss for approval", timeout_seconds)
    try:
        answer = pause_flow_run(
            wait_for_input=ApprovalInput.with_initial_data(
                description=f"Promote {report.model} v{report.challenger_version}?\n\n"
                + report.to_markdown()
            ),
            timeout=timeout_seconds,
            poll_interval=max(1, min(10, timeout_seconds // 60)),
            key="manual-approval",
        )
    except FlowPauseTimeout:
        _take_back_expired_pause()
        return Approval(False, "timeout", f"no answer within {timeout_seconds}s")
    return Approval(bool(answer.approve), answer.reviewer or "someone", answer.comment)


def _take_back_expired_pause() -> None:
    """Prefect fails a run whose pause expired as soon as it proposes any other state;
    this run still has a rejection to record and a report to publish, so it sets itself
    back to Running (forced: the server refuses the normal transition)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            context.flow_run.id,
            Running(message="approval timed out: rejecting"),
            force=True,
        )


@flow(
    name="retrain-model",
    flow_run_name=retrain_run_name,
    log_prints=False,
    on_failure=[alert_on_failure],
    on_crashed=[alert_on_failure],
)
def retrain_model(
    model: str,
    reason: str = "manual",
    monitor_run_id: str | None = None,
    as_of: datetime | None = None,
    approval_timeout_seconds: int | None = None,
    since: datetime | None = None,
    request_id: str | None = None,
) -> State:
    """Train -> benchmark -> gates -> promote or reject. Returns the PromotionOutcome.

    ``reason``: one of :data:`driftline.lifecycle.training.TRAINING_REASONS` (a monitor
    passes its decision's: ``drift`` or ``performance``). ``since``: the change point the
    monitor located; the challenger is trained and benchmarked on data after it.

    Idempotent per ``monitor_run_id`` (or ``request_id``): a repeat delivery of the same
    request ends Completed, named ``AlreadyHandled``, saying which run handled it, with
    no data and nothing trained.

    The run is named ``retrain-<model>-<reason>`` and tagged ``model:<model>`` and
    ``reason:<reason>``, then ``outcome:<promoted|rejected>``."""
    logger = get_run_logger()
    tag_flow_run("driftline", "retrain", f"model:{model}", f"reason:{reason}")
    actor = f"flow:retrain-model/{flow_run.get_name() or flow_run.get_id()}"
    link = flow_run_url()
    spec = load_spec(model)
    held = claim(spec, actor, monitor_run_id, request_id)
    if held is not None and not held.won:
        what = f"request {request_id}" if request_id else f"monitor run #{monitor_run_id}"
        message = f"{model}: the retrain for {what} is not repeated: {held.describe()}"
        logger.info(message)
        return Completed(name="AlreadyHandled", message=message, data=None)
    announce_start(
        retrain_started_alert(
            spec.name,
            reason=reason,
            monitor_run_id=monitor_run_id,
            triggered_by=actor,
            as_of=as_of,
            flow_run_url=link,
            since=since,
        )
    )
    trained = train_challenger(spec, reason, actor, monitor_run_id, as_of, since, held)
    logger.info(trained.summary())
    result = benchmark_challenger(spec, trained.version, as_of)
    logger.info(result.summary())
    report = judge(result, spec, None)
    if report.pending:
        timeout = approval_timeout_seconds or int(spec.promotion.approval_timeout_hours * 3600)
        report = judge(result, spec, wait_for_approval(report, timeout))
    outcome = apply_decision(spec, report, actor, link)
    announce_outcome(outcome)
    publish_report(report, outcome, result)
    logger.info(outcome.reason)
    name = "Promoted" if outcome.promoted else "Rejected"
    tag_flow_run(f"outcome:{outcome.status}")
    return Completed(name=name, message=outcome.reason, data=outcome)

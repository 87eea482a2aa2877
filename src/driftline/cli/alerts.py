"""``driftline alerts``: flush the outbox, list it, and send a test alert.

Each channel's webhook URL comes from its environment variable (DRIFTLINE_SLACK_WEBHOOK_URL,
DRIFTLINE_WEBHOOK_URL, or the one a plugin channel names); URLs are secrets and no command
prints them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console

from driftline.cli.options import JsonOpt, ModelFilterOpt, ModelOpt
from driftline.cli.output import make_console, print_json, styled
from driftline.config.errors import AlertError
from driftline.config.secrets import scrub
from driftline.config.times import utc_now

app = typer.Typer(
    help="Alerts: deliver what is pending, look at the outbox, send a test message.",
    no_args_is_help=True,
)


def _console() -> Console:
    return make_console()  # per command, so COLUMNS and redirection are read when it runs


_STATUSES = ("pending", "sent", "failed", "suppressed")


def _say(console: Console, text: str, style: str | None = None) -> None:
    """Print counts and error texts as they are: no markup ("[Errno 111]"), no wrapping,
    and nothing that looks like a secret (rows stored before a URL was registered for
    redaction are scrubbed here too)."""
    console.print(scrub(text), style=style, soft_wrap=True)


def _totals(totals: dict[str, int]) -> str:
    return ", ".join(f"{totals.get(s, 0)} {s}" for s in _STATUSES)


@app.command("flush")
def flush_cmd(
    model: ModelFilterOpt = None,
    include_not_due: Annotated[
        bool,
        typer.Option("--all", help="Also try alerts still waiting out a retry backoff."),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Make failed alerts pending again first (e.g. after fixing a revoked URL).",
        ),
    ] = False,
    max_seconds: Annotated[
        float, typer.Option(min=1, help="Time budget of the whole flush, in seconds.")
    ] = 60.0,
) -> None:
    """Send every pending alert that is due; print what was sent and what is left."""
    from driftline.alerts.delivery import DeliveryPolicy
    from driftline.alerts.outbox import flush, requeue_failed
    from driftline.context import Context

    console = _console()
    with Context.open() as ctx:
        destinations = ctx.alert_destinations()
        if retry_failed:
            requeued = requeue_failed(ctx.store, model=model)
            _say(console, f"made {requeued} failed alerts pending again")
        with console.status("sending pending alerts"):
            result = flush(
                ctx.store,
                destinations,
                DeliveryPolicy(max_flush_seconds=max_seconds),
                include_not_due=include_not_due,
                model=model,
            )
    for entry_id in result.recorded_from_journal:
        _say(
            console,
            f"  #{entry_id} was delivered by an earlier flush that lost the store: "
            "recorded as sent now (not sent again)",
        )
    not_tried: dict[str, int] = {}
    for d in result.deliveries:
        if d.outcome == "not_attempted":
            not_tried[d.error] = not_tried.get(d.error, 0) + 1
        elif d.outcome != "sent":
            verdict = "failed" if d.outcome == "failed" else "left pending"
            _say(console, f"  #{d.entry_id} {d.channel} {verdict}: {d.error}")
    for reason, n in not_tried.items():
        _say(console, f"  {n} not tried: {reason}")
    _say(
        console,
        f"sent {result.sent}, failed {result.failed}, "
        f"left pending {result.retry_later + result.not_attempted}",
    )
    _say(console, f"outbox: {_totals(result.totals)}")


@app.command("list")
def list_cmd(
    status: Annotated[
        str | None,
        typer.Option(help="Only alerts in this status: pending, sent, failed, suppressed."),
    ] = None,
    model: ModelFilterOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (latest).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show the latest outbox rows: status, attempts, next attempt and last error."""
    from driftline.alerts.outbox import counts, list_entries
    from driftline.context import Context

    if status is not None and status not in _STATUSES:
        raise typer.BadParameter(f"choose one of {', '.join(_STATUSES)}", param_hint="--status")
    console = _console()
    with Context.open(read_only=True) as ctx:
        ctx.store.require_schema()
        entries = list_entries(ctx.store, status=status, model=model, limit=limit)  # type: ignore[arg-type]
        totals = counts(ctx.store, model=model)
    if as_json:
        rows = [{k: v for k, v in asdict(e).items() if k != "body"} for e in entries]
        print_json({"totals": totals, "alerts": rows})
        return
    _say(console, f"alerts outbox: {_totals(totals)}")
    if not entries:
        _say(console, "no alerts" + (f" with status {status}" if status else ""))
    for e in entries:
        state: str = e.status
        if e.attempts:
            state += f", {e.attempts} {'try' if e.attempts == 1 else 'tries'}"
        if e.status == "pending":
            state += f", next try {e.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
        _say(
            console,
            f"#{e.id}  {e.created_at:%Y-%m-%d %H:%M} UTC  {e.model}  {e.kind}/{e.severity}  "
            f"{e.channel}  {state}",
        )
        _say(console, f"    {e.title}")
        if e.last_error or e.note:
            _say(console, f"    {e.last_error or e.note}", "dim")


@app.command("test")
def test_cmd(
    model: ModelOpt,
    severity: Annotated[
        str, typer.Option(help="Severity of the test message: info, warning or critical.")
    ] = "info",
) -> None:
    """Send a test alert through the model's configured channels, now."""
    from driftline.alerts.channels import CHANNELS
    from driftline.alerts.message import Alert
    from driftline.alerts.outbox import enqueue, flush
    from driftline.context import Context

    if severity not in ("info", "warning", "critical"):
        raise typer.BadParameter("choose info, warning or critical", param_hint="--severity")
    console = _console()
    with Context.open() as ctx:
        spec = ctx.spec(model)
        destinations = ctx.alert_destinations()
        destinations.require(spec.alerts.channels)
        configured = [c for c in spec.alerts.channels if destinations.url(c) is not None]
        missing = [c for c in spec.alerts.channels if c not in configured]
        if not configured:
            variables = [CHANNELS.get(c).env_var for c in spec.alerts.channels]
            raise AlertError(
                f"no alert channel of model {model} has a URL (alerts.channels: "
                f"{', '.join(spec.alerts.channels) or 'none'}): set "
                f"{' and/or '.join(variables) or 'a channel in the spec and its URL'}"
            )
        for channel in missing:
            console.print(f"skipping {channel}: no URL configured", style="yellow")
        alert = Alert(
            model=model,
            kind="test",
            severity=severity,  # type: ignore[arg-type]
            title="Test alert",
            summary=f"If you can read this, driftline alerts for *{model}* reach this channel.",
            facts={"Sent by": "driftline alerts test", "At": f"{utc_now():%H:%M:%S} UTC"},
        )
        config = spec.alerts.model_copy(update={"enabled": True, "channels": configured})
        enqueued = enqueue(ctx.store, alert, config)
        result = flush(ctx.store, destinations, alert_id=alert.alert_id)
    outcomes = {d.entry_id: d for d in result.deliveries}
    problems = []
    for entry in enqueued.entries:
        delivery = outcomes.get(entry.id)
        if delivery is not None and delivery.outcome == "sent":
            console.print(styled(f"{entry.channel}: ", ("sent", "green"), f" (outbox #{entry.id})"))
        elif delivery is not None and delivery.outcome == "failed":
            problems.append(
                f"{entry.channel}: {delivery.error}; marked failed (after fixing the URL, "
                "`driftline alerts flush --retry-failed` sends it again)"
            )
        else:
            error = delivery.error if delivery is not None else "not tried"
            problems.append(
                f"{entry.channel}: {error}; left pending for the next `driftline alerts flush`"
            )
    if problems:
        # main() scrubs every DriftlineError's message on its way to the terminal
        raise AlertError("test alert not delivered: " + " | ".join(problems))

"""Model lifecycle commands: ``train``, ``benchmark``, ``promote``, ``rollback``, ``adopt``,
``models``.

Thin: parse, call driftline.training / benchmark / promotion / adopt, render with rich. A rejected
challenger is an expected outcome, not an error: ``promote`` then exits with code 1 (so a
CI job or a script can branch on it), errors exit with 2 as everywhere else. ``promote``
and ``rollback`` alert (promoted, rejected, rollback) to the webhooks of the environment;
an alert that cannot be sent waits in the outbox and never changes the exit code. ``adopt``
alerts like a promotion.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table

from driftline.cli.options import AsOfOpt, JsonOpt, ModelOpt
from driftline.cli.output import make_console, print_json, progress_bars, styled

if TYPE_CHECKING:
    from driftline.lifecycle.gates import GateReport

app = typer.Typer(no_args_is_help=True)
console = make_console()
PANEL = "Model lifecycle"


@app.command("train", rich_help_panel=PANEL)
def train_cmd(
    model: ModelOpt,
    reason: Annotated[
        str | None,
        typer.Option(
            help="Why: bootstrap, drift, performance, quality, manual or schedule. Default: "
            "bootstrap when the model has no champion yet, else manual."
        ),
    ] = None,
    monitor_run_id: Annotated[
        str | None,
        typer.Option(
            help="Id of the monitor run that asked for this retrain: it is trained once; "
            "a repeat says who trained it and does nothing."
        ),
    ] = None,
    request_id: Annotated[
        str | None,
        typer.Option(
            help="Your id for this retrain (e.g. a ticket): a repeat with the same id says "
            "who trained it and does nothing."
        ),
    ] = None,
    as_of: AsOfOpt = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            help="A change point (UTC): train and hold out only data after it, e.g. the "
            "change a monitor run located."
        ),
    ] = None,
) -> None:
    """Train a challenger on matured labels, log it and its baseline to MLflow."""
    from driftline.context import Context
    from driftline.lifecycle.promotion import default_actor
    from driftline.lifecycle.training import TRAINING_REASONS, claim_retrain, train
    from driftline.tasks import task_for

    if reason is not None and reason not in TRAINING_REASONS:
        raise typer.BadParameter(
            f"choose one of {', '.join(TRAINING_REASONS)}", param_hint="--reason"
        )
    actor = default_actor()
    with Context.open() as ctx, progress_bars(f"training {model}") as progress:
        spec = ctx.spec(model)
        held = claim_retrain(
            ctx.store, spec, owner=actor, monitor_run_id=monitor_run_id, request_id=request_id
        )
        if held is not None and not held.won:
            console.print(
                f"{spec.name}: this retrain was asked for before and is not repeated: "
                f"{held.describe()}"
            )
            return
        result = train(
            ctx.store,
            ctx.registry(),
            spec,
            reason=reason,
            triggered_by=actor,
            monitor_run_id=monitor_run_id,
            as_of=as_of,
            since=since,
            held=held,
            progress=progress,
        )
    w = result.windows
    table = Table(title=f"{result.model} version {result.version} is the challenger")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("reason", result.reason)
    table.add_row(
        "training window (UTC)", f"{w.train_start:%Y-%m-%d %H:%M} to {w.train_end:%Y-%m-%d %H:%M}"
    )
    table.add_row(
        "holdout for the benchmark",
        f"{w.holdout_start:%Y-%m-%d %H:%M} to {w.holdout_end:%Y-%m-%d %H:%M}",
    )
    for key in ("read", "unlabelled", "duplicates", "train_rows", "validation_rows"):
        table.add_row(f"rows: {key.replace('_', ' ')}", f"{result.counts[key]:,}")
    for key in task_for(spec.model).metrics:
        table.add_row(f"validation {key}", _num(result.metrics[key]))
    table.add_row("baseline reference rows", f"{result.baseline_rows:,}")
    table.add_row("MLflow run", result.run_id)
    console.print(table)
    console.print(f"next: `driftline benchmark --model {result.model}`")


@app.command("benchmark", rich_help_panel=PANEL)
def benchmark_cmd(
    model: ModelOpt,
    challenger: Annotated[
        str | None, typer.Option(help="Version to benchmark. Default: the challenger alias.")
    ] = None,
    as_of: AsOfOpt = None,
) -> None:
    """Score challenger and champion on the newest out-of-time window; log and store it."""
    from driftline.context import Context
    from driftline.lifecycle.benchmark import benchmark, figures_folder
    from driftline.tasks import TASKS

    with Context.open() as ctx, progress_bars(f"benchmarking {model}") as progress:
        registry = ctx.registry()
        result = benchmark(
            ctx.store,
            registry,
            ctx.spec(model),
            challenger=challenger,
            as_of=as_of,
            progress=progress,
        )
        folder = figures_folder(registry, result)
    console.print(result.summary(), style="bold")
    table = Table(
        title=f"benchmark window {result.window_start[:16]} to {result.window_end[:16]} UTC "
        f"({result.rows:,} rows, {result.positives:,} positive)"
    )
    table.add_column("metric")
    table.add_column(f"challenger v{result.challenger.version}", justify="right")
    if result.champion:
        table.add_column(f"champion v{result.champion.version}", justify="right")
    for key in TASKS.get(result.task).metrics:
        row = [key, _num(result.challenger.metrics[key])]
        if result.champion:
            row.append(_num(result.champion.metrics[key]))
        table.add_row(*row)
    speed = [f"{result.challenger.rows_per_second:,.0f}"]
    size = [f"{result.challenger.size_bytes / 1e6:.2f}"]
    if result.champion:
        speed.append(f"{result.champion.rows_per_second:,.0f}")
        size.append(f"{result.champion.size_bytes / 1e6:.2f}")
    table.add_row("rows per second", *speed)
    table.add_row("size (MB)", *size)
    console.print(table)
    calibration = {
        f"{who} v{score.version}": score.calibration
        for who, score in (("challenger", result.challenger), ("champion", result.champion))
        if score is not None and score.calibration
    }
    if calibration:
        console.print(calibration_table(calibration))
    if result.segments:
        seg = Table(title=f"{result.primary_metric} by segment")
        for column in ("segment", "rows", "positives", "challenger", "champion", "difference"):
            seg.add_column(column, justify="left" if column == "segment" else "right")
        for s in result.segments:
            champ = s.champion[result.primary_metric] if s.champion else None
            diff = s.diff(result.primary_metric)
            seg.add_row(
                f"{s.column}={s.value}",
                f"{s.rows:,}",
                f"{s.positives:,}",
                _num(s.challenger[result.primary_metric]),
                _num(champ),
                _num(diff, signed=True),
            )
        console.print(seg)
    if result.figures:
        console.print(
            f"pictures ({', '.join(Path(f).stem for f in result.figures)}): artifacts of "
            f"MLflow run {result.mlflow_run_id} under figures/"
            + (f", on disk in {folder}" if folder is not None else "")
        )
    console.print(f"next: `driftline promote --model {result.model}`")


@app.command("promote", rich_help_panel=PANEL)
def promote_cmd(
    model: ModelOpt,
    approve: Annotated[
        bool,
        typer.Option(
            "--approve",
            help="Give the manual approval the spec asks for (promotion.manual_approval).",
        ),
    ] = False,
    note: Annotated[str, typer.Option(help="A note for the audit trail.")] = "",
    as_of: AsOfOpt = None,
) -> None:
    """Judge the challenger against the gates; promote it only if every gate passes.

    Uses the newest stored benchmark of this challenger against this champion (run one
    first if there is none, or when --as-of is given). Exit code 1 when not promoted.
    """
    from driftline.alerts.lifecycle import announcer, delivery_note, send_recorded
    from driftline.context import Context
    from driftline.lifecycle.gates import Approval
    from driftline.lifecycle.promotion import default_actor, promote

    actor = default_actor()
    approval = Approval(True, actor.removeprefix("cli:"), note) if approve else None
    alerted = None
    with (
        Context.open() as ctx,
        progress_bars(f"judging the challenger of {model}") as progress,
    ):
        outcome = promote(
            ctx.store,
            ctx.registry(),
            ctx.spec(model),
            triggered_by=actor,
            approval=approval,
            as_of=as_of,
            note=note,
            announce=announcer(ctx.settings),
            progress=progress,
        )
        if outcome.alert_id is not None:
            alerted = delivery_note(
                send_recorded(ctx.store, outcome.alert_id, ctx.alert_destinations)
            )
    if outcome.report is not None:
        console.print(gate_table(outcome.report))
    for warning in outcome.warnings:
        console.print(styled(("warning:", "yellow"), f" {warning}"))
    if alerted is not None:
        console.print(alerted, style="dim")
    if outcome.repeat_of is not None:
        console.print(f"already recorded, nothing done again: {outcome.repeat_of}")
    if outcome.status == "promoted":
        console.print(outcome.reason, style="bold green")
        return
    if outcome.status == "pending":
        console.print(
            styled(
                ("every gate passed; the spec asks for a manual approval:", "bold yellow"),
                f" run `driftline promote --model {model} --approve` to approve",
            )
        )
    else:
        console.print(styled(("rejected:", "bold red"), f" {outcome.reason}"))
    raise typer.Exit(1)


@app.command("rollback", rich_help_panel=PANEL)
def rollback_cmd(
    model: ModelOpt,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
) -> None:
    """Make the previous champion the champion again (audited), and alert."""
    from driftline.alerts.lifecycle import announcer, delivery_note, send_recorded
    from driftline.context import Context
    from driftline.lifecycle.promotion import rollback

    with Context.open() as ctx:
        outcome = rollback(
            ctx.store,
            ctx.registry(),
            ctx.spec(model),
            reason=reason,
            announce=announcer(ctx.settings),
        )
        alerted = delivery_note(send_recorded(ctx.store, outcome.alert_id, ctx.alert_destinations))
    console.print(styled((outcome.reason, "bold green"), f" (audit record {outcome.audit_id})"))
    console.print(alerted, style="dim")


@app.command("adopt", rich_help_panel=PANEL)
def adopt_cmd(
    model: ModelOpt,
    model_uri: Annotated[
        str,
        typer.Option(
            "--model-uri",
            help="The model you have: models:/NAME/VERSION, models:/NAME@ALIAS, "
            "runs:/RUN_ID/PATH, or the folder of an MLflow model.",
        ),
    ],
    reference: Annotated[
        Path,
        typer.Option(
            help="CSV or Parquet of rows the model scored: the spec's features, its "
            "predictions (prediction column), the consent flag if the spec has one, and "
            "optionally the target column.",
        ),
    ],
    labels: Annotated[
        Path | None,
        typer.Option(
            help="CSV or Parquet of labels (request id, target), joined on the reference's "
            "request id: the file `driftline ingest labels` reads.",
        ),
    ] = None,
    replace_champion: Annotated[
        bool,
        typer.Option(
            "--replace-champion",
            help="Replace an existing champion (no gates; `driftline rollback` restores it).",
        ),
    ] = False,
) -> None:
    """Adopt a model you already have: baseline it and make it the champion (audited)."""
    from driftline.alerts.lifecycle import announcer, delivery_note, send_recorded
    from driftline.context import Context
    from driftline.data.files import read_table
    from driftline.lifecycle.adopt import adopt
    from driftline.lifecycle.promotion import default_actor
    from driftline.tasks import task_for

    reference_frame = read_table(reference)
    labels_frame = read_table(labels) if labels is not None else None
    with Context.open() as ctx, console.status(f"adopting {model_uri} as {model}"):
        spec = ctx.spec(model)
        result = adopt(
            ctx.store,
            ctx.registry(),
            spec,
            model_uri=model_uri,
            reference=reference_frame,
            labels=labels_frame,
            triggered_by=default_actor(),
            replace_champion=replace_champion,
            reference_source=str(reference),
            labels_source=str(labels),
            announce=announcer(ctx.settings),
        )
        alerted = delivery_note(
            send_recorded(ctx.store, result.outcome.alert_id, ctx.alert_destinations)
        )
    outcome = result.outcome
    table = Table(title=f"{result.model} version {result.version} is the champion (adopted)")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("from", result.source_uri)
    table.add_row("stored as", result.flavor)
    table.add_row(
        "champion before", f"v{outcome.champion_before}" if outcome.champion_before else "-"
    )
    table.add_row("reference rows (consenting)", f"{result.reference_rows:,}")
    table.add_row("labelled rows", f"{result.labelled_rows:,}")
    table.add_row("baseline reference rows", f"{result.baseline_rows:,}")
    if result.max_score_difference is not None:
        table.add_row("largest score difference", _num(result.max_score_difference))
    for key in task_for(spec.model).metrics:
        table.add_row(f"validation {key}", _num(result.metrics.get(key)))
    end = f"{result.train_end[:16].replace('T', ' ')} UTC" if result.train_end else "-"
    table.add_row("benchmark windows start after", end)
    table.add_row("MLflow run", result.run_id)
    table.add_row("audit record", str(outcome.audit_id))
    console.print(table)
    for warning in result.warnings:
        console.print(styled(("warning:", "yellow"), f" {warning}"))
    console.print(alerted, style="dim")
    console.print(outcome.reason, style="bold green")


@app.command("models", rich_help_panel=PANEL)
def models_cmd(
    model: ModelOpt,
    limit: Annotated[int, typer.Option(min=1, help="How many decisions to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Show registered versions, their aliases and the latest decisions."""
    from driftline.context import Context
    from driftline.lifecycle import audit
    from driftline.lifecycle.registry import TAG

    with Context.open(read_only=True) as ctx:
        ctx.store.require_schema()
        spec = ctx.spec(model)
        registry = ctx.existing_registry()  # looking creates no MLflow store
        versions = registry.versions(spec) if registry is not None else []
        decisions = audit.recent_decisions(ctx.store, spec.name, limit)
    where = repr(registry) if registry is not None else "no MLflow registry yet"
    if as_json:
        print_json(
            {
                "model": spec.name,
                "registry": where,
                "versions": [asdict(v) for v in versions],
                "decisions": [asdict(d) for d in decisions],
            }
        )
        return
    table = Table(title=f"{spec.name}: registered versions ({where})")
    for column in ("version", "aliases", "created (UTC)", "reason", "trained until", "decision"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            v.version,
            ", ".join(v.aliases) or "-",
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.tags.get(f"{TAG}reason", "-"),
            v.tags.get(f"{TAG}train_end", "-")[:16],
            v.tags.get(f"{TAG}decision", "-"),
        )
    console.print(table if versions else f"{spec.name} has no registered versions yet")
    if decisions:
        log = Table(title="latest decisions")
        for column in ("when (UTC)", "action", "outcome", "champion", "by", "reason"):
            log.add_column(column)
        for d in decisions:
            log.add_row(
                f"{d.created_at:%Y-%m-%d %H:%M}",
                d.action,
                d.outcome,
                f"{d.champion_before or '-'} -> {d.champion_after or '-'}",
                d.triggered_by,
                d.reason,
            )
        console.print(log)


def gate_table(report: GateReport) -> RenderableType:
    """A gate report as a rich table, followed by the calibration tables it holds (shared
    with the demo)."""
    style = {"passed": "green", "failed": "red", "skipped": "dim", "pending": "yellow"}
    title = f"gates: {report.model} v{report.challenger_version}" + (
        f" vs champion v{report.champion_version}" if report.champion_version else " (first model)"
    )
    table = Table(title=title, caption=f"benchmark window: {report.window}")
    for column in ("gate", "result", "observed", "threshold", "reason"):
        table.add_column(column, justify="right" if column in ("observed", "threshold") else "left")
    for g in report.gates:
        table.add_row(
            g.name,
            styled((g.status, style[g.status])),
            _num(g.observed),
            _num(g.threshold),
            g.reason,
        )
    if not report.calibration:
        return table
    return Group(table, calibration_table(report.calibration))


def calibration_table(tables: dict[str, list[dict[str, float]]]) -> Table:
    """Mean predicted vs mean actual per predicted decile, one pair of columns per model."""
    table = Table(title="calibration by predicted decile (mean predicted / mean actual)")
    table.add_column("decile", justify="right")
    for who in tables:
        table.add_column(who, justify="right")
    deciles = max((len(t) for t in tables.values()), default=0)
    for index in range(deciles):
        row = [str(index + 1)]
        for t in tables.values():
            r = t[index] if index < len(t) else None
            row.append(f"{_num(r['mean_predicted'])} / {_num(r['mean_actual'])}" if r else "-")
        table.add_row(*row)
    return table


def _num(value: float | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:+.4f}" if signed else f"{value:.4f}"

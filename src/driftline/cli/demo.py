"""``driftline demo``: the whole story on embedded defaults, day by day.

Seventy simulated days of shop traffic for ``purchase_propensity``: a paid-social
channel shift from day 21, then concept drift from day 35. The demo plays the serving app (it
scores each day's visitors with the current champion and logs them with that champion's
version, so each version is judged by its own predictions), the label feed
(purchase labels arrive 7 days later), and the scheduler (the ``monitor-model`` flow
once a day, which alerts and, when the policy says so, runs ``retrain-model``).

Everything lives in ``<home>/demo`` (SQLite store, MLflow, Evidently workspace,
reports, a temporary Prefect server's database), recreated on every run. Slack
messages go to a local webhook receiver unless DRIFTLINE_SLACK_WEBHOOK_URL is set.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from driftline.cli.output import make_console, styled
from driftline.ops.processes import go_offline

console = make_console()
MODEL = "purchase_propensity"
BOOTSTRAP_DAY = 17  # label delay 7 + holdout 3 + a week of training data


def _demo_environment(home: Path, specs_dir: Path, dashboards_dir: Path) -> None:
    """Point every component (flows read settings from the environment) at ``home``."""
    os.environ["DRIFTLINE_HOME"] = str(home)
    os.environ["DRIFTLINE_SPECS_DIR"] = str(specs_dir)
    os.environ["DRIFTLINE_DASHBOARDS_DIR"] = str(dashboards_dir)
    for key in ("DRIFTLINE_DATABASE_URL", "DRIFTLINE_MLFLOW_TRACKING_URI", "PREFECT_API_URL"):
        os.environ.pop(key, None)  # embedded defaults: SQLite, local MLflow, temporary Prefect
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    go_offline()  # the temporary Prefect server and every other child inherit it


def demo(
    days: Annotated[int, typer.Option(min=40, help="Simulated days.")] = 70,
    rows_per_day: Annotated[int, typer.Option(min=500, help="Visitors per day.")] = 3_000,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
) -> None:
    """Simulate, monitor, alert, retrain, benchmark and promote: the whole loop."""
    from driftline.config.settings import get_settings

    base = get_settings()
    home = base.resolved_home / "demo"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    _demo_environment(home, base.specs_dir.resolve(), base.dashboards_dir.resolve())
    started = time.monotonic()

    from driftline.devtools.receiver import LocalReceiver

    receiver = None
    if not os.environ.get("DRIFTLINE_SLACK_WEBHOOK_URL"):
        receiver = LocalReceiver(record_to=home / "slack-payloads.jsonl").start()
        os.environ["DRIFTLINE_SLACK_WEBHOOK_URL"] = receiver.url
    try:
        timeline = _run(days, rows_per_day, seed, started)
    finally:
        if receiver is not None:
            os.environ.pop("DRIFTLINE_SLACK_WEBHOOK_URL", None)
            receiver.stop()
    _report(home, timeline, receiver, time.monotonic() - started)


def _run(days: int, rows_per_day: int, seed: int, started: float) -> list[dict[str, Any]]:
    from driftline.cli.lifecycle import gate_table
    from driftline.context import Context
    from driftline.data import ingest
    from driftline.devtools.simulate import simulate
    from driftline.flows.monitor import monitor_model_flow
    from driftline.lifecycle.promotion import promote
    from driftline.lifecycle.training import feature_frame, train
    from driftline.ops.dashboards import sync_dashboard
    from driftline.tasks import TASKS

    def step(text: str) -> None:
        console.print(styled((f"{time.monotonic() - started:6.1f}s", "dim"), f" {text}"))

    console.rule("driftline demo")
    with Context.open() as ctx:
        spec = ctx.spec(MODEL)
        step(f"home {ctx.settings.resolved_home}; store {ctx.store!r}")
        sim = simulate("demo", days=days, rows_per_day=rows_per_day, seed=seed)
        start = pd.Timestamp(sim.timeline["start"])
        step(f"simulated {days} days, {len(sim.predictions):,} visitors")
        for event in sim.timeline["events"]:
            step(
                f"  scripted: {event['kind']} from day {event['start_day']} "
                f"({event['description']})"
            )
        registry, pseudo = ctx.registry(), ctx.pseudonymizer()
        by_day = dict(
            list(sim.predictions.groupby((sim.predictions["event_ts"] - start).dt.days, sort=True))
        )
        labels_at = (sim.labels["labelled_at"] - start).dt.total_seconds() // 86_400
        champion: dict[str, Any] = {}

        def serve_and_log(day: int) -> None:
            """The serving app: score with the champion, log predictions, then the labels
            that arrived that day."""
            frame = by_day[day].copy()
            version = registry.version_by_alias(spec, "champion")
            if version is not None:  # else the bootstrap: the rule's scores, no version
                if champion.get("version") != version:
                    champion.update(
                        version=version, model=registry.load_model(spec, version).estimator
                    )
                frame[spec.model.prediction] = (
                    TASKS.get(spec.model.task)
                    .score(champion["model"], feature_frame(spec, frame))
                    .round(5)
                )
            ingest.log_predictions(
                ctx.store, spec, frame, pseudo, source=f"day {day}", model_version=version
            )
            arrived = sim.labels[labels_at == day]
            if not arrived.empty:
                ingest.log_labels(ctx.store, spec, arrived, source=f"labels of day {day}")

        for day in range(BOOTSTRAP_DAY):
            serve_and_log(day)
        step(
            f"days 0-{BOOTSTRAP_DAY - 1}: logged predictions of the rule-based scorer, "
            "and the labels that arrived"
        )
        as_of = start + pd.Timedelta(days=BOOTSTRAP_DAY)
        trained = train(
            ctx.store, registry, spec, reason="bootstrap", triggered_by="demo", as_of=as_of
        )
        first = promote(ctx.store, registry, spec, triggered_by="demo", as_of=as_of)
        step(f"bootstrap: trained v{trained.version}; {first.reason}")
        if first.report is not None:
            console.print(gate_table(first.report))
        sync_dashboard(ctx.settings.workspace_dir(), ctx.settings.dashboards_dir, spec)
        step("Evidently dashboard synced; starting the daily monitor (temporary Prefect server)")

        timeline: list[dict[str, Any]] = []
        for day in range(BOOTSTRAP_DAY, days):
            serve_and_log(day)
            window_end = start + pd.Timedelta(days=day + 1)
            summary = monitor_model_flow(
                model=MODEL, window_end=window_end.isoformat(), retrain_via="subflow"
            )
            if isinstance(summary, dict):
                row = {
                    "day": day,
                    "status": summary["status"],
                    "drift_share": summary.get("drift_share"),
                    "decision": summary["decision"],
                    "action": summary.get("action_taken", "-"),
                    "why": _first_reason(summary),
                    "champion": registry.version_by_alias(spec, "champion"),
                }
            else:  # a failed run returns its state
                row = {
                    "day": day,
                    "status": "failed",
                    "drift_share": None,
                    "decision": "-",
                    "action": "-",
                    "why": str(summary)[:60],
                    "champion": None,
                }
            timeline.append(row)
            share = "-" if row["drift_share"] is None else f"{row['drift_share']:.2f}"
            step(
                f"day {day:2d}  {row['status']:<17} drift share {share:>5}  "
                f"{row['decision']:<8} {row['action']}  (champion v{row['champion']})"
            )
    return timeline


def _first_reason(summary: dict[str, Any]) -> str:
    reasons = [r for r in summary.get("reasons", []) if r]
    return reasons[0][:70] if reasons and summary.get("decision") != "none" else ""


def _report(
    home: Path,
    timeline: list[dict[str, Any]],
    receiver: Any,
    seconds: float,
) -> None:
    from driftline.context import Context
    from driftline.lifecycle.audit import recent_decisions
    from driftline.specs import find_spec

    table = Table(title="monitoring timeline (one window a day)")
    for column in ("day", "status", "drift share", "decision", "action", "champion", "why"):
        table.add_column(column, overflow="fold")
    for row in timeline:
        share = row["drift_share"]
        style = {"alert": "yellow", "retrain": "red"}.get(row["decision"], "")
        table.add_row(
            str(row["day"]),
            row["status"],
            "-" if share is None else f"{share:.2f}",
            row["decision"],
            row["action"],
            f"v{row['champion']}",
            row["why"],
            style=style,
        )
    console.print(table)
    with Context.open() as ctx:
        spec = find_spec(MODEL, ctx.settings.specs_dir)
        decisions = recent_decisions(ctx.store, spec.name, limit=10)
    from driftline.cli.lifecycle import gate_table
    from driftline.lifecycle.gates import GateReport

    shown = set()
    for d in decisions:  # newest first: the last rejection and the last promotion
        if d.outcome in shown or d.gate_report is None or d.champion_before is None:
            continue
        shown.add(d.outcome)
        console.print(f"gate report of the last {d.outcome} challenger", style="bold")
        console.print(gate_table(GateReport.from_dict(d.gate_report)))
    console.print("promotion audit trail", style="bold")
    for d in reversed(decisions):
        versions = f"v{d.champion_before or '-'} -> v{d.champion_after or '-'}"
        console.print(
            f"  {d.created_at:%Y-%m-%d %H:%M} {d.action:<8} {d.outcome:<11} "
            f"challenger v{d.challenger_version}  champion {versions}  by {d.triggered_by}"
        )
    if receiver is not None:
        payloads = receiver.payloads()
        console.print(
            styled(
                (f"{len(payloads)} Slack messages", "bold"),
                " received by the local webhook receiver (full Block Kit payloads in "
                f"{home / 'slack-payloads.jsonl'}):",
            )
        )
        for payload in payloads[:12]:
            console.print(f"  - {payload['text'].splitlines()[0][:110]}")
        if len(payloads) > 12:
            console.print(f"  ... and {len(payloads) - 12} more")
    console.print(
        "  (repeats of the same finding within the spec's cooldown are suppressed; the demo "
        "replays weeks in minutes, so most daily repeats fall inside it)"
    )
    console.print(f"reports: {home / 'reports'}")
    console.print(
        f"finished in {seconds:.0f} s. To look around:  "
        f"DRIFTLINE_HOME={home} .venv/bin/driftline ui"
    )
    console.print("  (Evidently dashboard :8000, MLflow registry :5000, Prefect runs :4200)")

"""``driftline demo``: the whole story on embedded defaults, day by day.

Seventy simulated days of shop traffic for ``purchase_propensity``: a paid-social
channel shift from day 21, then concept drift from day 35. Beside it, ``customer_ltv``
(a regression: the next 12 months' value of 150 customers a day, labels 365 days later, so
a year of its history comes first) is bootstrapped with a stiff linear model and monitored
once a week (its spec's window); a better challenger replaces it once. The demo plays the serving
app (it scores each day's visitors with the current champion and logs them with that
champion's version, so each version is judged by its own predictions), the label feed
(purchase labels arrive 7 days later, values 365 days later), and the scheduler (the
``monitor-model`` flow once a day per model, which alerts and, when the policy says so,
runs ``retrain-model``).

Everything lives in ``<home>/demo`` (SQLite store, MLflow, Evidently workspace,
reports, a temporary Prefect server's database), recreated on every run. Slack
messages go to a local webhook receiver unless DRIFTLINE_SLACK_WEBHOOK_URL is set.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from driftline.cli.output import make_console, styled
from driftline.ops.processes import go_offline

if TYPE_CHECKING:
    import pandas as pd  # imported where it runs: `driftline --help` needs no pandas

console = make_console()
MODEL = "purchase_propensity"
LTV_MODEL = "customer_ltv"
BOOTSTRAP_DAY = 17  # label delay 7 + holdout 3 + a week of training data
LTV_ROWS_PER_DAY = 150  # small: the LTV model must fit in the demo's five minutes
LTV_HISTORY_DAYS = 392  # label delay 365 + holdout 7 + lookback 28 before the bootstrap
LTV_UPGRADE_DAY = 30  # the LTV team tries the spec's trainer, unless a retrain came first


def _demo_environment(home: Path, specs_dir: Path, dashboards_dir: Path) -> None:
    """Point every component (flows read settings from the environment) at ``home``."""
    os.environ["DRIFTLINE_HOME"] = str(home)
    os.environ["DRIFTLINE_SPECS_DIR"] = str(specs_dir)
    os.environ["DRIFTLINE_DASHBOARDS_DIR"] = str(dashboards_dir)
    for key in ("DRIFTLINE_DATABASE_URL", "DRIFTLINE_MLFLOW_TRACKING_URI", "PREFECT_API_URL"):
        os.environ.pop(key, None)  # embedded defaults: SQLite, local MLflow, temporary Prefect
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    # quiet on the console (the timeline is the output); INFO run logs still reach the UI
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    # the temporary server migrates its database first: slow on a busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
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
    import pandas as pd

    from driftline.cli.lifecycle import gate_table
    from driftline.context import Context
    from driftline.data.windows import window_bounds
    from driftline.devtools.simulate import simulate, simulate_customer_ltv
    from driftline.flows.monitor import monitor_model_flow
    from driftline.lifecycle.promotion import promote
    from driftline.lifecycle.training import train
    from driftline.ops.dashboards import sync_dashboard

    def step(text: str) -> None:
        console.print(styled((f"{time.monotonic() - started:6.1f}s", "dim"), f" {text}"))

    console.rule("driftline demo")
    with Context.open() as ctx:
        spec, ltv_spec = ctx.spec(MODEL), ctx.spec(LTV_MODEL)
        step(f"home {ctx.settings.resolved_home}; store {ctx.store!r}")
        sim = simulate("demo", days=days, rows_per_day=rows_per_day, seed=seed)
        ltv = simulate_customer_ltv(
            "demo",
            days=days,
            rows_per_day=LTV_ROWS_PER_DAY,
            seed=seed,
            history_days=LTV_HISTORY_DAYS,
        )
        start = pd.Timestamp(sim.timeline["start"])
        step(
            f"simulated {days} days, {len(sim.predictions):,} visitors; {LTV_MODEL}: "
            f"{len(ltv.predictions):,} customers from {LTV_HISTORY_DAYS} days before"
        )
        for event in sim.timeline["events"]:
            step(
                f"  scripted: {event['kind']} from day {event['start_day']} "
                f"({event['description']})"
            )
        registry, pseudo = ctx.registry(), ctx.pseudonymizer()
        app = _ServingApp(ctx.store, registry, pseudo, start)
        for day in range(BOOTSTRAP_DAY):
            app.serve_and_log(spec, sim.predictions, sim.labels, day)
        app.log_history(ltv_spec, ltv, until_day=BOOTSTRAP_DAY)
        step(
            f"days 0-{BOOTSTRAP_DAY - 1}: logged predictions of the rule-based scorers "
            f"({LTV_MODEL}: a year of them), and the labels that arrived"
        )
        as_of = start + pd.Timedelta(days=BOOTSTRAP_DAY)
        trained = train(
            ctx.store, registry, spec, reason="bootstrap", triggered_by="demo", as_of=as_of
        )
        first = promote(ctx.store, registry, spec, triggered_by="demo", as_of=as_of)
        step(f"bootstrap: trained v{trained.version}; {first.reason}")
        if first.report is not None:
            console.print(gate_table(first.report))
        # The LTV model starts as a heavily regularised linear GLM (a quick first model);
        # the spec's own trainer is the upgrade.
        stiff = {"trainer": "linear_regression", "params": {"alpha": 100.0}}
        linear = ltv_spec.model_copy(
            update={"training": ltv_spec.training.model_copy(update=stiff)}
        )
        trained = train(
            ctx.store, registry, linear, reason="bootstrap", triggered_by="demo", as_of=as_of
        )
        first = promote(ctx.store, registry, ltv_spec, triggered_by="demo", as_of=as_of)
        step(
            f"{LTV_MODEL} bootstrap (linear_regression): trained v{trained.version}; {first.reason}"
        )
        for model_spec in (spec, ltv_spec):
            sync_dashboard(ctx.settings.workspace_dir(), ctx.settings.dashboards_dir, model_spec)
        step("Evidently dashboards synced; starting the daily monitors (temporary Prefect server)")

        timeline: list[dict[str, Any]] = []
        for day in range(BOOTSTRAP_DAY, days):
            app.serve_and_log(spec, sim.predictions, sim.labels, day)
            app.serve_and_log(ltv_spec, ltv.predictions, ltv.labels, day)
            window_end = start + pd.Timedelta(days=day + 1)
            if day == LTV_UPGRADE_DAY:
                _upgrade(ctx.store, registry, ltv_spec, window_end, step)
            for model_spec in (spec, ltv_spec):
                boundary = window_bounds(model_spec.monitoring, now=window_end.to_pydatetime())[1]
                if pd.Timestamp(boundary) != window_end:
                    continue  # not the end of one of the model's windows (LTV: weekly)
                summary = monitor_model_flow(
                    model=model_spec.name, window_end=window_end.isoformat(), retrain_via="subflow"
                )
                row = _row(day, model_spec.name, summary)
                row["champion"] = registry.version_by_alias(model_spec, "champion")
                timeline.append(row)
                share = "-" if row["drift_share"] is None else f"{row['drift_share']:.2f}"
                step(
                    f"day {day:2d} {model_spec.name:<19} {row['status']:<17} drift share "
                    f"{share:>5}  {row['decision']:<8} {row['action']}  "
                    f"(champion v{row['champion']})"
                )
    return timeline


class _ServingApp:
    """The serving app of the demo: scores each day's rows with the model's champion,
    logs them with its version, and logs the labels that arrived that day."""

    def __init__(self, store: Any, registry: Any, pseudo: Any, start: pd.Timestamp) -> None:
        self.store, self.registry, self.pseudo, self.start = store, registry, pseudo, start
        self.champions: dict[str, tuple[str, Any]] = {}

    def _day(self, ts: pd.Series) -> pd.Series:
        return (ts - self.start).dt.total_seconds() // 86_400

    def serve_and_log(
        self, spec: Any, predictions: pd.DataFrame, labels: pd.DataFrame, day: int
    ) -> None:
        from driftline.data import ingest
        from driftline.lifecycle.training import feature_frame
        from driftline.tasks import task_for

        frame = predictions[self._day(predictions[spec.model.timestamp]) == day].copy()
        version = self.registry.version_by_alias(spec, "champion")
        if version is not None:  # else the bootstrap: the rule's scores, no version
            cached = self.champions.get(spec.name)
            if cached is None or cached[0] != version:
                model = self.registry.load_model(spec, version).estimator
                self.champions[spec.name] = cached = (version, model)
            frame[spec.model.prediction] = (
                task_for(spec.model).score(cached[1], feature_frame(spec, frame)).round(5)
            )
        ingest.log_predictions(
            self.store, spec, frame, self.pseudo, source=f"day {day}", model_version=version
        )
        arrived = labels[self._day(labels["labelled_at"]) == day]
        if not arrived.empty:
            ingest.log_labels(self.store, spec, arrived, source=f"labels of day {day}")

    def log_history(self, spec: Any, sim: Any, *, until_day: int) -> None:
        """Everything before ``until_day`` at once: the rule's scores, the labels that had
        arrived by then."""
        from driftline.data import ingest

        before = self.start + timedelta(days=until_day)
        rows = sim.predictions[sim.predictions[spec.model.timestamp] < before]
        ingest.log_predictions(self.store, spec, rows, self.pseudo, source="history")
        arrived = sim.labels[sim.labels["labelled_at"] < before]
        if not arrived.empty:
            ingest.log_labels(self.store, spec, arrived, source="labels of the history")


def _upgrade(store: Any, registry: Any, spec: Any, as_of: pd.Timestamp, step: Any) -> None:
    """The LTV team trains the spec's own trainer as a challenger, unless a retrain has
    already replaced the linear bootstrap champion; the gates decide."""
    from driftline.cli.lifecycle import gate_table
    from driftline.lifecycle.promotion import promote
    from driftline.lifecycle.training import train

    if registry.version_by_alias(spec, "champion") != "1":
        return
    trained = train(store, registry, spec, reason="manual", triggered_by="demo", as_of=as_of)
    outcome = promote(store, registry, spec, triggered_by="demo", as_of=as_of)
    step(
        f"{spec.name}: the team tries {spec.training.trainer} as v{trained.version}; "
        f"{outcome.reason}"
    )
    if outcome.report is not None:
        console.print(gate_table(outcome.report))


def _row(day: int, model: str, summary: Any) -> dict[str, Any]:
    if isinstance(summary, dict):
        return {
            "day": day,
            "model": model,
            "status": summary["status"],
            "drift_share": summary.get("drift_share"),
            "decision": summary["decision"],
            "action": summary.get("action_taken", "-"),
            "why": _first_reason(summary),
        }
    return {  # a failed run returns its state
        "day": day,
        "model": model,
        "status": "failed",
        "drift_share": None,
        "decision": "-",
        "action": "-",
        "why": str(summary),
    }


def _first_reason(summary: dict[str, Any]) -> str:
    """The most severe finding's reason, and what holds a retrain back when one is."""
    reasons = [r for r in summary.get("reasons", []) if r]
    if not reasons or summary.get("decision") == "none":
        return ""
    why = summary.get("headline") or reasons[0]
    held = next((r for r in reasons if r.startswith("retrain pending")), None)
    return f"{why}; {held}" if held and held != why else why


def timeline_table(timeline: list[dict[str, Any]]) -> Table:
    """The demo's monitoring timeline, one row per monitor run. The "why" column is never
    cut: on a terminal it wraps between words, piped (a wide console) it stays one line."""
    table = Table(title="monitoring timeline (one window per model: daily, LTV weekly)")
    for column in ("day", "model", "status", "drift share", "decision", "action", "champion"):
        table.add_column(column, overflow="fold")
    table.add_column("why", min_width=30)
    for row in timeline:
        share = row["drift_share"]
        style = {"alert": "yellow", "retrain": "red"}.get(row["decision"], "")
        table.add_row(
            str(row["day"]),
            row["model"],
            row["status"],
            "-" if share is None else f"{share:.2f}",
            row["decision"],
            row["action"],
            f"v{row['champion']}",
            row["why"],
            style=style,
        )
    return table


def _report(
    home: Path,
    timeline: list[dict[str, Any]],
    receiver: Any,
    seconds: float,
) -> None:
    from driftline.context import Context
    from driftline.lifecycle.audit import recent_decisions
    from driftline.specs import find_spec

    console.print(timeline_table(timeline))
    with Context.open() as ctx:
        decisions = {
            name: recent_decisions(
                ctx.store, find_spec(name, ctx.settings.specs_dir).name, limit=10
            )
            for name in (MODEL, LTV_MODEL)
        }
    from driftline.cli.lifecycle import gate_table
    from driftline.lifecycle.gates import GateReport

    for name, trail in decisions.items():
        shown = set()
        for d in trail:  # newest first: the last rejection and the last promotion
            if d.outcome in shown or d.gate_report is None or d.champion_before is None:
                continue
            shown.add(d.outcome)
            console.print(f"{name}: gate report of the last {d.outcome} challenger", style="bold")
            console.print(gate_table(GateReport.from_dict(d.gate_report)))
    for name, trail in decisions.items():
        console.print(f"{name}: promotion audit trail", style="bold")
        for d in reversed(trail):
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

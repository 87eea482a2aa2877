"""``driftline drift check`` (two files, no store) and ``driftline monitor ...`` (the store,
the champion's baseline, the policy). Commands parse, call the core, and render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from driftline.cli.options import ModelOpt, WindowEndOpt
from driftline.cli.output import make_console, styled

if TYPE_CHECKING:
    from driftline.monitoring.monitor import MonitorRun
    from driftline.monitoring.results import DriftResult, RealizedPerformance
    from driftline.monitoring.runs import StoredRun

drift_app = typer.Typer(help="Drift checks on files, without a store.", no_args_is_help=True)
monitor_app = typer.Typer(
    help="Monitor a model's live windows against its champion's baseline.", no_args_is_help=True
)

console = make_console()


def _columns_table(result: DriftResult, title: str) -> Table:
    table = Table(title=title)
    for name in ("column", "type", "method", "score", "threshold", "drifted"):
        table.add_column(name, justify="right" if name in {"score", "threshold"} else "left")
    rows = [*result.columns, *result.predictions]
    for col in rows:
        label = f"{col.name} (prediction)" if col in result.predictions else col.name
        table.add_row(
            label,
            col.type,
            col.method,
            f"{col.score:.4g}",
            f"{col.threshold:g}",
            styled(("yes", "bold red")) if col.drifted else "no",
        )
    return table


def _render_result(result: DriftResult, title: str) -> None:
    console.print(_columns_table(result, title))
    verdict = (
        ("dataset drift", "bold red") if result.dataset_drift else ("no dataset drift", "green")
    )
    console.print(
        styled(
            verdict,
            f": {len(result.drifted_columns)} of {len(result.columns)} columns drifted "
            f"({result.drift_share:.0%}, threshold {result.drift_share_threshold:.0%}); "
            f"rows: reference {result.rows_reference:,}, current {result.rows_current:,}",
        )
    )
    for finding in result.quality:
        console.print(styled(("data quality", "yellow"), f" {finding.column}: {finding.detail}"))
    for perf in (result.performance, *result.other_performance):
        if perf is None or not perf.metrics:
            continue
        shown = ", ".join(
            f"{k} {v:.3f} (baseline {perf.baseline.get(k, float('nan')):.3f})"
            for k, v in perf.metrics.items()
        )
        whose = ""
        if perf.version is not None:
            judged = perf is result.performance
            whose = f" of v{perf.version}" + ("" if judged else " (not the champion: not judged)")
        cohort = f" (cohort {perf.cohort})" if perf.cohort else ""
        console.print(f"realized performance{whose}{cohort}: {shown}", highlight=False)


@drift_app.command("check")
def drift_check(
    reference: Annotated[Path, typer.Option("--reference", help="Reference data: CSV or Parquet.")],
    current: Annotated[Path, typer.Option("--current", help="Current data: CSV or Parquet.")],
    spec_file: Annotated[
        Path | None,
        typer.Option("--spec", help="Model spec (YAML): its features, types and monitoring rules."),
    ] = None,
    numerical: Annotated[
        str | None, typer.Option(help="Numerical columns to check, comma-separated.")
    ] = None,
    categorical: Annotated[
        str | None, typer.Option(help="Categorical columns to check, comma-separated.")
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the result as JSON (dataset_drift, drift_share, "
            "rows, columns) to this file.",
        ),
    ] = None,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Write the engine's HTML report here (Evidently makes one)."),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 1 when dataset drift is found.")
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Drift engine, a registered name (`driftline plugins` lists them; an "
            "unknown name is an error naming them). Default: the spec's, else evidently."
        ),
    ] = None,
) -> None:
    """Compare two files (CSV or Parquet) for drift, without a store.

    Exit codes: 0 the check ran, 1 dataset drift with --fail-on-drift, 2 bad input.

    Without --spec, column types come from --numerical/--categorical or from the data.
    """
    from driftline.config.errors import SpecError
    from driftline.monitoring.engines import ENGINES
    from driftline.monitoring.filecheck import check_files
    from driftline.specs import load_spec

    spec = load_spec(spec_file) if spec_file is not None else None
    if engine is not None and engine not in ENGINES:
        raise SpecError(f"--engine: {ENGINES.unknown(engine)}")
    with console.status("checking drift"):
        check = check_files(
            reference,
            current,
            spec=spec,
            numerical=numerical,
            categorical=categorical,
            engine=engine,
        )
    result = check.result
    _render_result(result, f"drift: {current} against {reference}")
    for column, why in check.skipped.items():
        console.print(f"not checked: {column} ({why})", style="dim")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_contract(), indent=2))
        console.print(f"wrote {json_out}")
    if html_out is not None:
        if result.report is None:
            console.print(
                f"no HTML report written: the {result.engine} engine makes none",
                style="yellow",
            )
        else:
            for path in result.report.save_html(html_out):
                console.print(f"wrote {path}")
    if fail_on_drift and result.dataset_drift:
        raise typer.Exit(code=1)


def _runs_table(runs: list[MonitorRun], title: str) -> Table:
    table = Table(title=title)
    for name in ("window", "status", "drift share", "decision", "severity", "drifted columns"):
        table.add_column(name, justify="right" if name == "drift share" else "left")
    for run in runs:
        share = run.decision.drift_share
        detail = ", ".join(run.decision.drifted_columns) or (run.error or "")
        table.add_row(
            f"{run.window_start:%Y-%m-%d %H:%M} to {run.window_end:%Y-%m-%d %H:%M}",
            _status(run.status),
            f"{share:.0%}" if share is not None else "-",
            run.action,
            run.decision.severity,
            detail,
        )
    return table


def _colour(status: str) -> str:
    return {"ok": "green", "drift": "bold red", "failed": "bold red"}.get(status, "yellow")


def _status(status: str) -> Text:
    return styled((status, _colour(status)))


@monitor_app.command("run")
def monitor_run(model: ModelOpt, window_end: WindowEndOpt = None) -> None:
    """Check one window of a model against its champion's baseline.

    Exit codes: 0 the run was recorded (drift or not), 2 it failed (the message says why).
    """
    from driftline.sdk import monitor_model

    with console.status(f"monitoring {model}"):
        run = monitor_model(model, window_end)
    if run.result is not None:
        _render_result(
            run.result,
            f"{model}: {run.window_start:%Y-%m-%d %H:%M} to {run.window_end:%Y-%m-%d %H:%M} UTC "
            f"against champion v{run.champion_version}",
        )
    console.print(
        styled(
            "status ",
            (run.status, _colour(run.status)),
            ", decision ",
            (run.action, "bold"),
            f" (severity {run.decision.severity}), run {run.run_id}",
        )
    )
    for reason in run.decision.reasons:
        console.print(f"  - {reason}")
    for path in run.report_paths:
        console.print(f"report: {path}")
    if run.status == "failed":
        raise typer.Exit(code=2)


@monitor_app.command("backfill")
def monitor_backfill(
    model: ModelOpt,
    start: Annotated[str, typer.Option(help="Start of the range (ISO date or time, UTC).")],
    end: Annotated[str, typer.Option(help="End of the range, exclusive (ISO date or time).")],
) -> None:
    """Monitor every window in [start, end), oldest first.

    Each window sees the runs before it as history. Exit code 2 when any window failed.
    """
    from driftline.sdk import backfill

    with console.status(f"backfilling {model} from {start} to {end}"):
        runs = backfill(model, start, end)
    console.print(_runs_table(runs, f"{model}: backfill {start} to {end}"))
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        console.print(f"{len(failed)} of {len(runs)} windows failed", style="bold red")
        raise typer.Exit(code=2)


def _realized(run: StoredRun) -> str:
    """Realized metrics with the version whose predictions they measure: the judged
    (champion's) first, then other versions' in brackets; "-" when none were computed."""

    def metrics(perf: RealizedPerformance) -> str:
        return " ".join(f"{k} {v:.3f}" for k, v in perf.metrics.items())

    judged = run.realized
    parts = []
    if judged is not None and judged.metrics:
        cohort = f"cohort {judged.cohort}: " if judged.cohort else ""
        parts.append(f"{cohort}{metrics(judged)} (v{judged.version or '?'})")
    parts += [f"[v{p.version}: {metrics(p)}]" for p in run.other_realized if p.metrics]
    return " ".join(parts) or "-"


@monitor_app.command("history")
def monitor_history(
    model: ModelOpt,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to show, newest first.")] = 30,
) -> None:
    """Show the stored monitor runs of a model, newest window first."""
    from driftline.context import Context
    from driftline.monitoring.runs import list_runs

    with Context.open(read_only=True) as ctx:
        ctx.store.require_schema()
        runs = list_runs(ctx.store, model, limit=limit)
    table = Table(title=f"{model}: monitor runs")
    for name in ("run", "window end", "status", "drift share", "decision", "severity"):
        table.add_column(name, justify="right" if name in {"run", "drift share"} else "left")
    table.add_column("champion")
    table.add_column("rows", justify="right")
    table.add_column("realized (version)")
    table.add_column("report or error")
    for run in runs:
        table.add_row(
            str(run.id),
            f"{run.window_end:%Y-%m-%d %H:%M}",
            _status(run.status),
            f"{run.drift_share:.0%}" if run.drift_share is not None else "-",
            run.decision,
            run.severity,
            run.champion_version or "-",
            f"{run.rows_current:,}" if run.rows_current is not None else "-",
            _realized(run),
            run.error or run.report_path or "",
        )
    console.print(table if runs else f"no monitor runs stored for {model!r} yet")

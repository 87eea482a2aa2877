"""``driftline drift check`` (two files, no store) and ``driftline monitor ...`` (the store,
the champion's baseline, the policy). Commands parse, call the core, and render."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from driftline.cli.options import JsonOpt, ModelOpt, WindowEndOpt
from driftline.cli.output import make_console, print_json, progress_bars, styled

if TYPE_CHECKING:
    from collections.abc import Sequence

    from driftline.monitoring.monitor import MonitorRun
    from driftline.monitoring.policy import Decision
    from driftline.monitoring.results import (
        DriftResult,
        JointDrift,
        RealizedPerformance,
        SegmentReport,
        SegmentResult,
    )
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


def _render_result(result: DriftResult, title: str, decision: Decision | None = None) -> None:
    """The column table and the dataset verdict; with a monitor run's ``decision`` the
    verdict is the policy's (what counted: a calendar event's expected columns and columns
    cleared by false discovery control left out), with the engine's raw count beside it,
    and, when the decision acts without dataset drift, the findings it acts on."""
    from driftline.monitoring.policy import FINDINGS

    console.print(_columns_table(result, title))
    dataset_drift, drifted, share = result.dataset_drift, result.drifted_columns, result.drift_share
    if decision is not None and decision.drift_share is not None:
        dataset_drift, drifted = decision.dataset_drift, list(decision.drifted_columns)
        share = decision.drift_share
    verdict = ("dataset drift", "bold red") if dataset_drift else ("no dataset drift", "green")
    acted_on = ""
    if decision is not None and decision.action != "none" and not dataset_drift:
        # the alert (or retrain) comes from other findings: say which, not "no drift" alone
        verdict = ("no dataset drift in the whole window", "green")
        found = [FINDINGS[t] for t in decision.findings] or ["the reasons below"]
        said = ", ".join(found[:-1]) + " and " + found[-1] if len(found) > 1 else found[0]
        acted_on = f"; {decision.action} from {said}"
    raw = ""
    if len(drifted) != len(result.drifted_columns):
        declared = decision.expected_columns if decision is not None else ()
        expected = [c for c in result.drifted_columns if c in declared]
        raw = f" ({len(result.drifted_columns)} drifted in all" + (
            f"; {decision.expected_label}: {', '.join(expected)})"
            if expected and decision is not None
            else ")"
        )
    console.print(
        styled(
            verdict,
            f"{acted_on}: {len(drifted)} of {len(result.columns)} columns drifted "
            f"({share:.0%}, threshold {result.drift_share_threshold:.0%}){raw}; "
            f"rows: reference {result.rows_reference:,}, current {result.rows_current:,}; "
            f"engine {result.engine}",
        )
    )
    for finding in result.quality:
        label = f" ({decision.expected_label})" if decision and decision.expects(finding) else ""
        console.print(
            styled(("data quality", "yellow"), f" {finding.column}: {finding.detail}{label}")
        )
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
        console.print(f"realized performance{whose}{cohort}: {shown}")
    est = result.estimated
    if est is not None and est.metrics:
        shown = ", ".join(est.text(m) for m in est.metrics)
        console.print(
            f"estimated performance ({est.method}, no labels) on {est.rows:,} predictions: {shown}"
        )
    matured = result.estimated_labelled
    if matured is not None and matured.realized:
        shown = "; ".join(matured.text(m) for m in matured.metrics if m in matured.realized)
        console.print(f"labelled window ({matured.rows:,} predictions): {shown}")


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
            "unknown name is an error naming them). Default: the spec's, else auto "
            "(evidently for small files, native for large ones)."
        ),
    ] = None,
    min_rows: Annotated[
        int | None,
        typer.Option(
            "--min-rows",
            min=1,
            help="Files with fewer rows get status insufficient_data and no verdict. "
            "Default: the spec's monitoring.min_rows, else 500.",
        ),
    ] = None,
) -> None:
    """Compare two files (CSV or Parquet) for drift, without a store.

    Exit codes: 0 the check ran (also when a file has too few rows for a verdict:
    insufficient_data), 1 dataset drift with --fail-on-drift, 2 bad input, 3 an
    unexpected error (a bug: please report it).

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
            min_rows=min_rows,
        )
    result = check.result
    if result is None:
        console.print(styled(("insufficient data", "yellow"), f": {check.reason}"))
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(check.to_contract(), indent=2))
            console.print(f"wrote {json_out}")
        if html_out is not None:
            console.print("no HTML report written: no verdict", style="yellow")
        return
    _render_result(result, f"drift: {current} against {reference}")
    for column, why in check.skipped.items():
        console.print(f"not checked: {column} ({why})", style="dim")
    for note in result.notes:
        console.print(f"note: {note}", style="yellow")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(check.to_contract(), indent=2))
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
        detail = ", ".join(run.decision.drifted_columns) or run.error or ""
        if not detail and run.status == "insufficient_data" and run.decision.reasons:
            detail = run.decision.reasons[0]  # why there is no verdict, and what to do
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


def _require_spec(model: str) -> None:
    """SpecError (exit 2) when ``model`` has no spec file: nothing to monitor, so no failed
    run is recorded and no alert is queued. A spec that exists but is broken still makes a
    failed run (and its alert), as in the monitor-model flow."""
    from driftline.config.errors import SpecError
    from driftline.config.settings import get_settings
    from driftline.specs.loader import spec_file

    try:
        spec_file(model, get_settings().specs_dir)
    except SpecError as exc:
        raise SpecError(f"{exc}; nothing was recorded") from None


@monitor_app.command("run")
def monitor_run(
    model: ModelOpt,
    window_end: WindowEndOpt = None,
    no_alert: Annotated[
        bool, typer.Option("--no-alert", help="Record the run but send no alert.")
    ] = False,
    no_retrain: Annotated[
        bool,
        typer.Option("--no-retrain", help="Record a retrain decision but do not act on it."),
    ] = False,
    as_json: JsonOpt = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Check this window profile (JSON from `driftline profile window` or "
            "`driftline profile spark`; a path or a URL such as s3://...) in place of the "
            "window's rows. Default window: the one the profile records.",
        ),
    ] = None,
) -> None:
    """Check one window of a model against its champion's baseline, then act like the
    monitor-model flow: send the run's alert (alert and retrain decisions, failed runs)
    and on a retrain decision request the retrain (the driftline.drift.detected event
    when PREFECT_API_URL names a server, else the retrain-model flow in this process).

    With --profile the drift check runs on the window's profile, computed where the data
    lives, instead of its rows; what a profile cannot show is listed in the run's reasons.

    Exit codes: 0 the run was recorded (drift or not), 2 it failed or the retrain it
    asked for failed (the message says why), or the profile does not fit (nothing
    recorded).
    """
    from driftline.alerts.lifecycle import delivery_note
    from driftline.monitoring.windowprofile import read_window_profile
    from driftline.sdk import monitor_model, notify_monitor_run

    _require_spec(model)
    window = read_window_profile(profile) if profile is not None else None
    with console.status(f"monitoring {model}"):
        run = monitor_model(model, window_end, profile=window)
    alert_note = "not needed (quiet window)"
    if run.action != "none" or run.status == "failed":
        alert_note = "not sent (--no-alert)" if no_alert else delivery_note(notify_monitor_run(run))
    retrain_note, retrain_failed = "not needed", False
    if run.action == "retrain":
        retrain_note = "not requested (--no-retrain)"
        if not no_retrain:
            with console.status(f"requesting the retrain of {model}"):
                retrain_note, retrain_failed = _request_retrain(run)
    if as_json:
        print_json({**run.summary(), "alert": alert_note, "retrain": retrain_note})
    else:
        _render_run(run)
        console.print(f"alert: {alert_note}")
        console.print(f"retrain: {retrain_note}", style="red" if retrain_failed else None)
    if run.status == "failed" or retrain_failed:
        raise typer.Exit(code=2)


def _render_run(run: MonitorRun) -> None:
    if run.result is not None:
        _render_result(
            run.result,
            f"{run.model}: {run.window_start:%Y-%m-%d %H:%M} to "
            f"{run.window_end:%Y-%m-%d %H:%M} UTC against champion v{run.champion_version}",
            run.decision,
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
    if run.result is not None and run.result.segments is not None:
        console.print(_segments_table(run.result.segments, f"{run.model}: segments", run.decision))
    if run.result is not None and run.result.multivariate is not None:
        console.print(_joint_line(run.result.multivariate))
    if run.error:
        console.print(f"error: {run.error}", style="red")
    for path in run.report_paths:
        console.print(f"report file: {path}")


def _segments_table(report: SegmentReport, title: str, decision: Decision | None = None) -> Table:
    """One row per checked segment: rows, drifted columns (after Benjamini-Hochberg),
    broken quality rules and realized metrics; what a calendar event active in the
    ``decision``'s window expected is marked as not counted."""
    expected = decision.expected_columns if decision is not None else ()
    table = Table(title=title)
    for name in ("segment", "rows (ref / window)", "drifted columns", "quality", "realized"):
        table.add_column(name, justify="right" if name.startswith("rows") else "left")
    for seg in report.segments:
        perf = seg.performance
        table.add_row(
            seg.label,
            f"{seg.rows_reference:,} / {seg.rows_current:,}",
            _segment_drift(seg, expected),
            _segment_quality(seg, decision),
            " ".join(f"{k} {v:.3f}" for k, v in perf.metrics.items()) if perf else "-",
        )
    table.caption = f"{report.tests} p-value tests, Benjamini-Hochberg at q={report.alpha:g}" + (
        f"; {len(report.skipped)} segment values too small" if report.skipped else ""
    )
    return table


def _segment_drift(seg: SegmentResult, expected: Sequence[str]) -> Text | str:
    """The counted drifted columns, then how many expected ones drifted (not counted)."""
    if not seg.drifted_columns:
        return "-"
    counted = seg.counted_columns(expected)
    declared = len(seg.drifted_columns) - len(counted)
    more = f"{declared} expected, not counted" if declared else ""
    return styled((", ".join(counted), "bold red"), "; " if counted and more else "", more)


def _segment_quality(seg: SegmentResult, decision: Decision | None) -> str:
    """The broken quality rules, then those a calendar event expected, labelled."""
    expects = decision.expects if decision is not None else lambda _: False
    counted = ", ".join(f"{q.column} ({q.rule})" for q in seg.quality if not expects(q))
    expected = ", ".join(f"{q.column} ({q.rule})" for q in seg.quality if expects(q))
    if expected and decision is not None:
        expected = f"{decision.expected_label}: {expected}"
    return "; ".join(part for part in (counted, expected) if part) or "-"


def _joint_line(joint: JointDrift) -> Text:
    verdict = ("drifted", "bold red") if joint.drifted else ("no drift", "green")
    return styled(
        "multivariate (domain classifier): ",
        verdict,
        f", ROC AUC {joint.auc:.3f} ± {joint.auc_std:.3f} (threshold {joint.threshold:g}); "
        f"separating features: {joint.separating(values=True)}",
    )


def _extras(run: StoredRun) -> str:
    """Drifted segments and the multivariate AUC of a stored run ("-" when neither ran);
    segments whose only drifted columns a calendar event expected are counted apart."""
    parts = []
    if run.segments is not None:
        drifted = [s.value for s in run.segments.counted(run.expected_columns)]
        expected = len(run.segments.drifted) - len(drifted)
        parts.append(
            f"segments: {', '.join(drifted) if drifted else 'none drifted'}"
            + (f" ({expected} with expected drift only, not counted)" if expected else "")
        )
    if run.multivariate is not None:
        mark = " drifted" if run.multivariate.drifted else ""
        parts.append(f"joint AUC {run.multivariate.auc:.3f}{mark}")
    return "; ".join(parts) or "-"


def _request_retrain(run: MonitorRun) -> tuple[str, bool]:
    """Ask for the retrain a run decided on, as ``monitor-model`` does: with a Prefect
    server (PREFECT_API_URL) the drift event its retrain deployment waits for; without
    one, the retrain-model flow right here, its run kept in the home's Prefect database
    (what ``driftline ui`` shows). Returns (what happened, whether it failed)."""
    import os

    from driftline.config.settings import get_settings

    if not os.environ.get("PREFECT_API_URL"):
        os.environ.setdefault("PREFECT_HOME", str(get_settings().prefect_home()))
        # A temporary server starts slowly on a busy machine (its database migrates first).
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from prefect.settings import PREFECT_API_URL

    from driftline.config.secrets import scrub
    from driftline.ops.deployments import DRIFT_EVENT

    if PREFECT_API_URL.value():
        from driftline.flows.monitor import emit_drift_event

        event_id = emit_drift_event.fn(run)
        if event_id is None:
            return f"the {DRIFT_EVENT} event could not be emitted", True
        return (
            f"requested: event {DRIFT_EVENT} {event_id} (starts the {run.model}-retrain "
            "deployment)",
            False,
        )
    from driftline.flows.retrain import retrain_model

    try:
        outcome = retrain_model(
            model=run.model,
            reason=run.decision.retrain_reason or "drift",
            monitor_run_id=str(run.run_id) if run.run_id is not None else None,
            as_of=run.window_end,
            since=run.decision.change_point,
        )
    except Exception as exc:  # the run is recorded; say why the retrain failed
        return f"the retrain-model flow failed: {type(exc).__name__}: {scrub(str(exc))}", True
    if outcome is None:  # a repeat: the retrain of this monitor run already ran
        return "already handled by an earlier retrain of this monitor run", False
    return (
        f"retrain-model ran here: challenger v{outcome.challenger_version} {outcome.status} "
        f"({outcome.reason})",
        False,
    )


@monitor_app.command("backfill")
def monitor_backfill(
    model: ModelOpt,
    start: Annotated[str, typer.Option(help="Start of the range (ISO date or time, UTC).")],
    end: Annotated[str, typer.Option(help="End of the range, exclusive (ISO date or time).")],
) -> None:
    """Monitor every window in [start, end), oldest first, with a progress bar per window
    on a terminal.

    History only: a backfill sends no alert and requests no retrain (use `monitor run`
    for that); a calendar event it records is announced by the next `monitor run`.
    Each window sees the runs before it as history. Exit code 2 when any window failed.
    """
    from driftline.sdk import backfill

    _require_spec(model)
    with progress_bars(f"backfilling {model} from {start} to {end}") as progress:
        runs = backfill(model, start, end, progress=progress)
    console.print(_runs_table(runs, f"{model}: backfill {start} to {end}"))
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        console.print(f"{len(failed)} of {len(runs)} windows failed", style="bold red")
        raise typer.Exit(code=2)


def _estimated(run: StoredRun) -> str:
    """The window's estimate with its band, and the labelled window's estimate next to
    its realized value ("estimated roc_auc 0.710 [0.690, 0.730], realized 0.700")."""
    parts = []
    window, matured = run.estimated_window, run.estimated_labelled
    if window is not None:
        parts += [window.text(m) for m in window.metrics][:2]
    if matured is not None and matured.realized:
        shown = "; ".join(matured.text(m) for m in matured.metrics if m in matured.realized)
        parts.append(f"labelled window: {shown}")
    return "\n".join(parts) or "-"


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
    as_json: JsonOpt = False,
) -> None:
    """Show the stored monitor runs of a model, newest window first."""
    from driftline.context import Context
    from driftline.monitoring.runs import list_runs

    with Context.open(read_only=True) as ctx:
        ctx.store.require_schema()
        runs = list_runs(ctx.store, model, limit=limit)
    if as_json:
        print_json({"model": model, "runs": [asdict(run) for run in runs]})
        return
    table = Table(title=f"{model}: monitor runs")
    for name in ("run", "window end", "status", "drift share", "decision", "severity"):
        table.add_column(name, justify="right" if name in {"run", "drift share"} else "left")
    table.add_column("champion")
    table.add_column("rows", justify="right")
    table.add_column("realized (version)")
    table.add_column("segments, multivariate")
    table.add_column("estimated [band], realized")
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
            _extras(run),
            _estimated(run),
            run.error or run.report_path or "",
        )
    console.print(table if runs else f"no monitor runs stored for {model!r} yet")

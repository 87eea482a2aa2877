"""``driftline drift check`` (two files, no store) and ``driftline monitor ...`` (the store,
the champion's baseline, the policy). Commands parse, call the core, and render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from driftline.drift import DriftResult

drift_app = typer.Typer(help="Drift checks on files, without a store.", no_args_is_help=True)
monitor_app = typer.Typer(
    help="Monitor a model's live windows against its champion's baseline.", no_args_is_help=True
)

console = Console()

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model name (monitors/<model>.yaml).")]


def _columns_table(result: DriftResult, title: str) -> Table:
    table = Table(title=title)
    for name in ("column", "type", "method", "score", "threshold", "drifted"):
        table.add_column(name, justify="right" if name in {"score", "threshold"} else "left")
    rows = list(result.columns)
    if result.prediction is not None:
        rows.append(result.prediction)
    for col in rows:
        label = f"{col.name} (prediction)" if col is result.prediction else col.name
        table.add_row(
            label,
            col.type,
            col.method,
            f"{col.score:.4g}",
            f"{col.threshold:g}",
            "[bold red]yes[/]" if col.drifted else "no",
        )
    return table


def _render_result(result: DriftResult, title: str) -> None:
    console.print(_columns_table(result, title))
    verdict = "[bold red]dataset drift[/]" if result.dataset_drift else "[green]no dataset drift[/]"
    console.print(
        f"{verdict}: {len(result.drifted_columns)} of {len(result.columns)} columns drifted "
        f"({result.drift_share:.0%}, threshold {result.drift_share_threshold:.0%}); "
        f"rows: reference {result.rows_reference:,}, current {result.rows_current:,}",
        highlight=False,
    )
    for finding in result.quality:
        console.print(
            f"[yellow]data quality[/] {finding.column}: {finding.detail}", highlight=False
        )
    if result.performance is not None and result.performance.metrics:
        shown = ", ".join(
            f"{k} {v:.3f} (baseline {result.performance.baseline.get(k, float('nan')):.3f})"
            for k, v in result.performance.metrics.items()
        )
        console.print(f"realized performance: {shown}", highlight=False)


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
        Path | None, typer.Option("--html", help="Write the Evidently HTML report here.")
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 1 when dataset drift is found.")
    ] = False,
) -> None:
    """Compare two files. Exit 0 when the check ran, 1 with --fail-on-drift on dataset
    drift, 2 on bad input. Without --spec the column types come from --numerical /
    --categorical, or are inferred from the data."""
    from driftline.filecheck import check_files
    from driftline.specs import load_spec

    spec = load_spec(spec_file) if spec_file is not None else None
    with console.status("checking drift"):
        check = check_files(
            reference, current, spec=spec, numerical=numerical, categorical=categorical
        )
    result = check.result
    _render_result(result, f"drift: {current} against {reference}")
    for column, why in check.skipped.items():
        console.print(f"[dim]not checked: {column} ({why})[/]", highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_contract(), indent=2))
        console.print(f"wrote {json_out}", highlight=False)
    if html_out is not None and result.report is not None:
        for path in result.report.save_html(html_out):
            console.print(f"wrote {path}", highlight=False)
    if fail_on_drift and result.dataset_drift:
        raise typer.Exit(code=1)

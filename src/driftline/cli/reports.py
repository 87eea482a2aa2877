"""``driftline reports prune``: apply each model's ``reports:`` retention now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from driftline.cli.options import JsonOpt, ModelFilterOpt
from driftline.cli.output import make_console, print_json

app = typer.Typer(
    help="The monitor runs' HTML reports and Evidently snapshots.", no_args_is_help=True
)
console = make_console()


@app.command("prune")
def prune(
    model: ModelFilterOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete the reports and snapshots of old windows by each model's reports.keep_days
    and reports.max_mb (a window's HTML files and snapshots go together); print what was
    deleted and the space freed. Models without either key keep everything.

    Exit codes: 0 done (also when nothing was due), 2 a spec is broken or a file or
    snapshot could not be deleted (the others were).
    """
    from driftline.config.settings import get_settings
    from driftline.monitoring.retention import MB, prune_reports
    from driftline.specs import find_spec, scan_specs

    settings = get_settings()
    if model is not None:
        specs, broken = [find_spec(model, settings.specs_dir)], []
    else:
        scan = scan_specs(settings.specs_dir)
        specs, broken = scan.specs, [str(p) for p in scan.problems]
    results = [
        prune_reports(spec, settings.reports_dir(), settings.workspace_dir(), dry_run=dry_run)
        for spec in specs
    ]
    failed = broken + [f"{r.model}: {p}" for r in results for p in r.problems]
    if as_json:
        print_json(
            {"dry_run": dry_run, "models": [r.to_dict() for r in results], "problems": failed}
        )
    else:
        verb = "would delete" if dry_run else "deleted"
        table = Table(title=f"reports {'to prune (dry run)' if dry_run else 'pruned'}")
        for column in ("model", "keep_days", "max_mb", "windows", "files", "snapshots"):
            table.add_column(column, justify="left" if column == "model" else "right")
        table.add_column("MB freed" if not dry_run else "MB to free", justify="right")
        table.add_column("MB kept", justify="right")
        for r in results:
            limits = r.keep_days is not None or r.max_mb is not None
            table.add_row(
                r.model,
                str(r.keep_days) if r.keep_days is not None else "-",
                f"{r.max_mb:g}" if r.max_mb is not None else "-",
                str(r.deleted_windows) if limits else "no limit set",
                str(len(r.deleted_files)),
                str(len(r.deleted_snapshots)),
                f"{r.freed_bytes / MB:.1f}",
                f"{r.kept_bytes / MB:.1f}" if limits else "-",
            )
        console.print(table)
        for r in results:
            for path in r.deleted_files:
                console.print(f"{verb} {path}")
            for snapshot in r.deleted_snapshots:
                console.print(f"{verb} Evidently snapshot {snapshot} of {r.model}")
        total = sum(r.freed_bytes for r in results)
        console.print(f"{'would free' if dry_run else 'freed'} {total / MB:.1f} MB")
        for problem in failed:
            console.print(f"not done: {problem}", style="red")
    if failed:
        raise typer.Exit(code=2)

"""Root of the ``driftline`` CLI. Commands stay thin: parse, call the core, render.

Every DriftlineError becomes a red message on stderr and exit code 2; nothing else is
caught, so a real bug still shows its traceback.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from driftline.cli.options import JsonOpt, ModelOpt, print_json
from driftline.config.errors import DriftlineError

if TYPE_CHECKING:
    from driftline.data.store import ModelSummary
    from driftline.specs import ModelSpec

app = typer.Typer(
    name="driftline",
    help="Drift monitoring and gated retraining for production ML models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="The prediction store's schema.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load predictions and labels into the store.", no_args_is_help=True)
privacy_app = typer.Typer(help="Consent and erasure.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
app.add_typer(privacy_app, name="privacy")

console = Console()
err_console = Console(stderr=True)


# Offline by default: no usage telemetry from the libraries driftline runs.
_OFFLINE_ENV = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def main() -> None:
    """Console-script entry point."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        app()
    except DriftlineError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's tables (also done by commands that write, on first use;
    commands that only look, such as status, never create or migrate anything)."""
    from driftline.config.settings import get_settings
    from driftline.data.store import Store

    store = Store.from_settings(get_settings())
    console.print(f"store is up to date: {store!r}")
    store.dispose()


def _ingest(kind: str, path: Path, model: str, model_version: str | None = None) -> None:
    from driftline.context import Context
    from driftline.data import ingest
    from driftline.data.files import read_table
    from driftline.sdk import version_checker

    frame = read_table(path, csv_as_text=True)
    with Context.open() as ctx, console.status(f"ingesting {len(frame):,} {kind} from {path}"):
        spec = ctx.spec(model)
        if kind == "predictions":
            result = ingest.log_predictions(
                ctx.store,
                spec,
                frame,
                ctx.pseudonymizer(),
                source=str(path),
                model_version=model_version,
                check_version=version_checker(ctx, spec),
            )
        else:
            result = ingest.log_labels(ctx.store, spec, frame, source=str(path))
    console.print(
        f"{result.model}: {result.received:,} {kind} read, {result.inserted:,} stored, "
        f"{result.already_stored:,} already stored, "
        f"{result.duplicates_in_batch:,} repeated in the file"
    )
    if result.unmatched:
        console.print(
            Text(
                f"{result.unmatched:,} labels match no stored prediction (first request ids: "
                f"{', '.join(result.unmatched_examples)}): check the request id column, or "
                "ingest their predictions first",
                style="yellow",
            )
        )


@ingest_app.command("predictions")
def ingest_predictions(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of predictions.")],
    model: ModelOpt,
    model_version: Annotated[
        str | None,
        typer.Option(
            help="Registry version of the model that scored every row of the file (e.g. "
            "4); instead of, or agreeing with, a model_version column in the file."
        ),
    ] = None,
) -> None:
    """Validate and store a batch of predictions (all rows or none)."""
    _ingest("predictions", file, model, model_version)


@ingest_app.command("labels")
def ingest_labels(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet: request id, target, labelled_at.")],
    model: ModelOpt,
) -> None:
    """Validate and store labels that arrived after the predictions."""
    _ingest("labels", file, model)


@privacy_app.command("forget")
def privacy_forget(
    model: ModelOpt,
    entity: Annotated[str, typer.Option(help="The raw customer/entity id to erase.")],
) -> None:
    """Erase every stored row of one customer (predictions and their labels)."""
    from driftline.sdk import forget_entity

    result = forget_entity(model, entity)
    console.print(
        f"{result.model}: erased {result.predictions_deleted} predictions and "
        f"{result.labels_deleted} labels of that entity"
    )


@app.command("simulate")
def simulate_cmd(
    out: Annotated[Path, typer.Option(help="Folder to write the data and timeline into.")],
    scenario: Annotated[
        str,
        typer.Option(
            help="stable, flash_sale, channel_shift, "
            "mobile_shift, concept_drift, pipeline_bug, demo"
        ),
    ] = "stable",
    days: Annotated[int, typer.Option(min=1, help="Days of traffic.")] = 28,
    rows_per_day: Annotated[int, typer.Option(min=1, help="Visitors per ordinary day.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same rows).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Simulate eCommerce traffic with a known drift timeline."""
    import json

    from driftline.devtools.simulate import SCENARIOS, simulate

    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"choose one of {', '.join(SCENARIOS)}", param_hint="--scenario")
    if fmt not in {"parquet", "csv"}:
        raise typer.BadParameter("choose parquet or csv", param_hint="--format")
    with console.status(f"simulating {days} days of {scenario}"):
        sim = simulate(scenario, days=days, rows_per_day=rows_per_day, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("predictions", sim.predictions), ("labels", sim.labels)):
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        console.print(f"wrote {len(frame):,} rows to {path}")
    (out / "timeline.json").write_text(json.dumps(sim.timeline, indent=2))
    console.print(f"wrote the timeline to {out / 'timeline.json'}")


@app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Show what each model's predictions source holds: driftline's store, or the table a
    spec's source: names. Creates nothing, anywhere: on a database without driftline's
    tables it says so (and still shows models that read from their own table)."""
    from driftline.context import Context
    from driftline.data.source import summarize
    from driftline.specs import list_specs

    rows: list[tuple[ModelSpec, ModelSummary | str]] = []
    with Context.open(read_only=True) as ctx:
        problem = ctx.store.schema_problem()
        known = set(ctx.store.registered_models()) if problem is None else set()
        for spec in list_specs(ctx.settings.specs_dir):
            if spec.source is None and spec.name not in known:
                continue
            try:
                rows.append((spec, summarize(ctx.store, spec)))
            except DriftlineError as exc:  # one unreadable source hides no other model
                rows.append((spec, str(exc)))
    if as_json:
        print_json(
            {
                "problem": problem,
                "models": [
                    {
                        "model": spec.name,
                        "read_from": spec.source.describe() if spec.source else "driftline store",
                        **({"error": s} if isinstance(s, str) else asdict(s)),
                    }
                    for spec, s in rows
                ],
            }
        )
        return
    if problem is not None:
        console.print(problem, style="yellow", markup=False, highlight=False)
    if rows or problem is None:
        console.print(_summary_table(rows))


def _summary_table(rows: list[tuple[ModelSpec, ModelSummary | str]]) -> Table:
    table = Table(title="predictions")
    for column in ("model", "read from", "predictions", "first", "last", "consenting", "labels"):
        table.add_column(column, justify="left" if column in ("model", "read from") else "right")
    for spec, s in rows:
        where = escape(spec.source.describe()) if spec.source else "driftline store"
        if isinstance(s, str):
            table.add_row(spec.name, where, f"[red]{escape(s)}[/]", "", "", "", "")
            continue
        table.add_row(
            s.model,
            where,
            f"{s.predictions:,}",
            f"{s.first_ts:%Y-%m-%d %H:%M}" if s.first_ts is not None else "-",
            f"{s.last_ts:%Y-%m-%d %H:%M}" if s.last_ts is not None else "-",
            f"{s.consenting:,}",
            f"{s.labels:,}",
        )
    return table


from driftline.cli import alerts as _alerts  # noqa: E402
from driftline.cli import demo as _demo  # noqa: E402
from driftline.cli import lifecycle as _lifecycle  # noqa: E402
from driftline.cli import ops as _ops  # noqa: E402
from driftline.cli import plugins as _plugins  # noqa: E402
from driftline.cli import specs as _specs  # noqa: E402

app.command("demo")(_demo.demo)
app.add_typer(_ops.dashboards_app, name="dashboards")
app.command("ui")(_ops.ui)
app.add_typer(_ops.deployments_app, name="deployments")
app.command("serve")(_ops.serve)
app.command("plugins")(_plugins.plugins)
app.add_typer(_specs.spec_app, name="spec")
app.add_typer(_alerts.app, name="alerts")
app.add_typer(_lifecycle.app)  # train, benchmark, promote, rollback, adopt, models

from driftline.cli import monitoring as _monitoring  # noqa: E402  (drift and monitor commands)

app.add_typer(_monitoring.drift_app, name="drift")
app.add_typer(_monitoring.monitor_app, name="monitor")

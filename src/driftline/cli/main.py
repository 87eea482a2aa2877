"""Root of the ``driftline`` CLI. Commands stay thin: parse, call the core, render.

Exit codes, the same for every command (:func:`main`, the console script, is the one
place that maps errors to them): 0 done; 1 a finding, never an error (``drift check
--fail-on-drift``: dataset drift; ``promote``: the challenger was rejected or waits for
approval; ``plugins``: a plugin did not load);
2 bad input or a broken service (every DriftlineError: a red message on stderr saying
what was wrong and what to do; also Click's usage errors); 3 an internal error, a bug in
driftline: a short message on stderr, the traceback in a log file (and on stderr with
``--verbose``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from driftline.cli.options import JsonOpt, ModelOpt
from driftline.cli.output import make_console, print_json, styled
from driftline.config.errors import DriftlineError

if TYPE_CHECKING:
    from driftline.data.store import ModelSummary

app = typer.Typer(
    name="driftline",
    help="Drift monitoring and gated retraining for production ML models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="The prediction store's schema.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load predictions and labels into the store.", no_args_is_help=True)
privacy_app = typer.Typer(
    help="Consent, erasure and the pseudonymisation key.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
app.add_typer(privacy_app, name="privacy")

console = make_console()
err_console = make_console(stderr=True)


#: Exit code of an internal error (a bug): never 1, which means "drift found" to scripts.
INTERNAL_ERROR = 3
_verbose = False


@app.callback()
def _root(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Show the libraries' INFO logs (MLflow, Prefect, alembic, Evidently) and "
            "driftline's own on stderr; on an internal error, print the traceback too (it "
            "is always logged).",
        ),
    ] = False,
) -> None:
    """Drift monitoring and gated retraining for production ML models."""
    global _verbose
    _verbose = verbose
    configure_logging(verbose)


#: Libraries whose logs below WARNING the CLI hides unless --verbose (Prefect's too, but
#: only on the console: see :func:`configure_logging`).
LIBRARY_LOGGERS = ("mlflow", "alembic", "evidently", "httpx", "urllib3", "huey")


def configure_logging(verbose: bool) -> None:
    """Quiet by default: the libraries' logs below WARNING are dropped (MLflow's "Creating
    initial MLflow database tables...", alembic's migrations), in this process and in the
    servers and flows it starts (``MLFLOW_LOGGING_LEVEL``, unless already set). Prefect's
    console handler shows WARNING and above (``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL``),
    while flow runs still send their INFO logs to the Prefect API, where the UI shows
    them. ``verbose``: INFO logs of driftline and every library on stderr, with their
    time and logger name."""
    import logging
    import os

    if verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO")
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        return
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    """Console-script entry point: runs the command and maps its errors to exit codes (see
    the module docstring). Telemetry is off for this process and every child."""
    from driftline.config.secrets import scrub
    from driftline.ops.processes import go_offline

    go_offline()
    try:
        app()
    except DriftlineError as exc:
        err_console.print(styled(("error:", "bold red"), f" {scrub(str(exc))}"))
        raise SystemExit(2) from None
    except Exception as exc:  # anything else is a bug in driftline, never "drift found"
        raise SystemExit(_internal_error(exc)) from None


def _internal_error(exc: Exception) -> int:
    """Log the traceback (secrets scrubbed), say where it is, and return the exit code."""
    import traceback

    from driftline.config.secrets import scrub

    text = scrub("".join(traceback.format_exception(exc)))
    where = _log_internal_error(text)
    err_console.print(
        styled(
            ("internal error", "bold red"),
            " (a bug in driftline, not a problem with your input): "
            f"{type(exc).__name__}: {scrub(str(exc))[:300]}",
        )
    )
    if _verbose:
        err_console.print(text)
    else:
        err_console.print(
            f"The traceback is in {where}; run the command again with --verbose "
            "(driftline --verbose ...) to print it. Please report it with the traceback."
        )
    return INTERNAL_ERROR


def _log_internal_error(text: str) -> str:
    """Append ``text`` to ``<home>/logs/internal-errors.log`` (the system's temporary
    folder when the home folder cannot be used); the file's path."""
    import tempfile
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    folders = []
    try:
        from driftline.config.settings import get_settings

        folders.append(get_settings().home.expanduser() / "logs")
    except Exception:  # broken settings: the temporary folder still works
        pass
    folders.append(Path(tempfile.gettempdir()))
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "driftline-internal-errors.log"
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"--- {stamp}\n{text}\n")
            return str(path)
        except OSError:
            continue
    return "no log (no writable folder)"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's tables (also done by commands that write, on first use;
    commands that only look, such as status, never create or migrate anything)."""
    from driftline.config.settings import get_settings
    from driftline.data.store import Store

    settings = get_settings()
    probe = Store.from_settings(settings, migrate=False)
    try:
        before = probe.revisions()
        if not before:
            console.print("creating the store's tables ...")
        elif probe.schema_problem() is not None:
            console.print(
                "migrating the store (a migration that rebuilds an index reads each "
                "inference log once and locks it meanwhile: minutes for 100M rows) ..."
            )
    finally:
        probe.dispose()
    store = Store.from_settings(settings)
    try:
        for applied in store.migrations_since(before):
            console.print(f"applied {applied}")
        console.print(f"store is up to date: {store!r}")
    finally:
        store.dispose()


def _ingest(kind: str, path: Path, model: str, model_version: str | None = None) -> None:
    from driftline.context import Context
    from driftline.data import ingest
    from driftline.data.files import read_table
    from driftline.sdk import version_checker

    frame = read_table(path)
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
        + (
            f"; consent changed on {result.consent_changed:,} stored rows"
            if kind == "predictions"
            else ""
        )
    )
    if result.unmatched:
        console.print(
            f"{result.unmatched:,} labels match no stored prediction (first request ids: "
            f"{', '.join(result.unmatched_examples)}): check the request id column, or "
            "ingest their predictions first",
            style="yellow",
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
    as_json: JsonOpt = False,
) -> None:
    """Erase one customer from every copy: baseline samples of every version, row-level
    reports and snapshots of their windows, then their predictions and labels."""
    from driftline.sdk import forget_entity

    result = forget_entity(model, entity)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"{result.model}: erased {result.predictions_deleted} predictions and "
        f"{result.labels_deleted} labels of that entity from the store"
    )
    for b in result.baselines:
        if not b.searchable:
            continue
        stats = ", stats.json recomputed" if b.stats_recomputed else ""
        console.print(
            f"  baseline sample v{b.version} {b.folder}/: {b.rows_erased} rows erased, "
            f"{b.rows_left} left{stats}"
        )
    if not result.baselines:
        console.print("  baseline samples: none stored")
    console.print(f"  row-level reports deleted: {len(result.reports_deleted)}")
    for path in result.reports_deleted:
        console.print(f"    {path}")
    console.print(
        f"  row-level snapshots regenerated aggregates-only: {len(result.snapshots_regenerated)}"
    )
    trained = ", ".join(f"v{v}" for v in result.trained_on) or "none"
    console.print(f"  model versions trained on windows with the customer's rows: {trained}")
    for note in result.notes:
        console.print(f"  note: {note}", style="yellow")


@privacy_app.command("consent")
def privacy_consent(
    model: ModelOpt,
    entity: Annotated[str, typer.Option(help="The raw customer/entity id, as ingested.")],
    withdraw: Annotated[
        bool | None,
        typer.Option(
            "--withdraw/--give",
            help="Withdraw the customer's consent, or give it (again). One is required.",
        ),
    ] = None,
) -> None:
    """Withdraw (or give) one customer's consent: every stored row of theirs gets the flag,
    so withdrawn rows leave the next windows, training sets and baselines."""
    from driftline.sdk import set_consent

    if withdraw is None:
        raise typer.BadParameter("say --withdraw or --give", param_hint="--withdraw/--give")
    changed = set_consent(model, entity, not withdraw)
    verb = "withdrawn" if withdraw else "given"
    console.print(f"{model}: consent {verb}; {changed} stored predictions of that entity changed")


@privacy_app.command("rotate-key")
def privacy_rotate_key() -> None:
    """Append a new pseudonymisation key to the key file and re-pseudonymise every stored
    row under it, in one transaction (stop ingestion while it runs)."""
    from driftline.sdk import rotate_key

    rotation = rotate_key()
    rows = sum(rotation.rows.values())
    console.print(
        f"re-pseudonymised {rows:,} stored predictions in {len(rotation.rows)} tables; "
        f"{rotation.key_file} now holds a chain of {rotation.keys} keys (back it up apart "
        "from the store)"
    )


@app.command("simulate")
def simulate_cmd(
    out: Annotated[Path, typer.Option(help="Folder to write the data and timeline into.")],
    scenario: Annotated[
        str,
        typer.Option(
            help="stable, flash_sale, channel_shift, "
            "mobile_shift, concept_drift, pipeline_bug, harmless_shift, demo"
        ),
    ] = "stable",
    change_day: Annotated[
        int | None,
        typer.Option(
            min=0, help="Day the scenario's change starts (default: mid-timeline; not for demo)."
        ),
    ] = None,
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
        try:
            sim = simulate(
                scenario, days=days, rows_per_day=rows_per_day, seed=seed, change_day=change_day
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--change-day") from None
    out.mkdir(parents=True, exist_ok=True)
    written = (
        ("predictions", sim.predictions),
        ("labels", sim.labels),
        ("next_category_labels", sim.next_category_labels),
    )
    for name, frame in written:
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
    from driftline.specs import scan_specs

    rows: list[tuple[str, str, ModelSummary | str]] = []
    with Context.open(read_only=True) as ctx:
        problem = ctx.store.schema_problem()
        known = set(ctx.store.registered_models()) if problem is None else set()
        scan = scan_specs(ctx.settings.specs_dir)
        for spec in scan.specs:
            if spec.source is None and spec.name not in known:
                continue
            where = spec.source.describe() if spec.source else "driftline store"
            try:
                rows.append((spec.name, where, summarize(ctx.store, spec)))
            except DriftlineError as exc:  # one unreadable source hides no other model
                rows.append((spec.name, where, str(exc)))
    if as_json:
        print_json(
            {
                "problem": problem,
                "models": [
                    {
                        "model": name,
                        "read_from": source,
                        **({"error": s} if isinstance(s, str) else asdict(s)),
                    }
                    for name, source, s in rows
                ],
            }
        )
        return
    if problem is not None:
        console.print(problem, style="yellow")
    if rows or problem is None:
        console.print(_summary_table(rows))
    for broken in scan.problems:  # one broken spec hides no other model
        console.print(f"broken spec, not shown: {broken}", style="yellow")


def _summary_table(rows: list[tuple[str, str, ModelSummary | str]]) -> Table:
    table = Table(title="predictions")
    for column in ("model", "read from", "predictions", "first", "last", "consenting", "labels"):
        table.add_column(column, justify="left" if column in ("model", "read from") else "right")
    for name, where, s in rows:
        if isinstance(s, str):
            table.add_row(name, where, styled((s, "red")), "", "", "", "")
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
from driftline.cli import baseline as _baseline  # noqa: E402
from driftline.cli import demo as _demo  # noqa: E402
from driftline.cli import lifecycle as _lifecycle  # noqa: E402
from driftline.cli import ops as _ops  # noqa: E402
from driftline.cli import plugins as _plugins  # noqa: E402
from driftline.cli import profiles as _profiles  # noqa: E402
from driftline.cli import reports as _reports  # noqa: E402
from driftline.cli import specs as _specs  # noqa: E402

app.command("demo")(_demo.demo)
app.add_typer(_ops.dashboards_app, name="dashboards")
app.command("ui")(_ops.ui)
app.add_typer(_ops.deployments_app, name="deployments")
app.command("init")(_ops.init)
app.command("serve")(_ops.serve)
app.command("plugins")(_plugins.plugins)
app.add_typer(_specs.spec_app, name="spec")
app.add_typer(_alerts.app, name="alerts")
app.add_typer(_baseline.app, name="baseline")
app.add_typer(_reports.app, name="reports")
app.add_typer(_profiles.app, name="profile")
app.add_typer(_lifecycle.app)  # train, benchmark, promote, rollback, adopt, models

from driftline.cli import monitoring as _monitoring  # noqa: E402  (drift and monitor commands)

app.add_typer(_monitoring.drift_app, name="drift")
app.add_typer(_monitoring.monitor_app, name="monitor")

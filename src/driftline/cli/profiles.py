"""``driftline profile``: column profiles (JSON) of a reference or a window, computed
locally, inside PostgreSQL, or on Spark where the data lives."""

from __future__ import annotations

import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftline.cli.options import ModelOpt, WindowEndOpt
from driftline.cli.output import make_console, styled

if TYPE_CHECKING:
    from collections.abc import Mapping

    from driftline.monitoring.profiles import ColumnProfile

app = typer.Typer(
    no_args_is_help=True,
    help="Column profiles (JSON) of a reference or a window: locally, inside PostgreSQL "
    "or on Spark.",
)
console = make_console()

OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Where to write the profile (JSON).", dir_okay=False)
]
ReferenceOpt = Annotated[
    Path,
    typer.Option(
        "--reference",
        "-r",
        help="The reference profile (from `driftline profile reference`): its bin edges "
        "and columns are the window's.",
        dir_okay=False,
    ),
]


class Where(StrEnum):
    local = "local"
    database = "database"


def _read_reference(path: Path) -> dict[str, ColumnProfile]:
    from driftline.config.errors import DataError
    from driftline.monitoring.profiles import from_json

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the reference profile ({exc.strerror}); write one with "
            "`driftline profile reference`"
        ) from None
    try:
        return from_json(text)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def _write(profiles: Mapping[str, ColumnProfile], out: Path, what: str) -> None:
    """Write the profile whole or not at all (a temporary file renamed into place)."""
    from driftline.monitoring.profiles import to_json

    text = to_json(profiles)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    rows = next(iter(profiles.values())).count if profiles else 0
    console.print(
        styled(
            (f"{what}: ", "bold green"),
            f"{len(profiles)} columns, {rows:,} rows -> ",
            (str(out), ""),
        )
    )


@app.command("reference")
def reference(
    model: ModelOpt,
    data: Annotated[Path, typer.Argument(help="Reference rows: a CSV or Parquet file.")],
    out: OutOpt,
    bins: Annotated[
        int, typer.Option(min=2, help="Reference-quantile bins per numerical column.")
    ] = 2048,
) -> None:
    """Profile a reference file locally (the spec's features and prediction columns): the
    bin edges every window profile of the model is computed on."""
    from driftline.context import Context
    from driftline.data.files import read_table
    from driftline.monitoring.profiles import profile_frame

    with Context.open() as ctx:
        spec = ctx.spec(model)
    profiles = profile_frame(read_table(data), spec.column_types_with_prediction, bins=bins)
    _write(profiles, out, f"reference profile of {spec.name}")


@app.command("window")
def window(
    model: ModelOpt,
    reference: ReferenceOpt,
    out: OutOpt,
    window_end: WindowEndOpt = None,
    on: Annotated[
        Where,
        typer.Option(
            help="local: read the window's rows and profile them here; database: aggregate "
            "queries inside the PostgreSQL store, no rows shipped."
        ),
    ] = Where.local,
) -> None:
    """Profile one monitored window of the store (consenting rows, as the monitor reads
    them) against a reference profile."""
    from driftline.context import Context
    from driftline.data.windows import read_window, window_bounds
    from driftline.monitoring.profilers.database import profile_window
    from driftline.monitoring.profiles import profile_frame

    ref = _read_reference(reference)
    with Context.open() as ctx:
        spec = ctx.spec(model)
        start, end = window_bounds(spec.monitoring, window_end)
        if on == Where.database:
            profiles = profile_window(ctx.store, spec, ref, start, end)
        else:
            rows = read_window(ctx.store, spec, start, end)
            profiles = profile_frame(rows, {k: p.kind for k, p in ref.items()}, ref)
    _write(profiles, out, f"{spec.name} window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}")


@app.command("spark")
def spark(
    source: Annotated[
        str,
        typer.Argument(
            help="A Parquet file or folder (local path, s3a://, hdfs://) or a table of the "
            "Spark catalog."
        ),
    ],
    reference: ReferenceOpt,
    out: OutOpt,
    master: Annotated[
        str | None,
        typer.Option(
            help="Spark master, e.g. local[2]; default: what spark-submit or the environment sets."
        ),
    ] = None,
) -> None:
    """Profile data on Spark (the local profiler per partition, profiles merged): for
    windows too large for one worker. Needs PySpark: the `spark` extra of driftline."""
    from driftline.monitoring.profilers.spark import profile_spark, read_source, spark_session

    ref = _read_reference(reference)
    session = spark_session(master)
    profiles = profile_spark(read_source(session, source), ref)
    _write(profiles, out, f"Spark profile of {source}")

"""``driftline profile``: column profiles (JSON) of a reference or a window, computed
locally, inside PostgreSQL, or on Spark where the data lives."""

from __future__ import annotations

import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from driftline.cli.options import ModelOpt, WindowEndOpt
from driftline.cli.output import make_console, styled

if TYPE_CHECKING:
    from collections.abc import Mapping

    from driftline.context import Context
    from driftline.lifecycle.baseline import Baseline
    from driftline.monitoring.profiles import ColumnProfile, ProfileDocument
    from driftline.specs import ModelSpec

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
ChampionReferenceOpt = Annotated[
    Path | None,
    typer.Option(
        "--reference",
        "-r",
        help="The reference profile (from `driftline profile reference`): its bin edges "
        "and columns are the window's. Default: the champion's, read from the registry.",
        dir_okay=False,
    ),
]


class Where(StrEnum):
    local = "local"
    database = "database"


def _read_reference(path: Path) -> ProfileDocument:
    from driftline.config.errors import DataError
    from driftline.monitoring.profiles import read_json

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the reference profile ({exc.strerror}); write one with "
            "`driftline profile reference`"
        ) from None
    try:
        doc = read_json(text)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    if doc.about.get("role") == "window":
        raise DataError(
            f"{path} is a window profile, not a reference profile: pass the file "
            "`driftline profile reference` wrote"
        )
    return doc


def _window_about(reference: ProfileDocument, source: str, **more: Any) -> dict[str, Any]:
    """What a window profile made on ``reference`` is of: the reference's model and
    version (whose bins it uses), its source, and ``more`` (its window)."""
    about = reference.about
    return {
        "role": "window",
        "model": about.get("model"),
        "version": about.get("version"),
        "source": source,
        **more,
    }


def _write(
    profiles: Mapping[str, ColumnProfile], out: Path, what: str, about: Mapping[str, Any]
) -> None:
    """Write the profile whole or not at all (a temporary file renamed into place)."""
    from driftline.monitoring.profiles import to_json

    text = to_json(profiles, about)
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
    out: OutOpt,
    data: Annotated[
        Path | None,
        typer.Argument(
            help="Reference rows to profile: a CSV or Parquet file. Default: export the "
            "champion's stored reference profile (what its monitor runs compare with)."
        ),
    ] = None,
    bins: Annotated[
        int | None,
        typer.Option(
            min=2, help="Reference-quantile bins per numerical column of DATA (default 2048)."
        ),
    ] = None,
) -> None:
    """Write a reference profile: the bin edges every window profile of the model is
    computed on. Without DATA, the champion's own (stored with its baseline): window
    profiles made on it can be fed to `driftline monitor run --profile`. With DATA, a
    profile of that file (the spec's features and prediction columns)."""
    from driftline.config.errors import DataError
    from driftline.context import Context
    from driftline.monitoring.profiles import DEFAULT_BINS, profile_frame

    with Context.open() as ctx:
        spec = ctx.spec(model)
        if data is None:
            if bins is not None:
                raise DataError(
                    "--bins applies to a reference file; the champion's reference profile has "
                    "the edges its monitor runs use (leave --bins out)"
                )
            baseline = _champion(ctx, spec)
            columns = spec.column_types_with_prediction
            profiles = _stored_profile(baseline, columns)
            about = {"role": "reference", "model": spec.name, "version": baseline.version}
            _write(profiles, out, f"reference profile of {spec.name} v{baseline.version}", about)
            return
    from driftline.data.files import read_table

    profiles = profile_frame(
        read_table(data), spec.column_types_with_prediction, bins=bins or DEFAULT_BINS
    )
    about = {"role": "reference", "model": spec.name, "source": str(data)}
    _write(profiles, out, f"reference profile of {spec.name}", about)


def _champion(ctx: Context, spec: ModelSpec) -> Baseline:
    from driftline.lifecycle.registry import load_champion_baseline

    return load_champion_baseline(ctx.settings, spec)


def _stored_profile(baseline: Baseline, columns: Mapping[str, str]) -> dict[str, ColumnProfile]:
    """The baseline's reference profile of ``columns`` (the spec's; a column its stored
    profile lacks is profiled from its reference sample); BaselineError naming the columns
    the sample lacks."""
    from driftline.config.errors import BaselineError
    from driftline.lifecycle.baseline import reference_profile

    missing = [c for c in columns if c not in baseline.reference.columns]
    if missing:
        raise BaselineError(
            f"the baseline of {baseline.model} version {baseline.version} lacks columns "
            f"{missing} that the spec monitors; retrain so the champion's baseline matches "
            "the spec"
        )
    return reference_profile(baseline, columns)


@app.command("window")
def window(
    model: ModelOpt,
    out: OutOpt,
    reference: ChampionReferenceOpt = None,
    window_end: WindowEndOpt = None,
    on: Annotated[
        Where,
        typer.Option(
            help="local: read the window's rows in batches and profile them here (memory "
            "holds one batch); database: aggregate queries inside the PostgreSQL store, no "
            "rows shipped."
        ),
    ] = Where.local,
) -> None:
    """Profile one monitored window of the store (consenting rows, as the monitor reads
    them) on a reference profile's bins; the file records the model, the window and the
    reference's version, for `driftline monitor run --profile`."""
    from driftline.config.errors import DataError
    from driftline.context import Context
    from driftline.data.windows import read_window_batches, window_bounds
    from driftline.monitoring.profilers.database import profile_window
    from driftline.monitoring.profiles import ProfileDocument, profile_batches

    ref = _read_reference(reference) if reference is not None else None
    with Context.open() as ctx:
        spec = ctx.spec(model)
        if ref is not None and ref.about.get("model") not in (None, spec.name):
            raise DataError(
                f"{reference} is the reference profile of model {ref.about['model']!r}, not "
                f"{spec.name!r}: export {spec.name}'s (`driftline profile reference -m "
                f"{spec.name} -o ref.json`)"
            )
        if ref is None:
            baseline = _champion(ctx, spec)
            columns = _stored_profile(baseline, spec.column_types_with_prediction)
            ref = ProfileDocument(columns, {"model": spec.name, "version": baseline.version})
        start, end = window_bounds(spec.monitoring, window_end)
        if on == Where.database:
            profiles = profile_window(ctx.store, spec, ref.columns, start, end)
        else:
            kinds = {k: p.kind for k, p in ref.columns.items()}
            batches = read_window_batches(ctx.store, spec, start, end, list(kinds))
            profiles = profile_batches(batches, kinds, ref.columns)
    if not any(p.count for p in profiles.values()):
        raise DataError(
            f"the {spec.name} window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC holds "
            "no consenting rows: nothing to profile (give --window-end of a window with "
            f"predictions; `driftline status` shows what the store holds)"
        )
    about = _window_about(
        ref,
        f"the {spec.name} window of the store ({on.value})",
        model=spec.name,
        window=[start.isoformat(), end.isoformat()],
    )
    _write(
        profiles,
        out,
        f"{spec.name} window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}",
        about,
    )


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
    profiles = profile_spark(read_source(session, source), ref.columns)
    _write(profiles, out, f"Spark profile of {source}", _window_about(ref, source))

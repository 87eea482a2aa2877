"""``driftline baseline``: re-baseline the champion's monitoring reference, and undo it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from driftline.cli.options import ModelOpt
from driftline.cli.output import make_console, styled

if TYPE_CHECKING:
    import pandas as pd  # imported where it runs: `driftline --help` needs no pandas

app = typer.Typer(no_args_is_help=True, help="The champion's monitoring reference.")
console = make_console()


def parse_window(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``START..END`` (ISO dates or times, UTC) as two timestamps; BadParameter saying the
    expected form for anything else."""
    import pandas as pd

    start, sep, end = text.partition("..")
    try:
        if not sep or not start.strip() or not end.strip():
            raise ValueError(text)
        begin, stop = pd.Timestamp(start.strip()), pd.Timestamp(end.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a window: write START..END in ISO 8601, e.g. "
            "2026-10-01..2026-10-08 (UTC; the end is excluded)",
            param_hint="--window",
        ) from None
    begin = begin.tz_localize("UTC") if begin.tzinfo is None else begin.tz_convert("UTC")
    stop = stop.tz_localize("UTC") if stop.tzinfo is None else stop.tz_convert("UTC")
    return begin, stop


@app.command("refresh")
def refresh(
    model: ModelOpt,
    window: Annotated[
        str,
        typer.Option(
            help="START..END (UTC, end excluded): the champion's predictions of this window "
            "become its monitoring reference, e.g. 2026-10-01..2026-10-08."
        ),
    ],
    why: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
) -> None:
    """Make a recent window the champion's monitoring reference (audited; undo with
    `driftline baseline undo`)."""
    from driftline.context import Context
    from driftline.lifecycle.rebaseline import refresh_baseline

    start, end = parse_window(window)
    with Context.open() as ctx:
        done = refresh_baseline(ctx.store, ctx.registry(), ctx.spec(model), start, end, why=why)
    console.print(styled((done.reason, "bold green"), f" (audit record {done.audit_id})"))


@app.command("undo")
def undo(model: ModelOpt) -> None:
    """Give the champion back the monitoring reference its newest refresh replaced."""
    from driftline.context import Context
    from driftline.lifecycle.rebaseline import undo_refresh

    with Context.open() as ctx:
        done = undo_refresh(ctx.store, ctx.registry(), ctx.spec(model))
    console.print(styled((done.reason, "bold green"), f" (audit record {done.audit_id})"))

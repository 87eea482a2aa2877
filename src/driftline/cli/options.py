"""Options shared by several commands, each defined once (name, short flag, help text)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

#: The model a command acts on (``--model purchase_propensity``).


def _model_name(value: str | None) -> str | None:
    """Refuse what is not a model name (a path, absolute or relative, above all) before a
    command reads or records anything: exit 2 with the rule."""
    from driftline.specs.model import MODEL_NAME

    if value is not None and not MODEL_NAME.match(value):
        raise typer.BadParameter(
            f"{value!r} is not a model name: use lowercase letters, digits and underscores "
            "(the name of a spec file in the specs folder, without .yaml), not a path"
        )
    return value


ModelOpt = Annotated[
    str,
    typer.Option("--model", "-m", help="Model name (monitors/<model>.yaml).", callback=_model_name),
]

#: An optional model filter (commands that otherwise act on every model).
ModelFilterOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Only this model (default: every model).", callback=_model_name
    ),
]

#: The data clock training-side windows are measured from.
AsOfOpt = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        help="Data clock (UTC) to measure windows from. Default: the newest stored prediction.",
    ),
]

#: The end of a monitored window.
WindowEndOpt = Annotated[
    str | None,
    typer.Option(
        "--window-end",
        help="End of the window to check (ISO date or time, UTC when no zone is given). "
        "Default: the last window boundary (midnight UTC for daily windows).",
    ),
]

#: Scriptable output: one JSON document on stdout and nothing else.
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the result as one JSON document on stdout and nothing else "
        "(errors still go to stderr with their exit code).",
    ),
]

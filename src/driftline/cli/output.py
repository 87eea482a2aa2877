"""The CLI's consoles: every string is printed literally, never read as markup.

Data reaches the terminal through these consoles (category values, column names, error
texts, reasons, file paths, model names), so rich markup (``[bold]``, ``[/]``,
``[link=...]``), emoji codes (``:name:``) and highlighting are off: a value such as ``[/]``
is shown as it is instead of failing with a ``MarkupError``, and ``[link=...]`` never
becomes a hyperlink. That holds for ``console.status(...)`` too, whose spinner would
otherwise parse its text as markup whatever the console says. Style goes through
:func:`styled` (rich ``Text``), which never parses its parts, or ``style=`` of ``print``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.text import Text

if TYPE_CHECKING:
    from rich.status import Status  # rich imports it when a status starts


class _LiteralConsole(Console):
    """A console whose status line is literal text too (rich's spinner reads a ``str``
    as markup even when the console reads none)."""

    def status(self, status: RenderableType, **kwargs: Any) -> Status:
        return super().status(Text(status) if isinstance(status, str) else status, **kwargs)


def make_console(*, stderr: bool = False) -> Console:
    """A console that reads no markup, emoji codes or highlighting in what it prints."""
    return _LiteralConsole(stderr=stderr, markup=False, emoji=False, highlight=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Text from literal parts: a plain string, or a ``(text, style)`` pair such as
    ``("error:", "bold red")``; no part is parsed as markup."""
    return Text.assemble(*parts)


def print_json(document: object) -> None:
    """Write ``document`` as one JSON document on stdout (numpy scalars as numbers,
    datetimes, paths and anything else as text: :func:`~driftline.config.values.json_default`);
    not through rich, so nothing is wrapped, coloured or marked up."""
    import json
    import sys

    from driftline.config.values import json_default

    sys.stdout.write(json.dumps(document, indent=2, default=json_default) + "\n")
    sys.stdout.flush()

"""The CLI's consoles: every string is printed literally, never read as markup.

Data reaches the terminal through these consoles (category values, column names, error
texts, reasons), so rich markup (``[bold]``, ``[/]``, ``[link=...]``), emoji codes
(``:name:``) and highlighting are off: a value such as ``[/]`` is shown as it is instead of
failing with a ``MarkupError``, and ``[link=...]`` never becomes a hyperlink. Style goes
through :func:`styled` (rich ``Text``), which never parses its parts.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def make_console(*, stderr: bool = False) -> Console:
    """A console that reads no markup, emoji codes or highlighting in what it prints."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Text from literal parts: a plain string, or a ``(text, style)`` pair such as
    ``("error:", "bold red")``; no part is parsed as markup."""
    return Text.assemble(*parts)

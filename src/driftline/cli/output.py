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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleDimensions, RenderableType
from rich.text import Text

if TYPE_CHECKING:
    from rich.status import Status  # rich imports it when a status starts

    from driftline.config.progress import Progress

#: Width of a console whose output is not a terminal (a pipe, a file, a CI log): wide
#: enough that no table wraps a cell mid-word; tables take only the width they need.
#: ``COLUMNS`` set in the environment wins.
PIPE_WIDTH = 1000


class _LiteralConsole(Console):
    """A console whose status line is literal text too (rich's spinner reads a ``str``
    as markup even when the console reads none), and which is wide when its output is not
    a terminal, so piped tables keep one row per line (rich would wrap at 80 columns)."""

    def status(self, status: RenderableType, **kwargs: Any) -> Status:
        return super().status(Text(status) if isinstance(status, str) else status, **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if self._width is None and not self.is_terminal and "COLUMNS" not in self._environ:
            return ConsoleDimensions(PIPE_WIDTH, dimensions.height)
        return dimensions

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Off a terminal, a table's title goes on a line of its own above it: rich wraps a
        title to the table's width, which cut long titles over several lines in a file."""
        if self.is_terminal or not any(getattr(o, "title", None) for o in objects):
            super().print(*objects, **kwargs)
            return
        from rich.table import Table

        for item in objects:
            if isinstance(item, Table) and item.title:
                title, item.title = item.title, None
                try:
                    super().print(title, **kwargs)
                    super().print(item, **kwargs)
                finally:
                    item.title = title
            else:
                super().print(item, **kwargs)

    def rule(self, title: str | Text = "", **kwargs: Any) -> None:
        """A horizontal rule; off a terminal a short plain one (a rule spans the width)."""
        if self.is_terminal:
            super().rule(title, **kwargs)
        else:
            self.print(f"--- {title} ---" if title else "-" * 40)


def make_console(*, stderr: bool = False) -> Console:
    """A console that reads no markup, emoji codes or highlighting in what it prints."""
    return _LiteralConsole(stderr=stderr, markup=False, emoji=False, highlight=False)


@contextmanager
def progress_bars(title: str, *, enabled: bool = True) -> Iterator[Progress]:
    """Rich progress bars on stderr for a block of long work: yields the
    :data:`~driftline.config.progress.Progress` to hand to the core, which reports
    :class:`~driftline.config.progress.Step` values (one bar per ``step.task``, its note
    beside it). Shown only when stderr is a terminal and ``enabled`` (pass ``not
    as_json``); otherwise the progress is dropped and nothing is printed. ``title`` is the
    first bar's text until the core reports."""
    from driftline.config.progress import Step, no_progress

    console = make_console(stderr=True)
    if not (enabled and console.is_terminal):
        yield no_progress
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bars

    bars = Bars(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}", markup=False),
        console=console,
        transient=False,
    )
    first = bars.add_task(title, total=None, note="")
    ids: dict[str, Any] = {}

    def report(step: Step) -> None:
        if step.task not in ids:
            if not ids:  # the first report takes over the title's bar
                bars.update(first, description=step.task, total=step.total)
                ids[step.task] = first
            else:
                ids[step.task] = bars.add_task(step.task, total=step.total, note="")
        bars.update(ids[step.task], completed=step.done, total=step.total, note=step.note)

    with bars:
        yield report


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

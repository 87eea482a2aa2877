"""``driftline plugins``: what each extension point has registered, and from where."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def _registries() -> dict[str, Any]:
    from driftline.alerts.channels import CHANNELS
    from driftline.lifecycle.trainers import TRAINERS
    from driftline.monitoring.engines import ENGINES
    from driftline.tasks import TASKS

    return {"tasks": TASKS, "engines": ENGINES, "trainers": TRAINERS, "channels": CHANNELS}


def _about(value: Any) -> str:
    """One line about a registered implementation: its description, else its docstring."""
    text = getattr(value, "description", None) or (type(value).__doc__ or "")
    return " ".join(str(text).split("\n\n")[0].split())


def plugins() -> None:
    """List the registered tasks, drift engines, trainers and alert channels, with where
    each came from (built in, or a package's entry point)."""
    problems: list[str] = []
    for title, registry in _registries().items():
        table = Table(title=f"{title} (entry point group {registry.group})", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("from")
        table.add_column("what it is")
        for entry in registry.entries():
            table.add_row(escape(entry.name), escape(entry.source), escape(_about(entry.value)))
        console.print(table)
        problems += registry.errors
    for problem in problems:
        console.print(f"[yellow]not loaded:[/] {escape(problem)}")

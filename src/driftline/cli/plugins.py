"""``driftline plugins``: what each extension point has registered, and from where."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table

from driftline.cli.options import JsonOpt
from driftline.cli.output import make_console, print_json, styled

console = make_console()


def _registries() -> dict[str, tuple[Any, str, Callable[[Any], str]]]:
    """Registry by title, with the heading and value of the column only it has."""
    from driftline.alerts.channels import CHANNELS
    from driftline.lifecycle.trainers import TRAINERS
    from driftline.monitoring.engines import ENGINES
    from driftline.tasks import TASKS

    return {
        "tasks": (TASKS, "metrics (primary first)", lambda t: ", ".join(t.primary_metrics)),
        "engines": (ENGINES, "methods", lambda e: ", ".join(sorted(e.methods))),
        "trainers": (TRAINERS, "tasks", lambda t: ", ".join(t.tasks)),
        "channels": (
            CHANNELS,
            "URL from",
            lambda c: (
                c.env_var + (f" or Prefect Secret {c.secret_block}" if c.secret_block else "")
            ),
        ),
    }


def _about(value: Any) -> str:
    """One line about a registered implementation: its description, else its docstring's
    first paragraph, without reStructuredText markup."""
    text = getattr(value, "description", None) or (type(value).__doc__ or "")
    first = " ".join(str(text).strip().split("\n\n")[0].split())
    return re.sub(r":\w+:`~?([^`]+)`|``([^`]+)``", lambda m: m.group(1) or m.group(2), first)


def plugins(as_json: JsonOpt = False) -> None:
    """List the registered tasks, drift engines, trainers and alert channels, with where
    each came from (built in, or a package's entry point). Exits 1 when an installed
    plugin failed to load, naming it and why."""
    problems: list[str] = []
    chatty = logging.getLogger("driftline.plugins")
    level = chatty.level
    chatty.setLevel(logging.ERROR)  # load failures are listed below, not logged as well
    try:
        registries = _registries()
        for registry, _, _ in registries.values():
            registry.names()  # load built-ins and entry points now
    finally:
        chatty.setLevel(level)
    if as_json:
        print_json(
            {
                title: {
                    "group": registry.group,
                    "entries": [
                        {
                            "name": entry.name,
                            "from": entry.source,
                            heading: detail(entry.value),
                            "about": _about(entry.value),
                        }
                        for entry in registry.entries()
                    ],
                    "not_loaded": list(registry.errors),
                }
                for title, (registry, heading, detail) in registries.items()
            }
        )
        if any(registry.errors for registry, _, _ in registries.values()):
            raise typer.Exit(code=1)
        return
    for title, (registry, heading, detail) in registries.items():
        table = Table(title=f"{title} (entry point group {registry.group})", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("from")
        table.add_column(heading)
        table.add_column("what it is")
        for entry in registry.entries():
            table.add_row(
                entry.name,
                entry.source,
                detail(entry.value),
                _about(entry.value),
            )
        console.print(table)
        problems += registry.errors
    for problem in problems:
        console.print(styled(("not loaded:", "yellow"), f" {problem}"))
    if problems:
        raise typer.Exit(code=1)

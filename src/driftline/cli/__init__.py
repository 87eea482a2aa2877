"""The ``driftline`` command line (Typer). Entry point: :func:`main`."""

from __future__ import annotations

from driftline.cli.main import app, main

__all__ = ["app", "main"]

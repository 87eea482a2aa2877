"""The servers driftline starts (``driftline ui``, the demo's Prefect server): their
command lines and environments.

Two rules hold for every child process. Telemetry is off (:data:`OFFLINE_ENV`, forced
over the parent's environment: Evidently honours ``DO_NOT_TRACK``, MLflow
``MLFLOW_DISABLE_TELEMETRY``, Prefect ``PREFECT_SERVER_ANALYTICS_ENABLED``). Secrets (a
tracking or store URL with a password) go through the environment, never the command
line, which every local user can read in ``/proc/PID/cmdline``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from driftline.config.settings import Settings

#: No usage telemetry from the libraries driftline runs, in this process and its children.
OFFLINE_ENV: Mapping[str, str] = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def go_offline(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Switch telemetry off in ``environ`` (default: this process's, which children
    inherit), overriding what was there."""
    environ.update(OFFLINE_ENV)


def child_env(secrets: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: this process's, telemetry off, plus ``secrets``
    (variables the child reads instead of command-line arguments)."""
    env = dict(os.environ)
    go_offline(env)
    env.update(secrets or {})
    return env


@dataclass(frozen=True)
class Service:
    """One server to start: its name, command line (no secrets), environment and port."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(repr=False, default_factory=dict)


def _tool(name: str) -> str:
    """A console script next to this Python (the same virtual environment), else on PATH."""
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def ui_services(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    evidently_port: int = 8000,
    mlflow_port: int = 5000,
    prefect_port: int = 4200,
) -> list[Service]:
    """The Evidently, MLflow and Prefect UIs on ``host``. The MLflow backend store URI
    (which may hold a password) is passed as ``MLFLOW_BACKEND_STORE_URI``."""
    evidently = [_tool("evidently"), "ui", "--workspace", str(settings.workspace_dir())]
    mlflow = [_tool("mlflow"), "server", "--artifacts-destination"]
    mlflow.append(str(settings.mlflow_artifacts_dir()))
    prefect = [_tool("prefect"), "server", "start"]
    return [
        Service(
            "Evidently",
            [*evidently, "--host", host, "--port", str(evidently_port)],
            evidently_port,
            child_env(),
        ),
        Service(
            "MLflow",
            [*mlflow, "--host", host, "--port", str(mlflow_port)],
            mlflow_port,
            child_env({"MLFLOW_BACKEND_STORE_URI": settings.tracking_uri()}),
        ),
        Service(
            "Prefect",
            [*prefect, "--host", host, "--port", str(prefect_port)],
            prefect_port,
            child_env(),
        ),
    ]

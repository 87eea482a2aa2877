"""The environment of the processes driftline starts (``driftline ui``'s servers, the
demo's Prefect server) and of driftline itself.

Two rules hold for every child process. Telemetry is off (:data:`OFFLINE_ENV`, forced
over the parent's environment: Evidently honours ``DO_NOT_TRACK``, MLflow
``MLFLOW_DISABLE_TELEMETRY``, Prefect ``PREFECT_SERVER_ANALYTICS_ENABLED``). Secrets (a
tracking or store URL with a password) go through the environment, never the command
line, which every local user can read in ``/proc/PID/cmdline``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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

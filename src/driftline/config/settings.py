"""Runtime settings, read from the environment (prefix ``DRIFTLINE_``) when asked for.

Nothing here runs at import time: call :func:`get_settings` (or build ``Settings()``)
where the value is needed, so tests and the CLI can point driftline elsewhere.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where ``driftline ui`` serves each UI by default (and so where links point).
DEFAULT_UI_URLS = {
    "evidently": "http://127.0.0.1:8000",
    "mlflow": "http://127.0.0.1:5000",
    "prefect": "http://127.0.0.1:4200",
}


class Settings(BaseSettings):
    """Where driftline keeps its state, and the secrets it needs."""

    # A ``.env`` file in the working directory is read too (python-dotenv through
    # pydantic-settings); the environment wins over it.
    model_config = SettingsConfigDict(
        env_prefix="DRIFTLINE_", extra="ignore", env_file=".env", env_file_encoding="utf-8"
    )

    home: Path = Field(
        default=Path(".driftline"),
        description="Folder holding the SQLite store, the MLflow store, reports, the "
        "Evidently workspace and the pseudonymisation key.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the prediction store, e.g. "
        "postgresql+psycopg://user:pass@host/db. Default: SQLite in the home folder.",
    )
    specs_dir: Path = Field(
        default=Path("monitors"), description="Folder of model specs (<model>.yaml)."
    )
    dashboards_dir: Path = Field(
        default=Path("dashboards"), description="Folder of dashboard definitions (YAML)."
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Key for the keyed HMAC that pseudonymises entity ids. Default: read "
        "from pseudonym_key_file.",
    )
    pseudonym_key_file: Path | None = Field(
        default=None,
        description="File holding the pseudonymisation key (anywhere; keep it out of the "
        "store's and the home folder's backups). Default: <home>/pseudonym.key, generated "
        "once (mode 600).",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking and registry URI. Default: SQLite in the home folder.",
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None,
        description="Slack incoming webhook URL for alerts (a secret: never logged). "
        "Flows may pass a Prefect Secret block's value instead.",
    )
    webhook_url: SecretStr | None = Field(
        default=None,
        description="URL of a generic webhook that receives each alert as plain JSON "
        "(a secret: never logged).",
    )
    evidently_ui_url: str = Field(
        default=DEFAULT_UI_URLS["evidently"],
        description="Address people open the Evidently UI at (links to snapshots in "
        "alerts and artifacts). Default: what `driftline ui` serves.",
    )
    mlflow_ui_url: str | None = Field(
        default=None,
        description="Address people open the MLflow UI at (links to model versions). "
        "Default: the tracking URI when it is an http(s) server, else what "
        "`driftline ui` serves.",
    )
    prefect_ui_url: str = Field(
        default=DEFAULT_UI_URLS["prefect"],
        description="Address people open the Prefect UI at (links to flow runs). "
        "Default: what `driftline ui` serves.",
    )
    # An alert channel names the environment variable of its URL; the two built-in
    # channels' variables are settings above. Read any of them with ``secret``.

    @cached_property
    def resolved_home(self) -> Path:
        """The home folder as an absolute path, created if missing."""
        home = self.home.expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
        return home

    def store_url(self, *, create_home: bool = True) -> str:
        """The prediction store's SQLAlchemy URL (secret: never log it). The default is a
        SQLite file in the home folder, which is created unless ``create_home`` is false
        (read-only commands create nothing)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        home = self.resolved_home if create_home else self.home.expanduser().resolve()
        return f"sqlite:///{home / 'driftline.db'}"

    def key_file(self) -> Path:
        """The pseudonymisation key's file: the setting, else ``<home>/pseudonym.key``."""
        if self.pseudonym_key_file is not None:
            return self.pseudonym_key_file.expanduser().resolve()
        return self.resolved_home / "pseudonym.key"

    def _subdir(self, name: str) -> Path:
        path = self.resolved_home / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def reports_dir(self) -> Path:
        """Evidently HTML reports and other files people open."""
        return self._subdir("reports")

    def workspace_dir(self) -> Path:
        """The local Evidently workspace (projects, snapshots, dashboards)."""
        return self._subdir("evidently")

    def mlflow_artifacts_dir(self) -> Path:
        """Where MLflow experiments in the default local store keep their artifacts."""
        return self._subdir("mlartifacts")

    def prefect_home(self) -> Path:
        """``PREFECT_HOME`` of this home: the Prefect database (flow runs, artifacts) that
        ``driftline ui``, ``driftline demo`` and the CLI's flows share."""
        return self._subdir("prefect")

    def mlflow_ui(self) -> str:
        """Address of the MLflow UI for links: the setting, else an http(s) tracking
        server (its UI is at the same address), else ``driftline ui``'s default."""
        if self.mlflow_ui_url:
            return self.mlflow_ui_url
        uri = self.mlflow_tracking_uri or ""
        if uri.startswith(("http://", "https://")):
            return uri
        return DEFAULT_UI_URLS["mlflow"]

    def secret(self, env_var: str) -> SecretStr | None:
        """The secret held by the environment variable ``env_var`` (e.g. an alert channel's
        URL), None when unset or blank. A variable that is a setting (DRIFTLINE_ and a
        field name: DRIFTLINE_SLACK_WEBHOOK_URL is ``slack_webhook_url``) is read from
        these settings, so a value given to ``Settings(...)`` wins; any other (a plugin
        channel's own variable) from the environment, when asked."""
        prefix = str(self.model_config.get("env_prefix", ""))
        field = env_var[len(prefix) :].lower() if env_var.upper().startswith(prefix) else ""
        value: object = (
            getattr(self, field) if field in type(self).model_fields else os.environ.get(env_var)
        )
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return SecretStr(text) if isinstance(text, str) and text.strip() else None

    def tracking_uri(self) -> str:
        """MLflow tracking and registry URI: the setting, else SQLite in the home folder."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.resolved_home / 'mlflow.db'}"


def get_settings() -> Settings:
    """Build settings from the current environment."""
    return Settings()

"""The composition root: everything a command needs, built once from settings.

Only the edges open a :class:`Context`: the CLI, the Prefect flows and the SDK
(:mod:`driftline.sdk`). The core receives what it needs (a store, a registry, a spec)
as arguments, so every rule can be tested without settings or services.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from driftline.config.settings import Settings, get_settings
from driftline.data.privacy import Pseudonymizer, pseudonymizer_from
from driftline.data.store import Store
from driftline.specs import ModelSpec, find_spec

if TYPE_CHECKING:
    from pydantic import SecretStr

    from driftline.alerts.delivery import Destinations
    from driftline.lifecycle.registry import Registry


@dataclass
class Context:
    """Settings and the open store; the registry and alert destinations on request."""

    settings: Settings
    store: Store

    @classmethod
    @contextmanager
    def open(
        cls, settings: Settings | None = None, *, read_only: bool = False
    ) -> Iterator[Context]:
        """Open the store named by ``settings`` (default: the environment's) for a block.

        ``read_only`` is for commands that only look (status, histories, lists): the store
        is neither created nor migrated and cannot be written; such a command checks
        ``store.schema_problem()`` / ``store.require_schema()`` before reading.
        """
        settings = settings or get_settings()
        store = Store.from_settings(settings, read_only=read_only)
        try:
            yield cls(settings, store)
        finally:
            store.dispose()

    def spec(self, model: str | ModelSpec) -> ModelSpec:
        """The spec of ``model`` from the specs folder (a spec passes through)."""
        if isinstance(model, ModelSpec):
            return model
        return find_spec(model, self.settings.specs_dir)

    def pseudonymizer(self) -> Pseudonymizer:
        return pseudonymizer_from(self.settings)

    def alert_destinations(
        self, overrides: Mapping[str, str | SecretStr | None] | None = None
    ) -> Destinations:
        """Each alert channel's URL from settings, unless ``overrides`` gives it by channel
        name (e.g. a Prefect Secret block's value); a malformed one is reported per channel."""
        from driftline.alerts.delivery import Destinations

        return Destinations.from_settings(self.settings, overrides)

    def registry(self) -> Registry:
        """The MLflow tracking server and model registry (see driftline.lifecycle.registry)."""
        from driftline.lifecycle.registry import Registry

        return Registry.from_settings(self.settings)

    def existing_registry(self) -> Registry | None:
        """The registry for commands that only look: None when it is a local SQLite file
        or folder that does not exist yet (nothing was trained or adopted), so that
        looking creates nothing; no artifact folder is created either."""
        from driftline.lifecycle.registry import Registry

        uri = self.settings.tracking_uri() if self.settings.mlflow_tracking_uri else None
        uri = uri or f"sqlite:///{self.settings.home.expanduser().resolve() / 'mlflow.db'}"
        local = uri.removeprefix("sqlite:///").removeprefix("file://")
        if ("://" not in local or uri.startswith("file:")) and not Path(local).exists():
            return None
        return Registry(uri)

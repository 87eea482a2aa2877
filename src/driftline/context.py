"""The Python entry points a serving app or notebook calls, by model name.

``log_predictions("purchase_propensity", df)`` reads settings from the environment,
opens the store and the model's spec, and ingests; pass ``settings=`` to point
elsewhere. Each call opens and closes its own store connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from driftline.config.settings import Settings, get_settings
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer, pseudonymizer_from
from driftline.data.store import ErasureResult, IngestResult, Store
from driftline.specs import ModelSpec, find_spec

if TYPE_CHECKING:
    from driftline.alerts import Destinations
    from driftline.lifecycle.registry import Registry


@dataclass
class Context:
    """Everything a command needs, built once from settings (the composition root)."""

    settings: Settings
    store: Store

    @classmethod
    @contextmanager
    def open(cls, settings: Settings | None = None) -> Iterator[Context]:
        settings = settings or get_settings()
        store = Store.from_settings(settings)
        try:
            yield cls(settings, store)
        finally:
            store.dispose()

    def spec(self, model: str | ModelSpec) -> ModelSpec:
        if isinstance(model, ModelSpec):
            return model
        return find_spec(model, self.settings.specs_dir)

    def pseudonymizer(self) -> Pseudonymizer:
        return pseudonymizer_from(self.settings)

    def alert_destinations(
        self, *, slack_url: str | None = None, webhook_url: str | None = None
    ) -> Destinations:
        """Webhook URLs from settings, unless given here (e.g. a Prefect Secret's value)."""
        from driftline.alerts import Destinations

        return Destinations.from_settings(
            self.settings, slack_url=slack_url, webhook_url=webhook_url
        )

    def registry(self) -> Registry:
        """The MLflow tracking server and model registry (see driftline.registry)."""
        from driftline.lifecycle.registry import Registry

        return Registry.from_settings(self.settings)


def log_predictions(
    model: str | ModelSpec, df: pd.DataFrame, *, settings: Settings | None = None
) -> IngestResult:
    """Validate, pseudonymise and store a batch of predictions (all or nothing)."""
    with Context.open(settings) as ctx:
        return ingest.log_predictions(ctx.store, ctx.spec(model), df, ctx.pseudonymizer())


def log_labels(
    model: str | ModelSpec, df: pd.DataFrame, *, settings: Settings | None = None
) -> IngestResult:
    """Store labels (request id + target) that arrived after the predictions."""
    with Context.open(settings) as ctx:
        return ingest.log_labels(ctx.store, ctx.spec(model), df)


def forget_entity(
    model: str | ModelSpec, entity_id: str, *, settings: Settings | None = None
) -> ErasureResult:
    """Erase every stored row of one customer, given their raw id."""
    with Context.open(settings) as ctx:
        key = ctx.pseudonymizer().pseudonymise(entity_id)
        return ctx.store.forget(ctx.spec(model), key)

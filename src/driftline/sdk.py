"""The Python entry points a serving app, a notebook or a scheduler calls, by model name.

``log_predictions("purchase_propensity", df)`` reads settings from the environment, opens
the store and the model's spec, and ingests; pass ``settings=`` to point elsewhere. Each
call opens and closes its own store connection (a :class:`~driftline.context.Context`).
The same names are importable from the package: ``from driftline import log_predictions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from driftline.config.settings import Settings, get_settings
from driftline.context import Context
from driftline.data import ingest
from driftline.data.store import ErasureResult, IngestResult
from driftline.data.windows import window_ends
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.engines import DriftEngine
from driftline.monitoring.monitor import (
    FAILURES_FILE,
    BaselineLoader,
    MonitorRun,
    WindowEnds,
    monitor_models,
    unreachable_store_runs,
)
from driftline.specs import ModelSpec, Monitoring, find_spec


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


# -- monitoring by model name ----------------------------------------------------------------


def champion_loader(settings: Settings) -> BaselineLoader:
    """The baseline of the version that holds ``champion`` now, from the MLflow registry."""

    def load(spec: ModelSpec) -> Baseline:
        from driftline.lifecycle.registry import load_champion_baseline

        return load_champion_baseline(settings, spec)

    return load


def monitor_model(
    model: str,
    window_end: datetime | str | None = None,
    *,
    settings: Settings | None = None,
    baseline_loader: BaselineLoader | None = None,
    engine: DriftEngine | None = None,
    now: datetime | None = None,
) -> MonitorRun:
    """Monitor one window of ``model`` against its champion; never raises for bad data,
    a bad spec, a missing champion or an unreachable store (the run is failed instead)."""
    return _by_name([model], lambda _: [window_end], settings, baseline_loader, engine, now)[0]


def backfill(
    model: str,
    start: datetime | str,
    end: datetime | str,
    *,
    settings: Settings | None = None,
    baseline_loader: BaselineLoader | None = None,
    engine: DriftEngine | None = None,
) -> list[MonitorRun]:
    """Monitor every window in ``[start, end)`` in time order (each sees the runs before
    it as history). The champion's baseline is resolved once, the current one."""

    def ends(spec: ModelSpec | None) -> Sequence[datetime | str | None]:
        return window_ends(spec.monitoring if spec else Monitoring(), start, end)

    return _by_name([model], ends, settings, baseline_loader, engine, None)


def monitor_all(
    models: Sequence[str] | None = None,
    window_end: datetime | str | None = None,
    *,
    settings: Settings | None = None,
    baseline_loader: BaselineLoader | None = None,
    engine: DriftEngine | None = None,
) -> list[MonitorRun]:
    """Monitor every model with a spec (or the ones named); one failure stops no other."""
    settings = settings or get_settings()
    if models is None:
        models = sorted(p.stem for p in settings.specs_dir.glob("*.yaml"))
    return _by_name(list(models), lambda _: [window_end], settings, baseline_loader, engine, None)


def _by_name(
    models: list[str],
    ends: WindowEnds,
    settings: Settings | None,
    baseline_loader: BaselineLoader | None,
    engine: DriftEngine | None,
    now: datetime | None,
) -> list[MonitorRun]:
    settings = settings or get_settings()
    loader = baseline_loader or champion_loader(settings)
    try:
        opened = Context.open(settings)
        ctx = opened.__enter__()
    except Exception as exc:  # the store is unreachable: record the failures in a file
        failures = settings.resolved_home / FAILURES_FILE
        return unreachable_store_runs(models, ends, exc, failures, now=now)
    try:
        return monitor_models(
            ctx.store,
            models,
            ends,
            lambda model: find_spec(model, settings.specs_dir),
            loader,
            reports_dir=settings.reports_dir(),
            workspace_dir=settings.workspace_dir(),
            engine=engine,
            now=now,
        )
    finally:
        opened.__exit__(None, None, None)

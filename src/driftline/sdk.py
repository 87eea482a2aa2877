"""The Python entry points a serving app, a notebook or a scheduler calls, by model name.

``log_predictions("purchase_propensity", df)`` reads settings from the environment, opens
the store and the model's spec, and ingests; pass ``settings=`` to point elsewhere. Each
call opens and closes its own store connection (a :class:`~driftline.context.Context`).
The same names are importable from the package: ``from driftline import log_predictions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from driftline.config.errors import SpecError, StoreError
from driftline.config.settings import Settings, get_settings
from driftline.context import Context
from driftline.data import ingest
from driftline.data.files import read_table
from driftline.data.source import require_stored
from driftline.data.store import ErasureResult, IngestResult
from driftline.data.windows import window_ends
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.engines import DriftEngine
from driftline.monitoring.monitor import (
    FAILURES_FILE,
    BaselineLoader,
    MonitorRun,
    VersionLoader,
    WindowEnds,
    monitor_models,
    unreachable_store_runs,
)
from driftline.specs import ModelSpec, Monitoring, find_spec

if TYPE_CHECKING:
    from pydantic import SecretStr

    from driftline.alerts.message import Alert
    from driftline.alerts.outbox import NotifyResult
    from driftline.lifecycle.adopt import AdoptionResult
    from driftline.lifecycle.promotion import PromotionOutcome
    from driftline.lifecycle.registry import Registry

log = logging.getLogger(__name__)


def log_predictions(
    model: str | ModelSpec,
    df: pd.DataFrame,
    *,
    model_version: str | int | None = None,
    settings: Settings | None = None,
) -> IngestResult:
    """Validate, pseudonymise and store a batch of predictions (all or nothing).

    ``model_version``: the registry version of the model that scored the batch (e.g. the
    champion the serving app loaded), stored with every row so realized performance is
    judged against that version's own validation metrics. The batch may carry a
    ``model_version`` column instead; both at once must agree. Raises DataError for a bad
    batch (nothing written); RegistryError for a version the registry does not have."""
    with Context.open(settings) as ctx:
        spec = ctx.spec(model)
        return ingest.log_predictions(
            ctx.store,
            spec,
            df,
            ctx.pseudonymizer(),
            model_version=model_version,
            check_version=version_checker(ctx, spec),
        )


def version_checker(ctx: Context, spec: ModelSpec) -> Callable[[str], object]:
    """A check that ``spec``'s model has a registered version (RegistryError naming the
    version and how to list them), for ingestion; the registry is opened on first use."""
    registries: list[Registry] = []

    def check(version: str) -> object:
        if not registries:
            registries.append(ctx.registry())
        return registries[0].version(spec, version)

    return check


def log_labels(
    model: str | ModelSpec, df: pd.DataFrame, *, settings: Settings | None = None
) -> IngestResult:
    """Store labels (request id + target) that arrived after the predictions."""
    with Context.open(settings) as ctx:
        return ingest.log_labels(ctx.store, ctx.spec(model), df)


def forget_entity(
    model: str | ModelSpec, entity_id: str, *, settings: Settings | None = None
) -> ErasureResult:
    """Erase every stored row of one customer, given their raw id. DataError for a model
    that reads its predictions from a ``source:`` table (erase them there)."""
    with Context.open(settings) as ctx:
        spec = ctx.spec(model)
        require_stored(spec, "predictions", "erase a customer's predictions")
        key = ctx.pseudonymizer().pseudonymise(entity_id)
        return ctx.store.forget(spec, key)


def adopt(
    model: str | ModelSpec,
    model_uri: str,
    reference: pd.DataFrame | str | Path,
    *,
    labels: pd.DataFrame | str | Path | None = None,
    replace_champion: bool = False,
    triggered_by: str | None = None,
    settings: Settings | None = None,
) -> AdoptionResult:
    """Adopt a model you already have as the champion of ``model``: store it under the
    spec's trust rules, capture its baseline from ``reference`` (features, predictions,
    labels from its target column or from ``labels`` joined on the request id), and make
    it champion through the promotion audit; then alert like a promotion. ``reference``
    and ``labels`` are frames or CSV / Parquet paths. See :mod:`driftline.lifecycle.adopt`
    for what is recorded and the errors raised."""
    from driftline.alerts.lifecycle import notify_outcome
    from driftline.lifecycle.adopt import adopt as adopt_model
    from driftline.lifecycle.promotion import default_actor

    reference_frame, reference_source = _frame(reference, "reference")
    labels_frame, labels_source = (None, "labels") if labels is None else _frame(labels, "labels")
    with Context.open(settings) as ctx:
        result = adopt_model(
            ctx.store,
            ctx.registry(),
            ctx.spec(model),
            model_uri=model_uri,
            reference=reference_frame,
            labels=labels_frame,
            triggered_by=triggered_by or default_actor().replace("cli:", "sdk:", 1),
            replace_champion=replace_champion,
            reference_source=reference_source,
            labels_source=labels_source,
        )
        notify_outcome(
            ctx.store,
            result.outcome,
            ctx.alert_destinations,
            settings=ctx.settings,
            spec_of=ctx.spec,
        )
    return result


def _frame(data: pd.DataFrame | str | Path, name: str) -> tuple[pd.DataFrame, str]:
    """A frame as given, or read from a CSV / Parquet path; and how messages name it."""
    if isinstance(data, pd.DataFrame):
        return data, name
    return read_table(data, csv_as_text=True), str(data)


# -- monitoring by model name ----------------------------------------------------------------


def champion_loader(settings: Settings) -> BaselineLoader:
    """The baseline of the version that holds ``champion`` now, from the MLflow registry."""

    def load(spec: ModelSpec) -> Baseline:
        from driftline.lifecycle.registry import load_champion_baseline

        return load_champion_baseline(settings, spec)

    return load


def version_loader(settings: Settings) -> VersionLoader:
    """The baseline of any registered version, from the MLflow registry: the monitor reads
    the reference and validation metrics of the versions that made a window's predictions."""

    def load(spec: ModelSpec, version: str) -> Baseline:
        from driftline.lifecycle.registry import load_baseline

        return load_baseline(settings, spec, version)

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
    with ExitStack() as stack:
        try:
            ctx = stack.enter_context(Context.open(settings))
        except Exception as exc:  # the store is unreachable: record the failures in a file
            failures = settings.resolved_home / FAILURES_FILE
            return unreachable_store_runs(models, ends, exc, failures, now=now)
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
            load_version=version_loader(settings),
        )


# -- alerts, opening the store (the flows and their failure hooks call these) --------------


def notify_event(
    alert: Alert,
    *,
    settings: Settings | None = None,
    overrides: Mapping[str, str | SecretStr | None] | None = None,
) -> NotifyResult | None:
    """Record ``alert`` in the outbox under its model's ``alerts:`` rules (default rules
    when the spec does not load), then send what is due. ``overrides`` gives channel URLs
    by channel name (e.g. Prefect Secret blocks' values) that win over the settings.
    Never raises for an unreachable store, a bad spec or a bad URL: the alert stays
    pending when it was recorded; None (with an error logged) when it could not be."""
    from driftline.alerts import lifecycle

    try:
        with Context.open(settings) as ctx:
            return lifecycle.notify_event(
                ctx.store, alert, lambda: ctx.alert_destinations(overrides), spec_of=ctx.spec
            )
    except lifecycle.NOT_RECORDED as exc:
        lifecycle.log_not_recorded(alert, exc)
        return None


def notify_outcome(
    outcome: PromotionOutcome,
    *,
    settings: Settings | None = None,
    overrides: Mapping[str, str | SecretStr | None] | None = None,
    flow_run_url: str | None = None,
) -> NotifyResult | None:
    """:func:`notify_event` for a promotion, rejection or rollback; None when there is
    nothing to say yet (approval pending) or the alert could not be recorded."""
    from driftline.alerts.lifecycle import settled_alert

    settings = settings or get_settings()
    alert = settled_alert(outcome, settings, flow_run_url=flow_run_url)
    if alert is None:
        return None
    return notify_event(alert, settings=settings, overrides=overrides)


def notify_monitor_run(
    run: MonitorRun,
    *,
    settings: Settings | None = None,
    overrides: Mapping[str, str | SecretStr | None] | None = None,
    flow_run_url: str | None = None,
) -> NotifyResult | None:
    """The monitor run's alert (if any) into the outbox, then sent (see
    :func:`driftline.alerts.monitor_run.notify_run`). A spec that no longer loads still
    alerts, under default rules; an unreachable store is logged and returns None (the
    run failed for that already). A malformed channel URL leaves its alert pending."""
    from driftline.alerts.monitor_run import notify_run

    try:
        with Context.open(settings) as ctx:
            try:
                spec: ModelSpec | None = ctx.spec(run.model)
            except SpecError:
                spec = None
            destinations = ctx.alert_destinations(overrides)
            return notify_run(
                ctx.store,
                run,
                spec,
                destinations,
                flow_run_url=flow_run_url,
                evidently_ui=ctx.settings.evidently_ui_url,
            )
    except StoreError as exc:
        log.error("could not queue the alert of %s: %s", run.model, exc)
        return None

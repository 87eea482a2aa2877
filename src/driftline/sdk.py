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

from driftline.config.errors import PrivacyError, SpecError
from driftline.config.progress import Progress
from driftline.config.secrets import scrub
from driftline.config.settings import Settings, get_settings
from driftline.context import Context
from driftline.data import ingest, privacy
from driftline.data.files import read_table
from driftline.data.privacy import Rotation, normalise_id
from driftline.data.source import require_stored
from driftline.data.store import IngestResult
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
from driftline.monitoring.windowprofile import WindowProfile, read_window_profile
from driftline.specs import ModelSpec, Monitoring, find_spec

if TYPE_CHECKING:
    from pydantic import SecretStr

    from driftline.alerts.message import Alert
    from driftline.alerts.outbox import NotifyResult
    from driftline.lifecycle.adopt import AdoptionResult
    from driftline.lifecycle.erasure import Erasure
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
) -> Erasure:
    """Erase one customer, given their raw id, from every copy driftline made: the rows
    of every baseline sample of the model's versions, row-level reports and snapshots of
    the windows their rows were in, then their predictions and labels in the store
    (:func:`driftline.lifecycle.erasure.forget`). DataError for a model that reads its
    predictions from a ``source:`` table (erase them there); RegistryError when MLflow
    cannot be reached (the store is left as it was: run it again)."""
    from driftline.lifecycle.erasure import forget

    with Context.open(settings) as ctx:
        spec = ctx.spec(model)
        require_stored(spec, "predictions", "erase a customer's predictions")
        key = _pseudonym(ctx, entity_id)
        workspace = ctx.settings.resolved_home / "evidently"
        return forget(ctx.store, ctx.registry(), spec, key, workspace_dir=workspace)


def set_consent(
    model: str | ModelSpec, entity_id: str, consent: bool, *, settings: Settings | None = None
) -> int:
    """Give (``consent=True``) or withdraw (``False``) one customer's consent, given their
    raw id: every stored row of theirs gets the flag, so withdrawn rows leave the next
    windows, training sets and baselines. Returns the rows whose flag changed. PrivacyError
    when the spec has no consent column; DataError for a ``source:`` model."""
    with Context.open(settings) as ctx:
        spec = ctx.spec(model)
        require_stored(spec, "predictions", "change a customer's consent")
        if not spec.model.consent:
            raise PrivacyError(
                f"model {spec.name!r} has no consent column (model.consent in its spec), so "
                "every row is used: add one to record consent, or erase the customer with "
                "`driftline privacy forget`"
            )
        return ctx.store.set_consent(spec, _pseudonym(ctx, entity_id), consent)


def rotate_key(*, settings: Settings | None = None) -> Rotation:
    """Append a new key to the pseudonymisation key file and re-pseudonymise every stored
    row in one transaction (see :func:`driftline.data.privacy.rotate_key`)."""
    with Context.open(settings) as ctx:
        return privacy.rotate_key(ctx.store, ctx.settings)


def _pseudonym(ctx: Context, entity_id: str) -> str:
    """The pseudonym of a raw id as ingestion computed it; PrivacyError for a blank id."""
    if not normalise_id(entity_id):
        raise PrivacyError("the entity id is empty: give the customer's id as it was ingested")
    return ctx.pseudonymizer().pseudonymise(entity_id)


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
    from driftline.alerts.lifecycle import announcer, send_recorded
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
            announce=announcer(ctx.settings),
        )
        send_recorded(ctx.store, result.outcome.alert_id, ctx.alert_destinations)
    return result


def _frame(data: pd.DataFrame | str | Path, name: str) -> tuple[pd.DataFrame, str]:
    """A frame as given, or read from a CSV / Parquet path; and how messages name it."""
    if isinstance(data, pd.DataFrame):
        return data, name
    return read_table(data), str(data)


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
    profile: str | Path | WindowProfile | None = None,
) -> MonitorRun:
    """Monitor one window of ``model`` against its champion; never raises for bad data,
    a bad spec, a missing champion or an unreachable store (the run is failed instead).
    With ``monitoring.policy.rebaseline: auto``, a run that acknowledges drift makes the
    recent windows the champion's reference (:func:`rebaseline_acknowledged`).

    ``profile``, the window's column profile (a path or URL of the JSON that ``driftline
    profile window`` or ``driftline profile spark`` writes, or a read
    :class:`~driftline.monitoring.windowprofile.WindowProfile`), stands in for the window's
    rows (:mod:`driftline.monitoring.windowprofile`); ``window_end`` then defaults to the
    window the profile records. A profile that cannot be read or does not fit the model,
    the window or its champion's reference bins raises DataError (ProfileError) and
    nothing is recorded."""
    if profile is not None and not isinstance(profile, WindowProfile):
        profile = read_window_profile(profile)
    runs = _by_name(
        [model], lambda _: [window_end], settings, baseline_loader, engine, now, profile=profile
    )
    rebaseline_acknowledged(runs, settings=settings)
    return runs[0]


def backfill(
    model: str,
    start: datetime | str,
    end: datetime | str,
    *,
    settings: Settings | None = None,
    baseline_loader: BaselineLoader | None = None,
    engine: DriftEngine | None = None,
    progress: Progress | None = None,
) -> list[MonitorRun]:
    """Monitor every window in ``[start, end)`` in time order (each sees the runs before
    it as history). History only: no alert is sent and no retrain started, and a
    calendar event a backfilled window raised is still announced by the next live run.
    The champion's baseline is resolved once, the current one. ``progress`` hears of
    every window (see :mod:`driftline.config.progress`)."""

    def ends(spec: ModelSpec | None) -> Sequence[datetime | str | None]:
        return window_ends(spec.monitoring if spec else Monitoring(), start, end)

    return _by_name([model], ends, settings, baseline_loader, engine, None, progress, backfill=True)


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
    runs = _by_name(list(models), lambda _: [window_end], settings, baseline_loader, engine, None)
    rebaseline_acknowledged(runs, settings=settings)
    return runs


def rebaseline_acknowledged(
    runs: Sequence[MonitorRun], *, settings: Settings | None = None
) -> list[str]:
    """For each run that just acknowledged drift (trigger ``drift_acknowledged`` with an
    alert: the first window that says so) of a model whose spec says
    ``monitoring.policy.rebaseline: auto``, make its last ``persistence.of_last`` windows
    the champion's monitoring reference (:func:`driftline.lifecycle.rebaseline.refresh_baseline`,
    audited, triggered by ``policy:rebaseline``). Returns what was done, one line each; a
    failure is logged and listed, never raised (the monitor run is already recorded)."""
    from driftline.lifecycle.rebaseline import refresh_baseline

    settings = settings or get_settings()
    due = [r for r in runs if "drift_acknowledged" in r.decision.triggers and r.action == "alert"]
    done: list[str] = []
    if not due:
        return done
    with Context.open(settings) as ctx:
        for run in due:
            try:
                spec = ctx.spec(run.model)
                if spec.monitoring.policy.rebaseline != "auto":
                    continue
                mon = spec.monitoring
                start = run.window_end - mon.window * mon.policy.persistence.of_last
                result = refresh_baseline(
                    ctx.store,
                    ctx.registry(),
                    spec,
                    start,
                    run.window_end,
                    triggered_by="policy:rebaseline",
                    why="drift acknowledged (monitoring.policy.rebaseline: auto)",
                )
                done.append(result.reason)
            except Exception as exc:  # the run stands; a person can refresh by hand
                log.error("%s: automatic re-baseline failed: %s", run.model, exc)
                done.append(f"{run.model}: automatic re-baseline failed: {exc}")
    return done


def _by_name(
    models: list[str],
    ends: WindowEnds,
    settings: Settings | None,
    baseline_loader: BaselineLoader | None,
    engine: DriftEngine | None,
    now: datetime | None,
    progress: Progress | None = None,
    profile: WindowProfile | None = None,
    backfill: bool = False,
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
            progress=progress,
            profile=profile,
            backfill=backfill,
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


def send_recorded(
    alert_id: str | None,
    *,
    settings: Settings | None = None,
    overrides: Mapping[str, str | SecretStr | None] | None = None,
) -> NotifyResult | None:
    """Send what is due after a lifecycle action recorded its alert with its audit row
    (``outcome.alert_id``; see :func:`driftline.alerts.lifecycle.send_recorded`). Never
    raises: None when nothing was recorded or the store cannot be opened."""
    from driftline.alerts import lifecycle

    if alert_id is None:
        return None
    try:
        with Context.open(settings) as ctx:
            return lifecycle.send_recorded(
                ctx.store, alert_id, lambda: ctx.alert_destinations(overrides)
            )
    except lifecycle.NOT_RECORDED as exc:
        log.error("could not send alert %s: %s", alert_id[:8], exc)
        return None


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
    except Exception as exc:  # an alert problem never fails the run it is about
        log.error("could not queue or send the alert of %s: %s", run.model, scrub(str(exc)))
        return None

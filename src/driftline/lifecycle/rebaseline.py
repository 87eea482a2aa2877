"""Re-baselining: make a recent window the monitoring reference of the same champion.

When drift is harmless (a challenger trained on the drifted data was no better, so the
policy acknowledged it), the champion keeps serving, but every window still differs from
its training-time reference. :func:`refresh_baseline` captures a window of the store —
the features and the champion's own scores of the rows it made — as a new reference of
the *same* version: written next to the original as artifacts of its training run
(``baseline-refresh-<time>-<id>/``, the original ``baseline/`` is never touched), chosen by
the version tag ``driftline.baseline``, and audited like a promotion (action
``rebaseline``, outcome ``rebaselined``). The validation metrics stay the model's own:
realized performance is still judged against them.

:func:`undo_refresh` reverses the newest refresh: the tag goes back to the reference it
replaced (its manifest says which), audited as outcome ``restored``. Monitors read the
reference of the champion at each run, so both take effect at the next window.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from driftline.config.errors import DataError, RegistryError
from driftline.config.times import utc, utc_now
from driftline.data.store import ENTITY_KEY, Store
from driftline.data.windows import read_window
from driftline.lifecycle import audit
from driftline.lifecycle.baseline import build_baseline
from driftline.lifecycle.promotion import default_actor
from driftline.lifecycle.registry import BASELINE_DIR, BASELINE_TAG, CHAMPION, TAG, Registry
from driftline.lifecycle.training import feature_frame
from driftline.monitoring.attribution import champion_intervals, made_by
from driftline.specs import ModelSpec

log = logging.getLogger(__name__)

REFRESH_PREFIX = "baseline-refresh"


@dataclass(frozen=True)
class Rebaselined:
    """What a refresh or its undo did: the champion ``version`` now monitors against
    ``folder`` (an artifact folder of its training run) instead of ``previous``."""

    model: str
    version: str
    outcome: str  # rebaselined | restored
    folder: str
    previous: str
    rows: int | None
    window: str
    audit_id: int
    reason: str


def refresh_baseline(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    *,
    triggered_by: str | None = None,
    why: str = "",
) -> Rebaselined:
    """Make the window ``[start, end)`` (UTC) the champion's monitoring reference.

    The reference holds the window's rows that the champion made (its logged version,
    else the audit trail's champion at the row's time) with their features and scores,
    sampled and profiled like a training baseline (``training.baseline_sample_size``).
    Raises RegistryError without a champion; DataError for an empty or reversed window,
    or one with fewer than ``monitoring.min_rows`` rows of the champion (nothing is
    written then).
    """
    begin, stop = utc(start), utc(end)
    if stop <= begin:
        raise DataError(
            f"the window {begin:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC is empty: its "
            "end must come after its start (e.g. --window 2026-10-01..2026-10-08)"
        )
    version = _champion(registry, spec)
    rows = read_window(store, spec, begin.to_pydatetime(), stop.to_pydatetime())
    intervals = champion_intervals(audit.champion_takeovers(store, spec.name), current=version)
    if not rows.empty:
        rows = rows[(made_by(rows, spec, intervals) == version).to_numpy()]
    need = spec.monitoring.min_rows
    if len(rows) < need:
        raise DataError(
            f"{spec.name}: the window {begin:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC "
            f"holds {len(rows):,} predictions of champion v{version}; a reference needs at "
            f"least {need} (monitoring.min_rows). Choose a longer or later window."
        )
    current = registry.read_baseline(spec, version)
    previous = registry.baseline_folder(spec, version)
    t = spec.training
    frame = feature_frame(spec, rows).reset_index(drop=True)
    scores = pd.to_numeric(rows[spec.model.prediction], errors="coerce").to_numpy(dtype=float)
    baseline = build_baseline(
        spec,
        frame,
        scores,
        current.metrics,
        version=version,
        run_id=current.run_id,
        sample_size=t.baseline_sample_size,
        seed=t.random_state,
        estimator=current.estimator,  # fitted on the version's validation rows: it stays
        entity_keys=rows[ENTITY_KEY].reset_index(drop=True) if ENTITY_KEY in rows else None,
    )
    window = f"{begin.isoformat()} / {stop.isoformat()}"
    actor = triggered_by or default_actor()
    text = (
        f"v{version}'s monitoring reference refreshed from {begin:%Y-%m-%d %H:%M} to "
        f"{stop:%Y-%m-%d %H:%M} UTC ({len(rows):,} rows; it replaces {previous}/; undo "
        f"with `driftline baseline undo --model {spec.name}`)" + (f": {why}" if why else "")
    )
    folder = f"{REFRESH_PREFIX}-{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    try:
        # The new folder first (the original is never touched), then the tag that points
        # monitors at it: a failure in between leaves the old reference in use.
        registry.log_baseline(
            baseline,
            str(current.run_id),
            folder_name=folder,
            manifest={"previous": previous, "window": window},
        )
        registry.set_version_tags(
            spec, version, {BASELINE_TAG: folder, f"{TAG}baseline_window": window}
        )
    except Exception as exc:
        audit.record_decision(
            store,
            model=spec.name,
            action="rebaseline",
            outcome="failed",
            triggered_by=actor,
            reason=f"refresh of v{version}'s reference from {window} did not complete",
            champion_before=version,
            champion_after=version,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise RegistryError(
            f"{spec.name}: the refreshed reference of v{version} could not be stored "
            f"({type(exc).__name__}: {exc}); monitors still use {previous}/. Try again."
        ) from exc
    audit_id = audit.record_decision(
        store,
        model=spec.name,
        action="rebaseline",
        outcome="rebaselined",
        triggered_by=actor,
        reason=text,
        champion_before=version,
        champion_after=version,
    )
    log.info("%s: %s", spec.name, text)
    return Rebaselined(
        spec.name, version, "rebaselined", folder, previous, len(rows), window, audit_id, text
    )


def undo_refresh(
    store: Store, registry: Registry, spec: ModelSpec, *, triggered_by: str | None = None
) -> Rebaselined:
    """Give the champion back the reference its newest refresh replaced (audited as
    ``restored``). RegistryError without a champion, or when the champion monitors
    against the reference it was trained with (nothing to undo)."""
    version = _champion(registry, spec)
    folder = registry.baseline_folder(spec, version)
    if folder == BASELINE_DIR:
        raise RegistryError(
            f"{spec.name} v{version} monitors against the reference it was trained with: "
            "there is no refresh to undo"
        )
    manifest = registry.baseline_manifest(spec, version, folder)
    previous = str(manifest.get("previous") or BASELINE_DIR)
    actor = triggered_by or default_actor()
    text = (
        f"v{version}'s monitoring reference restored to {previous}/ (undoing the refresh "
        f"{folder}/ of {manifest.get('window', 'an unknown window')})"
    )
    registry.set_version_tags(
        spec, version, {BASELINE_TAG: previous if previous != BASELINE_DIR else ""}
    )
    audit_id = audit.record_decision(
        store,
        model=spec.name,
        action="rebaseline",
        outcome="restored",
        triggered_by=actor,
        reason=text,
        champion_before=version,
        champion_after=version,
    )
    log.info("%s: %s", spec.name, text)
    return Rebaselined(spec.name, version, "restored", previous, folder, None, "", audit_id, text)


def _champion(registry: Registry, spec: ModelSpec) -> str:
    version = registry.version_by_alias(spec, CHAMPION)
    if version is None:
        raise RegistryError(
            f"{spec.name} has no champion, so it has no monitoring reference to refresh"
        )
    return version


__all__ = ["REFRESH_PREFIX", "Rebaselined", "refresh_baseline", "undo_refresh"]

"""Erasure of one customer from every copy driftline made of their rows.

``driftline privacy forget`` (:func:`forget`) reaches, in this order:

1. every baseline sample of every registered version (``reference.parquet`` of the
   training run's ``baseline/`` and of each refreshed reference): the customer's rows are
   removed by their pseudonym, which each sampled row keeps
   (:meth:`~driftline.lifecycle.registry.Registry.erase_from_baselines`);
2. reports written with ``monitoring.report_detail: rows`` whose window, labelled window
   or reference may have held the customer's rows: deleted (the run keeps its verdicts,
   without a report path); Evidently snapshots of those windows made with row-level
   detail: replaced by their aggregates-only form (same metrics, so dashboards keep their
   points, without the plots of single values);
3. the store: the customer's predictions and the labels of those predictions, in one
   transaction.

The store goes last: when MLflow or a file cannot be reached, the rows that say which
windows and samples to look at are still there, and running ``forget`` again finishes the
job (each step is idempotent). Reports with the default ``report_detail: aggregates``
hold no single value and are kept.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.data.store import ErasureResult, Store
from driftline.data.windows import performance_window
from driftline.lifecycle.registry import TAG, BaselineErasure, Registry
from driftline.monitoring.engines.evidently import ROW_LEVEL_TAG, aggregates_only
from driftline.monitoring.monitor import ROW_LEVEL_MARK
from driftline.monitoring.runs import StoredRun, clear_report_paths, list_runs
from driftline.specs import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erasure:
    """Everything one ``forget`` erased, per place: rows of the store, rows of each
    baseline sample (per version and folder), report files deleted, snapshots regenerated
    aggregates-only."""

    model: str
    predictions_deleted: int
    labels_deleted: int
    baselines: tuple[BaselineErasure, ...] = ()
    reports_deleted: tuple[Path, ...] = ()
    snapshots_regenerated: tuple[str, ...] = ()
    trained_on: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def baseline_rows_erased(self) -> int:
        return sum(b.rows_erased for b in self.baselines)

    def to_dict(self) -> dict[str, Any]:
        """The erasure as JSON-ready values (``--json``)."""
        return {
            "model": self.model,
            "store": {
                "predictions_deleted": self.predictions_deleted,
                "labels_deleted": self.labels_deleted,
            },
            "baselines": [asdict(b) for b in self.baselines],
            "reports_deleted": [str(p) for p in self.reports_deleted],
            "snapshots_regenerated": list(self.snapshots_regenerated),
            "versions_trained_on_the_rows": list(self.trained_on),
            "notes": list(self.notes),
        }


def forget(
    store: Store,
    registry: Registry | None,
    spec: ModelSpec,
    entity_key: str,
    *,
    workspace_dir: Path | None = None,
) -> Erasure:
    """Erase the customer whose pseudonym is ``entity_key`` from ``spec``'s baselines,
    row-level reports and snapshots, then from the store (see the module docstring).

    ``registry`` None skips the baselines (said in ``notes``); ``workspace_dir`` is the
    Evidently workspace holding the model's snapshots (None or missing: none to look at).
    Raises RegistryError when MLflow cannot be reached (the store is then untouched: run
    it again)."""
    times = store.entity_times(spec, entity_key)
    notes: list[str] = []
    baselines: list[BaselineErasure] = []
    if registry is not None:
        baselines = registry.erase_from_baselines(spec, entity_key)
    else:
        notes.append("no model registry: baseline samples were not searched")
    blind = [f"v{b.version} {b.folder}/" for b in baselines if not b.searchable]
    if blind:
        notes.append(
            "baseline samples stored without pseudonyms cannot be searched (captured before "
            f"driftline kept them, or adopted): {', '.join(blind)}; retrain, or delete those "
            "versions, to be sure they hold none of the customer's rows"
        )
    held = {b.version for b in baselines if b.rows_erased}
    trained = _trained_on(registry, spec, times)
    if trained:
        notes.append(
            f"model versions {', '.join('v' + v for v in trained)} were trained on windows "
            "that held the customer's rows; a fitted model can keep values it learned from "
            "(split thresholds): retrain without them, then delete those versions"
        )
    runs = [r for r in list_runs(store, spec.name, limit=None) if _touched(spec, r, times, held)]
    reports = _delete_reports(store, runs)
    snapshots = _regenerate_snapshots(spec, runs, workspace_dir)
    deleted: ErasureResult = store.forget(spec, entity_key)
    return Erasure(
        spec.name,
        deleted.predictions_deleted,
        deleted.labels_deleted,
        tuple(baselines),
        tuple(reports),
        tuple(snapshots),
        tuple(trained),
        tuple(notes),
    )


def _trained_on(registry: Registry | None, spec: ModelSpec, times: pd.Series) -> list[str]:
    """Versions trained by driftline on a window ending after one of the customer's rows
    (their ``driftline.train_end`` tag): they may have learned from those rows."""
    if registry is None or times.empty:
        return []
    first = times.min()
    found = []
    for info in sorted(registry.versions(spec), key=lambda v: int(v.version)):
        end = info.tags.get(f"{TAG}train_end")
        if end and first < pd.Timestamp(end):
            found.append(info.version)
    return found


def _touched(spec: ModelSpec, run: StoredRun, times: pd.Series, held: set[str]) -> bool:
    """Whether a run's reports may show the customer's rows: one of them lies in its
    window or in its labelled (performance) window, or its reference was a sample that
    held them."""
    if run.champion_version is not None and run.champion_version in held:
        return True
    if times.empty:
        return False
    spans = [(pd.Timestamp(run.window_start), pd.Timestamp(run.window_end))]
    if spec.monitoring.performance.enabled:
        scored = performance_window(spec, run.window_end)
        spans.append((pd.Timestamp(scored.start), pd.Timestamp(scored.end)))
    return any(bool(((times >= lo) & (times < hi)).any()) for lo, hi in spans)


def _delete_reports(store: Store, runs: list[StoredRun]) -> list[Path]:
    """Delete the row-level HTML reports of ``runs`` (the drift report and those written
    beside it, which share its name's stem); the runs forget their report path."""
    deleted: list[Path] = []
    cleared: list[int] = []
    for run in runs:
        if not run.report_path:
            continue
        path = Path(run.report_path)
        if not path.stem.endswith(ROW_LEVEL_MARK):
            continue
        for file in sorted(path.parent.glob(f"{path.stem}*.html")):
            file.unlink(missing_ok=True)
            deleted.append(file)
        cleared.append(run.id)
    clear_report_paths(store, cleared)
    return deleted


def _regenerate_snapshots(
    spec: ModelSpec, runs: list[StoredRun], workspace_dir: Path | None
) -> list[str]:
    """Replace each row-level snapshot of the runs' windows (matched by the window end,
    the snapshot's timestamp) in the model's Evidently project by its aggregates-only
    form. Returns the ids of the snapshots replaced."""
    if workspace_dir is None or not workspace_dir.is_dir() or not runs:
        return []
    from evidently.core.report import Snapshot

    from driftline.config.times import naive_utc
    from driftline.ops.dashboards import open_workspace

    workspace = open_workspace(workspace_dir)
    projects = workspace.search_project(spec.name)
    if not projects:
        return []
    ends = {naive_utc(r.window_end) for r in runs}
    replaced: list[str] = []
    for project in projects:
        for snapshot_id in list(workspace.list_runs(project.id)):
            model = workspace.get_run(project.id, snapshot_id)
            if model is None or ROW_LEVEL_TAG not in (model.tags or []):
                continue
            if model.timestamp not in ends:
                continue
            data = model.dict()
            data["tags"] = [t for t in data.get("tags") or [] if t != ROW_LEVEL_TAG]
            clean = aggregates_only(Snapshot.load_dict(data))
            workspace.add_run(project.id, clean, include_data=False, name=model.name)
            workspace.delete_run(project.id, snapshot_id)
            replaced.append(str(snapshot_id))
    return replaced

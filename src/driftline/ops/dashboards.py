"""Evidently dashboards as code: ``dashboards/*.yaml`` -> one Evidently UI project per model.

The YAML (``dashboards/<model>.yaml``, else ``dashboards/default.yaml``) lists panels
over the metrics the monitor stores with each run's snapshot. Syncing replaces the
project's whole dashboard with what the file says, so running it twice changes nothing
and a panel removed from the file disappears from the UI.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftline.config.errors import SpecError
from driftline.config.times import naive_utc
from driftline.specs import ModelSpec

if TYPE_CHECKING:
    from driftline.monitoring.results import DriftResult

PANEL_TAB = "Monitoring"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PanelValue(_Strict):
    """One series of a panel: an Evidently metric and the labels that pick it."""

    metric: str = Field(description="Evidently metric name, e.g. ValueDrift, DriftedColumnsCount.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Metric labels, e.g. {column: '{column}'}."
    )
    legend: str | None = Field(default=None, description="Legend of the series.")
    tags: list[str] = Field(
        default_factory=list,
        description="Only snapshots carrying every one of these tags, e.g. "
        "['decision:retrain'] (see snapshot_tags).",
    )


class Panel(_Strict):
    """One panel of the dashboard."""

    title: str
    type: Literal["line", "bar", "counter"] = "line"
    size: Literal["full", "half"] = "full"
    aggregation: Literal["last", "sum", "avg"] = Field(
        default="last", description="How a counter panel folds the runs."
    )
    for_each: Literal["numerical", "categorical", "features", "predictions"] | None = Field(
        default=None,
        description="Repeat the values once per feature column of this kind, or per "
        "prediction column of the model's task (predictions).",
    )
    tasks: list[str] | None = Field(
        default=None,
        description="Show the panel only for models of these tasks (model.task), e.g. "
        "realized ROC AUC for binary_classification, MAE for regression; None: every model.",
    )
    values: list[PanelValue] = Field(min_length=1)


class DashboardSpec(_Strict):
    """A whole ``dashboards/*.yaml`` file."""

    panels: list[Panel] = Field(min_length=1)

    def panels_for(self, task: str) -> list[Panel]:
        """The panels a model of ``task`` shows (those without ``tasks``, or naming it)."""
        return [p for p in self.panels if p.tasks is None or task in p.tasks]


@dataclass(frozen=True)
class SyncResult:
    model: str
    project_id: str
    created: bool
    panels: int
    source: Path


def load_dashboard(dashboards_dir: Path, model: str) -> tuple[DashboardSpec, Path]:
    """The dashboard file of ``model`` (its own, else the default) and its path."""
    path = dashboards_dir / f"{model}.yaml"
    if not path.is_file():
        path = dashboards_dir / "default.yaml"
    if not path.is_file():
        raise SpecError(
            f"no dashboard for {model!r}: neither {dashboards_dir / (model + '.yaml')} "
            f"nor {path} exists"
        )
    try:
        data = yaml.safe_load(path.read_text())
        return DashboardSpec.model_validate(data), path
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SpecError(f"{path}: invalid dashboard: {problems}") from None


def _columns(spec: ModelSpec, kind: str | None) -> list[str | None]:
    """The columns a panel repeats over (``[None]``: the panel does not repeat): features
    by type, or the prediction columns of the model's task (a multiclass model's
    predicted class and each class's probability)."""
    features = spec.model.features
    if kind is None:
        return [None]
    chosen = {
        "numerical": features.numerical,
        "categorical": features.categorical,
        "features": features.all,
        "predictions": list(spec.prediction_types),
    }[kind]
    return list(chosen)


def render_panels(dashboard: DashboardSpec, spec: ModelSpec) -> list[Any]:
    """Evidently panel models for a model, with ``{column}``/``{prediction}`` filled in;
    panels limited to other tasks (``tasks``) are left out."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel, counter_panel, line_plot_panel

    panels = []
    for panel in dashboard.panels_for(spec.model.task):
        values = []
        for column in _columns(spec, panel.for_each):
            names = {
                "column": column or "",
                "prediction": spec.model.prediction,
                "model": spec.name,
            }
            for value in panel.values:
                values.append(
                    PanelMetric(
                        metric=value.metric,
                        metric_labels={k: v.format(**names) for k, v in value.labels.items()},
                        legend=value.legend.format(**names) if value.legend else None,
                        tags=[t.format(**names) for t in value.tags],
                    )
                )
        if panel.type == "counter":
            panels.append(
                counter_panel(
                    title=panel.title, values=values, size=panel.size, aggregation=panel.aggregation
                )
            )
        elif panel.type == "bar":
            panels.append(bar_plot_panel(title=panel.title, values=values, size=panel.size))
        else:
            panels.append(line_plot_panel(title=panel.title, values=values, size=panel.size))
    return panels


# -- what each run's snapshots carry for the dashboards ---------------------------------------

#: Tag of the guides snapshot, and the prefix of its columns (``MeanValue`` series).
GUIDES_TAG = "guides"
GUIDE_PREFIX = "guide_"


def snapshot_tags(
    action: str, status: str, champion: str | None, reason: str | None
) -> tuple[list[str], dict[str, str]]:
    """The tags and metadata a monitor run puts on its snapshots, so reports can be
    filtered (Evidently UI, ``PanelMetric.tags``) by what was decided: tags
    ``decision:<none|alert|retrain>``, ``status:<ok|drift|...>``, ``champion:v<N>`` and
    ``reason:<drift|performance>`` (a retrain's); metadata ``decision``, ``status``,
    ``champion_version`` and ``reason`` (the first reason, at most 200 characters)."""
    tags = [f"decision:{action}", f"status:{status}"]
    if champion:
        tags.append(f"champion:v{champion}")
    metadata = {"decision": action, "status": status, "champion_version": champion or ""}
    if reason:
        metadata["reason"] = " ".join(reason.split())[:200]
    return tags, metadata


def guide_values(
    spec: ModelSpec,
    validation: dict[str, float],
    *,
    promoted: bool,
) -> dict[str, float]:
    """The numbers a dashboard draws as reference lines for one run, by guide column:
    ``guide_drift_share`` (the spec's dataset-drift threshold), ``guide_champion_<m>``
    (the champion's validation value of each watched metric), ``guide_limit_<m>`` (the
    worst realized value ``monitoring.performance.max_drop`` allows: validation minus the
    drop when higher is better, plus it for an error) and ``guide_promoted`` (1 when the
    champion was promoted during this window: a promotion marker; else 0)."""
    from driftline.tasks import task_for

    task = task_for(spec.model)
    mon = spec.monitoring
    values = {f"{GUIDE_PREFIX}drift_share": float(mon.drift.drift_share)}
    for metric in task.watched_metrics:
        if metric in validation:
            values[f"{GUIDE_PREFIX}champion_{metric}"] = float(validation[metric])
    for metric, drop in mon.performance.max_drop.items():
        if metric in validation:
            base = float(validation[metric])
            higher = task.higher_is_better(metric) if metric in task.metrics else True
            values[f"{GUIDE_PREFIX}limit_{metric}"] = base - drop if higher else base + drop
    values[f"{GUIDE_PREFIX}promoted"] = 1.0 if promoted else 0.0
    return {k: v for k, v in values.items() if math.isfinite(v)}


def guides_snapshot(values: dict[str, float], timestamp: Any, tags: list[str]) -> Any:
    """An Evidently snapshot holding each guide value as the ``MeanValue`` of a one-row
    column of that name, tagged ``guides``: Evidently 0.7's dashboard panels draw only
    series of stored metric values (no threshold or marker options in ``plot_params``),
    so a reference line is a series whose value is the reference at every run. Stored
    without plots (:func:`values_only`)."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    frame = pd.DataFrame([values])
    report = Report([MeanValue(column=c) for c in values])
    return values_only(
        report.run(
            Dataset.from_pandas(
                frame, data_definition=DataDefinition(numerical_columns=list(values))
            ),
            None,
            timestamp=timestamp,
            tags=[*tags, GUIDES_TAG],
        )
    )


def values_only(snapshot: Any) -> Any:
    """A snapshot that carries values to the dashboards (guides, estimates) without its
    plots (:func:`~driftline.monitoring.engines.evidently.aggregates_only`): the panels
    read the metric values, and the histogram Evidently draws of each one-row column is
    noise that made such a snapshot 140 kB instead of 3 kB, written with every run and
    parsed again by every process that opens the workspace."""
    from driftline.monitoring.engines.evidently import aggregates_only

    return aggregates_only(snapshot)


def open_workspace(workspace_dir: Path) -> Any:
    """The local Evidently workspace (created if missing), opened once per process.

    Opening a local workspace parses every snapshot it holds, so opening it for each
    monitor run made a run's cost grow with the history (4.8 s at 108 snapshots); the
    open workspace keeps its index up to date as runs are added.
    """
    return _workspace(str(Path(workspace_dir).resolve()))


@functools.lru_cache(maxsize=8)
def _workspace(path: str) -> Any:
    from evidently.ui.workspace import Workspace

    return Workspace(path)


def model_project(workspace: Any, spec: ModelSpec) -> tuple[Any, bool]:
    """The model's Evidently project, found by name or created; and whether it was created."""
    found = workspace.search_project(spec.name)
    if found:
        return found[0], False
    project = workspace.create_project(
        spec.name, description=f"driftline monitoring of {spec.name}"
    )
    return project, True


def estimate_values(result: DriftResult) -> dict[str, float]:
    """The values of a run's estimated performance the dashboards plot, by series name:
    ``estimated_<metric>`` with ``_lower`` / ``_upper`` (the band) on the monitored window,
    and ``labelled_estimated_<metric>`` beside ``labelled_realized_<metric>`` on the
    labelled window once its labels matured."""
    values: dict[str, float] = {}
    now, matured = result.estimated, result.estimated_labelled
    if now is not None:
        for metric, value in now.metrics.items():
            values[f"estimated_{metric}"] = value
            if metric in now.lower:
                values[f"estimated_{metric}_lower"] = now.lower[metric]
                values[f"estimated_{metric}_upper"] = now.upper[metric]
    if matured is not None:
        for metric, value in matured.realized.items():
            values[f"labelled_estimated_{metric}"] = matured.metrics[metric]
            values[f"labelled_realized_{metric}"] = value
    return values


def estimate_snapshot(
    result: DriftResult, *, timestamp: datetime | None, tags: Sequence[str] = ()
) -> Any | None:
    """A run's estimated performance (:func:`estimate_values`) as an Evidently snapshot of
    one row holding each value, read back by ``MeanValue`` with the series name as its
    column (what the estimate panels of ``dashboards/*.yaml`` plot); None when the run
    estimated nothing. The estimates are driftline's (CBPE, DLE): Evidently only carries
    them to the dashboard (without plots, :func:`values_only`)."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    values = estimate_values(result)
    if not values:
        return None
    definition = DataDefinition(numerical_columns=list(values))
    data = Dataset.from_pandas(pd.DataFrame([values]), data_definition=definition)
    snapshot = Report([MeanValue(column=c) for c in values]).run(
        data,
        None,
        timestamp=naive_utc(timestamp),  # naive UTC, like every other snapshot
        tags=[*tags, "estimated"],
    )
    return values_only(snapshot)


def add_estimate_snapshot(
    workspace: Any,
    project_id: Any,
    result: DriftResult,
    name: str,
    *,
    timestamp: datetime | None,
    tags: Sequence[str] = (),
) -> str | None:
    """Add :func:`estimate_snapshot` to the model's project; its id, or None when the
    run estimated nothing."""
    snapshot = estimate_snapshot(result, timestamp=timestamp, tags=tags)
    if snapshot is None:
        return None
    ref = workspace.add_run(project_id, snapshot, include_data=False, name=f"{name} estimated")
    return str(ref.id)


def sync_dashboard(workspace_dir: Path, dashboards_dir: Path, spec: ModelSpec) -> SyncResult:
    """Create or update the model's project so its dashboard is exactly the file's panels."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel

    dashboard, source = load_dashboard(dashboards_dir, spec.name)
    panels = render_panels(dashboard, spec)
    workspace = open_workspace(workspace_dir)
    project, created = model_project(workspace, spec)
    tab = DashboardTabModel(title=PANEL_TAB, panels=[p.id for p in panels])
    workspace.save_dashboard(project.id, DashboardModel(tabs=[tab], panels=panels))
    return SyncResult(spec.name, str(project.id), created, len(panels), source)

"""A whole ``monitors/<model>.yaml``: the sections together, and the rules that span them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from driftline.lifecycle.trainers import TRAINERS, is_import_path, task_problem
from driftline.monitoring.engines import ENGINES, method_problem
from driftline.specs.alerts import AlertsSection
from driftline.specs.calendar import CalendarSection
from driftline.specs.common import Section
from driftline.specs.model import ModelSection
from driftline.specs.monitoring import Monitoring
from driftline.specs.promotion import PromotionSection
from driftline.specs.reports import ReportsSection
from driftline.specs.source import SourceSection
from driftline.specs.training import TrainingSection
from driftline.tasks import TASKS, task_for


def _nested(section: Any, *keys: str) -> Any:
    """``section[key1][key2]...`` of raw spec data, whether mappings or section models."""
    for key in keys:
        section = section.get(key) if isinstance(section, dict) else getattr(section, key, None)
    return section


class ModelSpec(Section):
    """A whole ``monitors/<model>.yaml`` file."""

    model: ModelSection
    monitoring: Monitoring = Field(
        default_factory=Monitoring,
        description="Drift monitoring: windows, tests, data quality, performance, policy.",
    )
    reports: ReportsSection = Field(
        default_factory=ReportsSection,
        description="Retention of HTML reports and Evidently snapshots: keep_days, max_mb.",
    )
    alerts: AlertsSection = Field(
        default_factory=AlertsSection, description="Alerting: severity, cooldown, channels."
    )
    training: TrainingSection = Field(
        default_factory=TrainingSection, description="How the model is (re)trained."
    )
    promotion: PromotionSection = Field(
        default_factory=PromotionSection, description="Gates a challenger must pass."
    )
    calendar: CalendarSection = Field(
        default_factory=CalendarSection,
        description="Dated events (sales, holidays) and the columns they are expected to move.",
    )
    source: SourceSection | None = Field(
        default=None,
        description="Read predictions (and labels) from an existing table or query in "
        "your database instead of driftline's store; driftline only reads there.",
    )
    path: Path | None = Field(default=None, exclude=True, description="File it came from.")

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def column_types(self) -> dict[str, str]:
        """Feature column -> "numerical" | "categorical" (the one spec-to-type map: the
        store, the baseline and drift plans all derive their column types from it)."""
        f = self.model.features
        return {
            **dict.fromkeys(f.numerical, "numerical"),
            **dict.fromkeys(f.categorical, "categorical"),
        }

    @property
    def prediction_types(self) -> dict[str, str]:
        """The columns of one logged prediction -> kind, as the model's task defines them
        (binary: the score, numerical; multiclass: the predicted class, categorical, and
        each class's probability, numerical)."""
        return task_for(self.model).prediction_columns(self.model)

    @property
    def column_types_with_prediction(self) -> dict[str, str]:
        """:attr:`column_types` plus the prediction columns, in log order."""
        return {**self.column_types, **self.prediction_types}

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any) -> Any:
        """A task may give ``promotion.primary_metric`` and
        ``monitoring.performance.max_drop`` defaults of its own (``Task.default_primary_metric``,
        ``Task.default_max_drop``); a spec that sets them keeps its values."""
        if not isinstance(data, dict):
            return data
        task_name = _nested(data.get("model"), "task")
        if not isinstance(task_name, str) or task_name not in TASKS:
            return data
        task = TASKS.get(task_name)
        promotion = data.get("promotion") or {}
        metric = task.default_primary_metric
        if metric and isinstance(promotion, dict) and "primary_metric" not in promotion:
            data = {**data, "promotion": {**promotion, "primary_metric": metric}}
        monitoring = data.get("monitoring") or {}
        drops = task.default_max_drop
        if drops and isinstance(monitoring, dict):
            performance = monitoring.get("performance") or {}
            if isinstance(performance, dict) and "max_drop" not in performance:
                performance = {**performance, "max_drop": dict(drops)}
                data = {**data, "monitoring": {**monitoring, "performance": performance}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _approve_asks_for_a_person(cls, data: Any) -> Any:
        """``monitoring.policy.retrain: approve`` forces ``promotion.manual_approval`` on
        (whatever that key says), so every way to champion (the retrain flow, ``driftline
        promote``) waits for a person.

        Done at validation: a spec built with ``model_copy`` (which skips validation) must
        set both itself."""
        if not isinstance(data, dict):
            return data
        if _nested(data.get("monitoring"), "policy", "retrain") != "approve":
            return data
        promotion = data.get("promotion")
        if isinstance(promotion, PromotionSection):
            promotion = promotion.model_copy(update={"manual_approval": True})
        else:
            promotion = {**(promotion or {}), "manual_approval": True}
        return {**data, "promotion": promotion}

    @model_validator(mode="after")
    def _monitoring_matches_features(self) -> ModelSpec:
        mon, types = self.monitoring, self.column_types
        problems: list[str] = []
        unknown = [c for c in [*mon.drift.columns, *mon.critical_features] if c not in types]
        if unknown:
            problems.append(
                f"monitoring names columns that are not features: {sorted(set(unknown))} "
                f"(features: {list(types)})"
            )
        present = sorted(set(types.values()))
        checks: list[tuple[str, str | None, list[str]]] = [
            ("monitoring.drift.method", mon.drift.method, present),
            ("monitoring.drift.numerical.method", mon.drift.numerical.method, ["numerical"]),
            ("monitoring.drift.categorical.method", mon.drift.categorical.method, ["categorical"]),
            ("monitoring.prediction_drift.method", mon.prediction_drift.method, ["numerical"]),
        ]
        checks += [
            (f"monitoring.drift.columns.{c}.method", rule.method, [types[c]])
            for c, rule in mon.drift.columns.items()
            if c in types
        ]
        segments = mon.segments.columns if mon.segments.columns is not None else []
        stray = [c for c in segments if types.get(c) != "categorical"]
        if stray:
            problems.append(
                f"monitoring.segments.columns: {stray} are not categorical features "
                f"(categorical features: {[c for c, t in types.items() if t == 'categorical']})"
            )
        if mon.segments.engine not in ENGINES:
            problems.append(f"monitoring.segments.engine: {ENGINES.unknown(mon.segments.engine)}")
        else:
            seg_engine = ENGINES.get(mon.segments.engine)
            for key, kind in (
                ("numerical_method", "numerical"),
                ("categorical_method", "categorical"),
            ):
                method = getattr(mon.segments, key)
                why = method_problem(seg_engine, method, kind) if method else None
                if why:
                    problems.append(f"monitoring.segments.{key}: {why}")
        known = {*types, *self.prediction_types}
        for event in self.calendar.events:
            unknown_expected = [c for c in event.expected_columns if c not in known]
            if unknown_expected:
                problems.append(
                    f"calendar.events {event.name!r}: expected_columns {unknown_expected} are "
                    f"neither features nor prediction columns (they are: {sorted(known)})"
                )
        engine = ENGINES.get(mon.drift.engine)
        for where, method, kinds in checks:
            whys = [method_problem(engine, method, kind) for kind in kinds] if method else []
            why = next((w for w in whys if w), None)
            if why:
                problems.append(f"{where}: {why}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _metrics_belong_to_the_task(self) -> ModelSpec:
        """Metric names depend on ``model.task``: the primary metric must be one the task
        can bootstrap, and every ``max_drop`` key a metric its realized performance reports.
        A primary metric where lower is better needs an explicit ceiling
        (``promotion.min_primary_metric``, in its own units). A registered trainer
        (``training.trainer``) must support the task too (a function
        given by import path is checked when it trains: its model must have the task's
        prediction method)."""
        task = task_for(self.model)
        problems: list[str] = []
        trainer = self.training.trainer
        why = None if is_import_path(trainer) else task_problem(TRAINERS.get(trainer), task.name)
        if why:
            problems.append(f"training.trainer: {why}")
        primary = self.promotion.primary_metric
        if primary not in task.primary_metrics:
            problems.append(
                f"promotion.primary_metric: {primary!r} is not a primary metric of task "
                f"{task.name}; choose one of {', '.join(task.primary_metrics)}"
            )
        elif (
            not task.higher_is_better(primary)
            and "min_primary_metric" not in self.promotion.model_fields_set
        ):
            problems.append(
                f"promotion.min_primary_metric: {primary} is an error (lower is better), so "
                "this key is its ceiling in the target's units (the challenger's "
                f"{primary} must be at most this); set it: the default 0.55 is a ROC AUC floor"
            )
        stray = [k for k in self.monitoring.performance.max_drop if k not in task.watched_metrics]
        if stray:
            problems.append(
                f"monitoring.performance.max_drop: {', '.join(map(repr, stray))} "
                f"{'is not a metric' if len(stray) == 1 else 'are not metrics'} that task "
                f"{task.name} watches; choose from {', '.join(task.watched_metrics)}"
            )
        estimated = self.monitoring.performance.estimated.max_drop
        stray = [k for k in estimated if k not in task.estimated_metrics]
        if stray:
            allowed = ", ".join(task.estimated_metrics) or "none: it estimates nothing"
            problems.append(
                f"monitoring.performance.estimated.max_drop: {', '.join(map(repr, stray))} "
                f"{'is not a metric' if len(stray) == 1 else 'are not metrics'} that task "
                f"{task.name} estimates; choose from {allowed}"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

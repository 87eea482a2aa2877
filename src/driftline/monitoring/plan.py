"""Which columns a drift check tests, how, and the rules around them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from driftline.config.errors import SpecError
from driftline.monitoring.engines import DEFAULT_ENGINE, ENGINES, DriftEngine, method_problem
from driftline.specs import DataQuality, ModelSpec, Monitoring
from driftline.tasks import task_for
from driftline.tasks.multiclass import MulticlassOptions


@dataclass(frozen=True)
class DriftPlan:
    """Which columns to test, how, and the rules around them (built from a spec or flags).

    ``prediction`` is the model's prediction column when prediction drift is tested (else
    None), of kind ``prediction_kind``; ``extra_predictions`` are the task's other
    prediction columns (column -> kind), tested with it (a multiclass model: the predicted
    class is ``prediction``, categorical, and each class's probability an extra, numerical).
    ``prediction_method`` / ``prediction_threshold`` apply to the numerical ones; the
    engine picks for the others. ``classes`` maps a multiclass model's classes to their
    probability columns (empty otherwise). ``score`` and ``target`` name the columns
    realized performance is computed from, ``task`` (with ``task_options``) the model task
    that computes it (see :mod:`driftline.tasks`), and ``engine`` the registered drift
    engine that computes the tests (``methods`` are names in its catalogue).
    """

    columns: dict[str, str]
    methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    prediction: str | None = None
    prediction_method: str | None = None
    prediction_threshold: float | None = None
    prediction_kind: str = "numerical"
    extra_predictions: dict[str, str] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    score: str | None = None
    target: str | None = None
    task: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
    quality: DataQuality = field(default_factory=DataQuality)
    engine: str = DEFAULT_ENGINE
    #: ``monitoring.drift``: engine auto's switch to native, native's report sample, the
    #: rare-category rule and the effect-size floor of p-value tests.
    auto_rows: int = 20_000
    report_sample: int = 10_000
    min_category_count: float = 10.0
    min_effect: float = 0.02
    #: Reports and snapshots with plots of individual values (``monitoring.report_detail:
    #: rows``); by default they hold aggregates only.
    row_level_report: bool = False

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, prediction: bool | None = None) -> DriftPlan:
        """The plan a spec describes (``prediction=False`` leaves the score out)."""
        mon = spec.monitoring
        plan = cls.from_columns(spec.column_types, mon)
        with_prediction = mon.prediction_drift.enabled if prediction is None else prediction
        kinds = dict(spec.prediction_types)
        main_kind = kinds.pop(spec.model.prediction)
        options = task_for(spec.model).options
        return DriftPlan(
            columns=plan.columns,
            methods=plan.methods,
            thresholds=plan.thresholds,
            drift_share=plan.drift_share,
            prediction=spec.model.prediction if with_prediction else None,
            prediction_method=mon.prediction_drift.method,
            prediction_threshold=mon.prediction_drift.threshold,
            prediction_kind=main_kind,
            extra_predictions=kinds,
            classes=options.columns if isinstance(options, MulticlassOptions) else {},
            score=spec.model.prediction,
            target=spec.model.target,
            task=spec.model.task,
            task_options=dict(spec.model.task_options),
            quality=mon.data_quality,
            engine=plan.engine,
            row_level_report=plan.row_level_report,
            auto_rows=plan.auto_rows,
            report_sample=plan.report_sample,
            min_category_count=plan.min_category_count,
            min_effect=plan.min_effect,
        )

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, str], monitoring: Monitoring | None = None
    ) -> DriftPlan:
        """A plan for named columns, with the rules of a monitoring section (or defaults)."""
        mon = monitoring or Monitoring()
        methods: dict[str, str] = {}
        thresholds: dict[str, float] = {}
        for name, kind in columns.items():
            rule = mon.drift.rule_for(name, kind)
            if rule.method:
                methods[name] = rule.method
            if rule.threshold:
                thresholds[name] = rule.threshold
        return cls(
            columns=dict(columns),
            methods=methods,
            thresholds=thresholds,
            drift_share=mon.drift.drift_share,
            quality=mon.data_quality,
            engine=mon.drift.engine,
            row_level_report=mon.report_detail == "rows",
            auto_rows=mon.drift.auto_rows,
            report_sample=mon.drift.report_sample,
            min_category_count=mon.drift.min_category_count,
            min_effect=mon.drift.min_effect,
        )

    def with_engine(self, name: str) -> DriftPlan:
        """The same plan computed by the registered engine ``name``.

        Raises SpecError when no engine has that name (listing the registered ones) or
        when a method of the plan is not in that engine's catalogue for its column.
        """
        self.require_fit(ENGINES.get(name))
        return replace(self, engine=name)

    def require_fit(self, engine: DriftEngine) -> None:
        """SpecError naming every column whose method (``methods``, ``prediction_method``)
        ``engine`` cannot apply to its column type, with the engine's catalogue: a plan
        run by another engine than the one its spec was checked against (an ``engine``
        argument, ``--engine``) is refused before any test runs."""
        wanted = [(c, m, self.columns[c]) for c, m in self.methods.items() if c in self.columns]
        if self.prediction_method:
            wanted += [
                (c, self.prediction_method, kind)
                for c, kind in self.tested_predictions.items()
                if kind == "numerical"
            ]
        problems = [
            f"{column}: {why}"
            for column, method, kind in wanted
            if (why := method_problem(engine, method, kind))
        ]
        if problems:
            raise SpecError(
                f"the plan does not fit drift engine {engine.name!r}: {'; '.join(problems)}"
            )

    @property
    def tested_predictions(self) -> dict[str, str]:
        """Every prediction column whose drift is tested -> kind (none when ``prediction``
        is None)."""
        if not self.prediction:
            return {}
        return {self.prediction: self.prediction_kind, **self.extra_predictions}

    def prediction_rule(self, column: str) -> tuple[str | None, float | None]:
        """(method, threshold) for a prediction column: the spec's ``prediction_drift``
        choice for numerical ones, the engine's default (None, None) otherwise."""
        if self.tested_predictions.get(column) == "numerical":
            return self.prediction_method, self.prediction_threshold
        return None, None

    @property
    def numerical(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == "numerical"]

    @property
    def categorical(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == "categorical"]

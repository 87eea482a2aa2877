"""Which columns a drift check tests, how, and the rules around them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from driftline.config.errors import SpecError
from driftline.monitoring.engines import DEFAULT_ENGINE, ENGINES, method_problem
from driftline.specs import DataQuality, ModelSpec, Monitoring


@dataclass(frozen=True)
class DriftPlan:
    """Which columns to test, how, and the rules around them (built from a spec or flags).

    ``prediction`` is the score column when its drift is tested (else None); ``score``
    and ``target`` name the columns realized performance is computed from, ``task`` the
    model task that computes it (see :mod:`driftline.tasks`), and ``engine`` the registered
    drift engine that computes the tests (``methods`` are names in its catalogue).
    """

    columns: dict[str, str]
    methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    prediction: str | None = None
    prediction_method: str | None = None
    prediction_threshold: float | None = None
    score: str | None = None
    target: str | None = None
    task: str | None = None
    quality: DataQuality = field(default_factory=DataQuality)
    engine: str = DEFAULT_ENGINE
    #: Reports and snapshots with plots of individual values (``monitoring.report_detail:
    #: rows``); by default they hold aggregates only.
    row_level_report: bool = False

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, prediction: bool | None = None) -> DriftPlan:
        """The plan a spec describes (``prediction=False`` leaves the score out)."""
        mon = spec.monitoring
        plan = cls.from_columns(spec.column_types, mon)
        with_prediction = mon.prediction_drift.enabled if prediction is None else prediction
        return DriftPlan(
            columns=plan.columns,
            methods=plan.methods,
            thresholds=plan.thresholds,
            drift_share=plan.drift_share,
            prediction=spec.model.prediction if with_prediction else None,
            prediction_method=mon.prediction_drift.method,
            prediction_threshold=mon.prediction_drift.threshold,
            score=spec.model.prediction,
            target=spec.model.target,
            task=spec.model.task,
            quality=mon.data_quality,
            engine=plan.engine,
            row_level_report=plan.row_level_report,
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
        )

    def with_engine(self, name: str) -> DriftPlan:
        """The same plan computed by the registered engine ``name``.

        Raises SpecError when no engine has that name (listing the registered ones) or
        when a method of the plan is not in that engine's catalogue for its column.
        """
        engine = ENGINES.get(name)
        wanted = [(c, m, self.columns[c]) for c, m in self.methods.items() if c in self.columns]
        if self.prediction and self.prediction_method:
            wanted.append((self.prediction, self.prediction_method, "numerical"))
        problems = [
            f"{column}: {why}"
            for column, method, kind in wanted
            if (why := method_problem(engine, method, kind))
        ]
        if problems:
            raise SpecError(f"the plan does not fit drift engine {name!r}: {'; '.join(problems)}")
        return replace(self, engine=name)

    @property
    def numerical(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == "numerical"]

    @property
    def categorical(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == "categorical"]

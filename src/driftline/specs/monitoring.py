"""The ``monitoring:`` section: windows, drift tests, data quality, performance, policy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from driftline.monitoring.engines import DEFAULT_ENGINE, ENGINES
from driftline.specs.common import Duration, Section, cron_problem


class DriftRule(Section):
    """Which statistical test decides drift for a column, and at which threshold."""

    method: str | None = Field(
        default=None,
        description="Drift method, a name in the catalogue of the drift engine "
        "(monitoring.drift.engine); evidently's include wasserstein, ks, psi, "
        "jensenshannon, chisquare, z, hellinger, kl_div. Default: the engine's choice by "
        "column type and reference size (evidently, reference above 1000 rows: "
        "wasserstein for numerical, jensenshannon for categorical; otherwise ks, "
        "chisquare or z).",
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        description="Drift threshold of the method: for p-value methods (ks, chisquare, z, "
        "...) drift is a p-value below it; for distances (wasserstein, psi, jensenshannon, "
        "...) a score at or above it. Default: the method's own (0.05 for p-values, 0.1 "
        "for distances). Set a method together with a threshold.",
    )


class DriftSection(Section):
    """How input drift is tested, column by column and for the whole window."""

    engine: str = Field(
        default=DEFAULT_ENGINE,
        description="Drift engine that computes the tests: a name in the drift engine "
        "registry (built in: auto, evidently, native; plugins add more through the "
        "driftline.engines entry point group; `driftline plugins` lists them). auto runs "
        "evidently below auto_rows rows and native at or above. Methods are names in its "
        "catalogue.",
    )
    auto_rows: int = Field(
        default=20_000,
        gt=0,
        description="engine auto: windows (or references) of at least this many rows are "
        "tested by the native engine, smaller ones by Evidently.",
    )
    report_sample: int = Field(
        default=10_000,
        gt=0,
        description="native engine: the Evidently HTML report and snapshot are rendered "
        "from at most this many rows of each side (a seeded random sample); the verdicts "
        "in them are the ones computed on all rows.",
    )
    min_category_count: float = Field(
        default=10.0,
        ge=0,
        description="Categories whose expected count in the smaller sample (their pooled "
        "share times its rows) is below this are tested together as one 'rare' category, "
        "so sampling noise on rare values is not drift. 0 turns it off.",
    )
    min_effect: float = Field(
        default=0.02,
        ge=0,
        description="A p-value test (ks, chisquare, z, t_test, ...) reports drift only when "
        "the effect is at least this large too: normed Wasserstein distance for numerical "
        "columns, total variation distance for categorical ones. Huge samples make tiny, "
        "harmless differences significant. 0 turns it off.",
    )
    method: str | None = Field(
        default=None, description="Drift method for every column (overridden below)."
    )
    threshold: float | None = Field(
        default=None, gt=0, description="Threshold for every column (overridden below)."
    )
    numerical: DriftRule = Field(
        default_factory=DriftRule, description="Method and threshold for numerical columns."
    )
    categorical: DriftRule = Field(
        default_factory=DriftRule, description="Method and threshold for categorical columns."
    )
    columns: dict[str, DriftRule] = Field(
        default_factory=dict,
        description="Method and threshold for single columns, by name (the most specific "
        "setting wins: column, then type, then the section's method/threshold).",
    )
    drift_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="The window has dataset drift when at least this share of the feature "
        "columns drifted.",
    )

    @field_validator("engine")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in ENGINES:
            raise ValueError(ENGINES.unknown(value))
        return value

    def rule_for(self, column: str, column_type: str) -> DriftRule:
        """The effective method and threshold of one column (None = the engine's default)."""
        by_type = self.numerical if column_type == "numerical" else self.categorical
        own = self.columns.get(column, DriftRule())
        return DriftRule(
            method=own.method or by_type.method or self.method,
            threshold=own.threshold or by_type.threshold or self.threshold,
        )


class PredictionDrift(Section):
    """Drift of the model's score itself (an early hint, before labels arrive)."""

    enabled: bool = Field(default=True, description="Test the prediction column for drift.")
    method: str | None = Field(
        default=None,
        description="Drift method for the score, in the drift engine's catalogue "
        "(default: the engine's choice).",
    )
    threshold: float | None = Field(
        default=None, gt=0, description="Threshold of that method (default: its own)."
    )


class DataQuality(Section):
    """Rules that catch broken pipelines rather than a changing world."""

    max_missing_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A column breaks this rule when more than this share of its values "
        "is missing in the window and more than in the reference.",
    )
    max_unseen_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="A categorical column breaks this rule when more than this share of "
        "the window's rows carries categories the reference never had.",
    )
    max_out_of_range_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="A numerical column breaks this rule when more than this share of the "
        "window's values lies outside the reference's [min, max].",
    )
    block_retrain: bool = Field(
        default=True,
        description="While any rule is broken, alert instead of retraining: a model "
        "retrained on broken data learns the bug.",
    )


def _default_drops() -> dict[str, float]:
    """binary_classification's watched metrics (another task's spec sets its own)."""
    return {"roc_auc": 0.05, "pr_auc": 0.10}


class EstimatedPerformanceRules(Section):
    """Performance estimated before labels arrive (CBPE for binary classification, DLE
    for regression), from the estimator stored with the champion's baseline."""

    enabled: bool = Field(
        default=True, description="Estimate the champion's performance on each window."
    )
    max_drop: dict[str, float] = Field(
        default_factory=dict,
        description="Largest tolerated worsening of each estimated metric against the "
        "champion's validation value, in the metric's units and direction (as "
        "performance.max_drop). Beyond it the window alerts at medium severity "
        "(trigger estimated_performance_drop), below a realized drop (critical, retrain). "
        "Keys: the task's estimated metrics (binary_classification: roc_auc, pr_auc, "
        "accuracy; regression: mae, rmse). Empty (the default): estimates are shown and "
        "stored, never acted on.",
    )
    retrain: bool = Field(
        default=False,
        description="Let a lasting estimated drop start a retrain before labels confirm it: "
        "an estimated drop beyond max_drop in monitoring.policy.persistence.required of the "
        "last of_last windows (this one included, against the same champion) asks for a "
        "retrain at high severity (trigger persistent_estimated_drop, reason drift), below a "
        "realized drop's critical; the retrain still waits for labelled rows after the "
        "drop's first window, and the cooldown, grace and data-quality holds apply. Blind to "
        "concept drift, as the estimate is. Off (the default): estimates alert only. Needs "
        "max_drop.",
    )
    band_sigmas: float = Field(
        default=3.0,
        gt=0,
        description="Half-width of the confidence band in standard errors of the "
        "difference between estimate and realized value: sigma * sqrt(1/n + 1/m), the "
        "metric's sampling error on the window's n rows and the estimator's own, learnt "
        "from m validation rows (3, as NannyML).",
    )

    @field_validator("max_drop")
    @classmethod
    def _drops_positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not 0 < v < float("inf")]
        if bad:
            raise ValueError(f"drops must be positive numbers (check {bad})")
        return value

    @model_validator(mode="after")
    def _retrain_needs_drops(self) -> EstimatedPerformanceRules:
        if self.retrain and not self.max_drop:
            raise ValueError(
                "retrain: true needs max_drop (which estimated metrics may start a retrain, "
                "and how far they may fall first), e.g. max_drop: {roc_auc: 0.05}"
            )
        return self


class Performance(Section):
    """Realized performance, once labels have matured (concept drift shows only here)."""

    enabled: bool = Field(default=True, description="Check realized performance.")
    window: Duration = Field(
        default=timedelta(days=7),
        description="Length of the window of predictions whose labels are scored. It ends "
        "label_delay_days before the monitored window ends; only labels that had arrived "
        "by the monitored window's end count (a backfill never looks ahead).",
    )
    min_labelled_rows: int = Field(
        default=500, ge=1, description="Fewer labelled predictions than this: no verdict."
    )
    min_positives: int = Field(
        default=20,
        ge=1,
        description="Fewer positive (or negative) labels than this: no verdict.",
    )
    max_drop: dict[str, float] = Field(
        default_factory=_default_drops,
        description="Largest tolerated worsening of each metric against the champion's "
        "validation value, in the metric's units and direction (absolute, e.g. 0.05 = 5 "
        "points of ROC AUC below validation; for mae, 5.0 = an error 5 currency units "
        "above). The keys are the realized metrics the model's task watches "
        "(binary_classification: roc_auc, pr_auc; regression: mae, rmse, wape, gini). PR "
        "AUC also moves with the share of positives, so give it more room.",
    )
    cohort: Literal["week", "month"] | None = Field(
        default=None,
        description="Measure realized performance per prediction cohort: the newest ISO "
        "week (2026-W35) or calendar month (2026-09) whose every prediction's label has "
        "matured (label_delay_days after the cohort's end) by the monitored window's end, "
        "instead of the rolling `window`. For long label delays (a 365-day lifetime "
        "value): a cohort is judged whole, never with censored labels.",
    )

    estimated: EstimatedPerformanceRules = Field(
        default_factory=EstimatedPerformanceRules,
        description="Performance estimated without labels, before they mature (CBPE, "
        "DLE); blind to concept drift.",
    )

    @field_validator("max_drop")
    @classmethod
    def _drops_positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not 0 < v < float("inf")]
        if bad:
            raise ValueError(f"drops must be positive numbers (check {bad})")
        return value


class Persistence(Section):
    """Retrain only when input drift lasts, not on a one-day blip."""

    required: int = Field(
        default=4,
        ge=1,
        description="Windows with input drift needed before a retrain, this one included.",
    )
    of_last: int = Field(
        default=5,
        ge=1,
        description="Out of this many most recent windows (by time: a window that was not "
        "monitored counts as one without drift).",
    )

    @model_validator(mode="after")
    def _fits(self) -> Persistence:
        if self.required > self.of_last:
            raise ValueError(f"required ({self.required}) exceeds of_last ({self.of_last})")
        return self


class FalseDiscovery(Section):
    """Benjamini-Hochberg control when p-value methods test many columns at once."""

    enabled: bool = Field(default=True, description="Correct p-values for multiple testing.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="False discovery rate to control.")
    min_columns: int = Field(
        default=5,
        ge=2,
        description="Correct only when at least this many columns use p-value methods.",
    )


class Policy(Section):
    """How a window's findings and the recent history become none, alert or retrain."""

    persistence: Persistence = Field(
        default_factory=Persistence, description="N of the last M windows rule."
    )
    cooldown: Duration = Field(
        default=timedelta(days=7),
        description="After a retrain decision or a new champion (every promotion, adoption "
        "or rollback, the first champion included), alert instead of retraining for this "
        "long.",
    )
    fdr: FalseDiscovery = Field(
        default_factory=FalseDiscovery, description="False discovery rate control."
    )
    rebaseline: Literal["manual", "auto"] = Field(
        default="manual",
        description="What happens once drift is acknowledged (a challenger trained on the "
        "drifted data was rejected as no better). manual: the alert says so and a person "
        "may run `driftline baseline refresh`. auto: the monitor makes its last "
        "persistence.of_last windows the champion's monitoring reference right away "
        "(audited, reversible with `driftline baseline undo`).",
    )
    retrain: Literal["auto", "approve", "never"] = Field(
        default="auto",
        description="What a retrain decision does. auto: the monitor starts the "
        "retrain-model flow, which promotes the challenger if every gate passes. approve: "
        "the same, but the challenger waits for a person's approval before it can become "
        "champion (turns promotion.manual_approval on). never: monitor only; the decision "
        "becomes an alert saying a retrain is recommended (trigger retrain_recommended) and "
        "nothing is trained.",
    )


class SegmentDrift(Section):
    """Drift, data quality and realized performance inside each segment (a value of a
    segment column, e.g. ``channel: paid_social``), with false-discovery control across
    segments x columns."""

    enabled: bool = Field(
        default=False,
        description="Check every segment value with enough rows (one engine run per "
        "segment: opt in, it multiplies the cost of a monitor run).",
    )
    columns: list[str] | None = Field(
        default=None,
        description="Segment columns to slice by (categorical features). Default: model.segments.",
    )
    min_rows: int = Field(
        default=500,
        ge=2,
        description="A segment value is checked only when both the reference and the "
        "window hold at least this many of its rows.",
    )
    engine: str = Field(
        default="scipy",
        description="Drift engine of the segment tests: a name in the drift engine "
        "registry. Default scipy: two-sample p-value tests (ks, chi2_contingency) without a "
        "report, fast enough for one run per segment value.",
    )
    numerical_method: str | None = Field(
        default=None,
        description="Drift method for numerical columns inside segments, in the segment "
        "engine's catalogue (default: the engine's choice; scipy: ks). Choose a p-value "
        "method so that false-discovery control applies.",
    )
    categorical_method: str | None = Field(
        default=None,
        description="Drift method for categorical columns inside segments (default: the "
        "engine's choice; scipy: chi2_contingency).",
    )
    fdr_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="False discovery rate controlled (Benjamini-Hochberg) across every "
        "p-value test of every segment and column of the window. Distance methods are not "
        "corrected: their verdict is the method's threshold, reported as uncorrected.",
    )


class MultivariateDrift(Section):
    """A domain classifier: can a model tell the window from the reference? Catches changes
    of the joint distribution (a correlation that flipped) no single column shows."""

    enabled: bool = Field(default=False, description="Run the domain-classifier check.")
    threshold: float = Field(
        default=0.55,
        gt=0.5,
        lt=1,
        description="Drift when the classifier's cross-validated ROC AUC is at or above this "
        "(0.5: it cannot tell the two samples apart).",
    )
    sample_size: int = Field(
        default=2000,
        ge=100,
        description="Rows drawn (at most) from the reference and from the window each.",
    )
    folds: int = Field(default=5, ge=2, le=10, description="Stratified cross-validation folds.")
    top_features: int = Field(
        default=5,
        ge=1,
        description="Features reported as separating the samples most (at most this many; "
        "only those with a positive permutation importance).",
    )
    random_state: int = Field(default=0, description="Seed of the sampling and the folds.")


class Monitoring(Section):
    """The ``monitoring:`` section: what a monitor run compares and how it decides."""

    window: Duration = Field(
        default=timedelta(days=1), description="Length of each monitored window (e.g. 1d, 12h)."
    )
    schedule: str = Field(
        default="0 6 * * *",
        description="When the monitor runs (cron, UTC); each run checks the window ending "
        "at the last window boundary.",
    )
    min_rows: int = Field(
        default=500,
        ge=1,
        description="Windows with fewer rows get status insufficient_data and never a "
        "drift verdict.",
    )
    drift: DriftSection = Field(default_factory=DriftSection, description="Input drift tests.")
    critical_features: list[str] = Field(
        default_factory=list,
        description="Features whose drift alone counts as input drift (as if the whole "
        "window had drifted).",
    )
    prediction_drift: PredictionDrift = Field(
        default_factory=PredictionDrift, description="Drift of the model's score."
    )
    data_quality: DataQuality = Field(
        default_factory=DataQuality, description="Missing values, unseen categories, ranges."
    )
    performance: Performance = Field(
        default_factory=Performance, description="Realized ROC AUC / PR AUC from labels."
    )
    policy: Policy = Field(default_factory=Policy, description="From findings to a decision.")
    segments: SegmentDrift = Field(
        default_factory=SegmentDrift,
        description="Drift, data quality and performance per segment value.",
    )
    multivariate: MultivariateDrift = Field(
        default_factory=MultivariateDrift,
        description="Domain-classifier drift of the joint distribution.",
    )
    report_detail: Literal["aggregates", "rows"] = Field(
        default="aggregates",
        description="What HTML reports and Evidently snapshots hold: 'aggregates' (scores, "
        "tests, counts; no plot of values, so no customer's value can be read from them) or "
        "'rows' (Evidently's full plots, which show individual values: `driftline privacy "
        "forget` then deletes the reports and snapshots of every window holding the "
        "customer's rows).",
    )

    @field_validator("window", "schedule")
    @classmethod
    def _positive_or_cron(cls, value: Any, info: Any) -> Any:
        if info.field_name == "window":
            if value <= timedelta(0):
                raise ValueError("must be longer than zero")
            return value
        problem = cron_problem(str(value))
        if problem is not None:
            raise ValueError(problem)
        return value

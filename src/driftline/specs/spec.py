"""Model specs: the typed form of ``monitors/<model>.yaml``.

Every section is a pydantic model with ``extra="forbid"``, so a typo is an error that
names the file, the key and the keys that are allowed. Field descriptions are the
reference documentation of the YAML (the README's spec tables are built from them).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from driftline.config.errors import SpecError
from driftline.monitoring.methods import check_method

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
# Columns the prediction store adds itself; a spec may not use these names.
RESERVED_COLUMNS = frozenset({"request_id", "entity_key", "ts_us", "consent", "ingested_at"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Features(_Section):
    """Input columns the model reads, by type."""

    numerical: list[str] = Field(default_factory=list, description="Numeric feature columns.")
    categorical: list[str] = Field(
        default_factory=list, description="Categorical feature columns (stored as text)."
    )

    @property
    def all(self) -> list[str]:
        return [*self.numerical, *self.categorical]


class ModelSection(_Section):
    """What the model is and which columns of its inference log mean what."""

    name: str = Field(description="Model name: lowercase letters, digits, underscores.")
    task: Literal["binary_classification"] = Field(
        default="binary_classification", description="Prediction task."
    )
    request_id: str = Field(
        default="request_id", description="Column with the unique id of each prediction."
    )
    entity_id: str = Field(
        description="Column with the customer/entity id; pseudonymised at ingestion, "
        "never stored raw."
    )
    timestamp: str = Field(description="Column with the prediction time.")
    prediction: str = Field(description="Column with the model's score (probability).")
    target: str = Field(description="Column with the ground-truth label in label files.")
    label_delay_days: int = Field(
        default=7, ge=0, description="Days after a prediction until its label has matured."
    )
    features: Features = Field(description="Feature columns by type.")
    segments: list[str] = Field(
        default_factory=list,
        description="Categorical feature columns to slice metrics by (e.g. channel, device).",
    )
    consent: str | None = Field(
        default=None,
        description="Boolean column: did the customer consent to their data being used "
        "for monitoring and training? Rows without consent are excluded from training.",
    )

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _MODEL_NAME.match(value):
            raise ValueError(
                "must be 1-48 lowercase letters, digits or underscores, starting with a letter"
            )
        return value

    @model_validator(mode="after")
    def _columns_consistent(self) -> ModelSection:
        if not self.features.all:
            raise ValueError("features: list at least one numerical or categorical column")
        input_columns = [self.entity_id, self.timestamp, self.prediction, *self.features.all]
        if self.consent:
            input_columns.append(self.consent)
        for column in [*input_columns, self.request_id, self.target]:
            if not _IDENT.match(column):
                raise ValueError(f"column name {column!r} must be a plain identifier")
        seen: set[str] = set()
        for column in input_columns:
            if column in seen:
                raise ValueError(f"column {column!r} is used twice")
            seen.add(column)
        clash = sorted(set(input_columns) & RESERVED_COLUMNS)
        if clash:
            raise ValueError(
                f"column names {clash} are reserved by the store; rename them in the spec"
            )
        stray = [s for s in self.segments if s not in self.features.categorical]
        if stray:
            raise ValueError(
                f"segments {stray} must be categorical features "
                f"(categorical: {self.features.categorical})"
            )
        return self


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")


def _parse_duration(value: Any) -> Any:
    """'30m', '12h', '1d', '2w' -> timedelta; anything else is left to pydantic."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    return value


#: A length of time: ``30m``, ``12h``, ``1d``, ``2w`` (or ISO 8601 such as ``P1D``).
Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]


class DriftRule(_Section):
    """Which statistical test decides drift for a column, and at which threshold."""

    method: str | None = Field(
        default=None,
        description="Evidently drift method, e.g. wasserstein, ks, psi, jensenshannon, "
        "chisquare, z, hellinger, kl_div. Default: Evidently's choice by column type and "
        "reference size (reference above 1000 rows: wasserstein for numerical, "
        "jensenshannon for categorical; otherwise ks, chisquare or z).",
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        description="Drift threshold of the method: for p-value methods (ks, chisquare, z, "
        "...) drift is a p-value below it; for distances (wasserstein, psi, jensenshannon, "
        "...) a score at or above it. Default: the method's own (0.05 for p-values, 0.1 "
        "for distances). Set a method together with a threshold.",
    )


class DriftSection(_Section):
    """How input drift is tested, column by column and for the whole window."""

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

    def rule_for(self, column: str, column_type: str) -> DriftRule:
        """The effective method and threshold of one column (None = Evidently's default)."""
        by_type = self.numerical if column_type == "numerical" else self.categorical
        own = self.columns.get(column, DriftRule())
        return DriftRule(
            method=own.method or by_type.method or self.method,
            threshold=own.threshold or by_type.threshold or self.threshold,
        )


class PredictionDrift(_Section):
    """Drift of the model's score itself (an early hint, before labels arrive)."""

    enabled: bool = Field(default=True, description="Test the prediction column for drift.")
    method: str | None = Field(
        default=None, description="Drift method for the score (default: Evidently's choice)."
    )
    threshold: float | None = Field(
        default=None, gt=0, description="Threshold of that method (default: its own)."
    )


class DataQuality(_Section):
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


PerformanceMetric = Literal["roc_auc", "pr_auc"]


def _default_drops() -> dict[PerformanceMetric, float]:
    return {"roc_auc": 0.05, "pr_auc": 0.10}


class Performance(_Section):
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
    max_drop: dict[PerformanceMetric, float] = Field(
        default_factory=_default_drops,
        description="Largest tolerated drop of each metric below the champion's validation "
        "value (absolute, e.g. 0.05 = 5 points of ROC AUC). PR AUC also moves with the "
        "share of positives, so give it more room.",
    )

    @field_validator("max_drop")
    @classmethod
    def _drops_positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not 0 < v < 1]
        if bad:
            raise ValueError(f"drops must lie between 0 and 1 (check {bad})")
        return value


class Persistence(_Section):
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


class FalseDiscovery(_Section):
    """Benjamini-Hochberg control when p-value methods test many columns at once."""

    enabled: bool = Field(default=True, description="Correct p-values for multiple testing.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="False discovery rate to control.")
    min_columns: int = Field(
        default=5,
        ge=2,
        description="Correct only when at least this many columns use p-value methods.",
    )


class Policy(_Section):
    """How a window's findings and the recent history become none, alert or retrain."""

    persistence: Persistence = Field(
        default_factory=Persistence, description="N of the last M windows rule."
    )
    cooldown: Duration = Field(
        default=timedelta(days=7),
        description="After a retrain decision or a new champion, alert instead of "
        "retraining for this long.",
    )
    fdr: FalseDiscovery = Field(
        default_factory=FalseDiscovery, description="False discovery rate control."
    )


class Monitoring(_Section):
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

    @field_validator("window", "schedule")
    @classmethod
    def _positive_or_cron(cls, value: Any, info: Any) -> Any:
        if info.field_name == "window":
            if value <= timedelta(0):
                raise ValueError("must be longer than zero")
            return value
        fields = str(value).split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"{value!r} is not a 5-field cron expression (minute hour day month weekday)"
            )
        return value


AlertChannel = Literal["slack", "webhook"]


def _default_channels() -> list[AlertChannel]:
    return ["slack"]


class AlertsSection(_Section):
    """Who hears about what: severity threshold, repeat suppression and channels.

    Drift, data-quality and performance findings alert at or above ``min_severity``;
    lifecycle events (retrain started, challenger promoted or rejected, rollback, a
    failed flow) always alert. Webhook URLs are secrets and never appear here: they come
    from the environment (DRIFTLINE_SLACK_WEBHOOK_URL, DRIFTLINE_WEBHOOK_URL) or a
    Prefect Secret block.
    """

    enabled: bool = Field(default=True, description="Send alerts for this model at all.")
    min_severity: Literal["info", "warning", "critical"] = Field(
        default="warning",
        description="Lowest severity of a drift, data-quality or performance finding "
        "that alerts (info < warning < critical). Lifecycle events always alert.",
    )
    cooldown_minutes: int = Field(
        default=720,
        ge=0,
        description="A repeat of the same finding (same dedupe key) within this many "
        "minutes of the last one sent is recorded as suppressed instead of sent, unless "
        "its severity is higher (escalation always goes out). 0 sends every repeat.",
    )
    channels: list[AlertChannel] = Field(
        default_factory=_default_channels,
        description="Where alerts go: 'slack' (incoming webhook, Block Kit) and/or "
        "'webhook' (the alert as plain JSON, for other tools).",
    )
    max_features: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Drifted features listed in a Slack message; the rest are summarised "
        "as 'and N more'.",
    )
    max_findings: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Data-quality, performance findings and failing gates listed per "
        "section of a Slack message; the rest are summarised as 'and N more'.",
    )

    @field_validator("channels")
    @classmethod
    def _channels_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("list each channel once")
        return value


class TrainingSection(_Section):
    """How a model is (re)trained from the store: which rows, which pipeline, what baseline.

    Windows are measured back from the data clock (the newest stored prediction, or an
    explicit ``as_of``). A prediction's label has matured ``model.label_delay_days`` after
    it was made; the most recent ``holdout_days`` of matured rows are never trained on,
    so the benchmark can score champion and challenger on data neither has seen.
    """

    pipeline: Literal["hist_gradient_boosting", "logistic_regression"] = Field(
        default="hist_gradient_boosting",
        description="scikit-learn pipeline: a column transformer followed by "
        "HistGradientBoostingClassifier (native categories, NaN-aware) or by "
        "LogisticRegression (scaled numbers, one-hot categories).",
    )
    params: dict[str, int | float | str | bool | None] = Field(
        default_factory=dict,
        description="Hyperparameters passed to the classifier, e.g. {max_iter: 300}.",
    )
    lookback_days: int = Field(
        default=14,
        ge=1,
        le=3660,
        description="Days of matured, labelled predictions to train on, ending where the "
        "holdout window starts. Short windows adapt to concept drift faster.",
    )
    holdout_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Most recent days of matured labels kept out of training; the "
        "benchmark scores champion and challenger on them (out of time).",
    )
    validation_fraction: float = Field(
        default=0.2,
        gt=0,
        lt=0.5,
        description="Latest share of the training window (by time) held out to compute "
        "the validation metrics logged with the model and stored in its baseline.",
    )
    min_rows: int = Field(
        default=500,
        ge=50,
        description="Fewest labelled, consenting rows a training window may have.",
    )
    baseline_sample_size: int = Field(
        default=5000,
        ge=100,
        le=1_000_000,
        description="Most rows in the baseline's reference sample (stratified by label "
        "and segment columns; consenting rows only, no identifiers).",
    )
    random_state: int = Field(
        default=0, description="Seed for the split, the estimator and the sampling."
    )
    n_threads: int | None = Field(
        default=None,
        ge=1,
        description="OpenMP threads for fitting and scoring (default: every core). Set 1 "
        "on machines whose cores are shared with other work: gradient boosting slows down "
        "many times over when its threads compete for busy cores.",
    )


class PromotionSection(_Section):
    """The gates a challenger must pass to become champion.

    The champion gates (improvement, non-inferiority, segments, relative calibration)
    are skipped, and recorded as skipped, when the model has no champion yet.
    """

    primary_metric: Literal["roc_auc", "pr_auc"] = Field(
        default="roc_auc", description="Metric the improvement and the bootstrap refer to."
    )
    min_primary_metric: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description="Absolute floor: the challenger's primary metric on the benchmark "
        "window must reach this, champion or not.",
    )
    min_improvement: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="The challenger's primary metric must beat the champion's by at least "
        "this much (absolute) on the benchmark window.",
    )
    non_inferiority_margin: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="The lower bound of the paired bootstrap confidence interval of "
        "(challenger - champion) must be at least -margin. 0 asks for a significant gain.",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="Confidence level of the bootstrap interval."
    )
    bootstrap_samples: int = Field(
        default=1000, ge=100, le=20_000, description="Paired bootstrap resamples."
    )
    max_segment_regression: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="No segment (value of a model.segments column) with enough rows may "
        "lose more than this on the primary metric against the champion.",
    )
    min_segment_rows: int = Field(
        default=500,
        ge=1,
        description="Segments with fewer benchmark rows (or a single class) are reported "
        "but not gated.",
    )
    max_calibration_increase: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Expected calibration error (10 bins) may grow by at most this much "
        "over the champion's.",
    )
    max_ece: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="Absolute ceiling on the challenger's expected calibration error.",
    )
    min_rows_per_second: float = Field(
        default=5000,
        ge=0,
        description="Latency budget: batch scoring throughput on the benchmark window.",
    )
    max_model_mb: float = Field(
        default=50, gt=0, description="Size budget of the serialised model, in MB."
    )
    manual_approval: bool = Field(
        default=False,
        description="Ask a person to approve in the Prefect UI (retrain flow) or with "
        "`driftline promote --approve` after every other gate has passed.",
    )
    approval_timeout_hours: float = Field(
        default=24,
        gt=0,
        description="Without an answer after this long the retrain flow rejects.",
    )


class ModelSpec(_Section):
    """A whole ``monitors/<model>.yaml`` file."""

    model: ModelSection
    monitoring: Monitoring = Field(
        default_factory=Monitoring,
        description="Drift monitoring: windows, tests, data quality, performance, policy.",
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
    source: Path | None = Field(default=None, exclude=True, description="File it came from.")

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def column_types(self) -> dict[str, str]:
        """Feature column -> "numerical" | "categorical"."""
        f = self.model.features
        return {
            **dict.fromkeys(f.numerical, "numerical"),
            **dict.fromkeys(f.categorical, "categorical"),
        }

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
        for where, method, kinds in checks:
            for kind in kinds:
                why = check_method(method, kind) if method else None
                if why:
                    problems.append(f"{where}: {why}")
                    break
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _allowed_keys(cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at ``loc`` (the location of an unknown key)."""
    current: Any = cls
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        annotation = field.annotation
        current = annotation
    if hasattr(current, "model_fields"):
        return [n for n, f in current.model_fields.items() if not f.exclude]
    return []


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid model spec"]
    for item in error.errors():
        loc = tuple(item["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(ModelSpec, loc))
            lines.append(f"  - {key}: unknown key; allowed here: {allowed}")
        elif item["type"] == "missing":
            lines.append(f"  - {key}: required key is missing")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            lines.append(f"  - {key}: {msg}")
    return "\n".join(lines)


def parse_spec(data: Any, source: str = "<spec>") -> ModelSpec:
    """Validate a spec given as a mapping; raise SpecError naming the bad keys."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a model spec must be a YAML mapping with a 'model' key")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc, source)) from None


def load_spec(path: Path | str) -> ModelSpec:
    """Read and validate one spec file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    spec = parse_spec(data, str(path))
    return spec.model_copy(update={"source": path})


def find_spec(model: str, specs_dir: Path) -> ModelSpec:
    """Load the spec of ``model`` from ``specs_dir`` (file ``<model>.yaml``)."""
    path = specs_dir / f"{model}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in specs_dir.glob("*.yaml"))) or "none"
        raise SpecError(
            f"no spec for model {model!r}: expected {path} (specs found in {specs_dir}: {known})"
        )
    spec = load_spec(path)
    if spec.name != model:
        raise SpecError(f"{path}: model.name is {spec.name!r} but the file is named {model!r}")
    return spec


def list_specs(specs_dir: Path) -> list[ModelSpec]:
    """Every valid spec in ``specs_dir``, sorted by model name."""
    return [load_spec(p) for p in sorted(specs_dir.glob("*.yaml"))]

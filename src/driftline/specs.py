"""Model specs: the typed form of ``monitors/<model>.yaml``.

Every section is a pydantic model with ``extra="forbid"``, so a typo is an error that
names the file, the key and the keys that are allowed. Field descriptions are the
reference documentation of the YAML (the README's spec tables are built from them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from driftline.errors import SpecError

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

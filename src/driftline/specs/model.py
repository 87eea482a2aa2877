"""The ``model:`` section: what the model is and which columns of its log mean what."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from driftline.specs.common import Duration, Section
from driftline.tasks import DEFAULT_TASK, TASKS, task_for

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: What a model name may be (a spec file's stem, a table suffix, an MLflow model name).
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
# Columns the prediction store adds itself; a spec may not use these names.
RESERVED_COLUMNS = frozenset(
    {"request_id", "entity_key", "ts_us", "consent", "model_version", "ingested_at"}
)


class Features(Section):
    """Input columns the model reads, by type."""

    numerical: list[str] = Field(default_factory=list, description="Numeric feature columns.")
    categorical: list[str] = Field(
        default_factory=list, description="Categorical feature columns (stored as text)."
    )

    @property
    def all(self) -> list[str]:
        return [*self.numerical, *self.categorical]


class ModelSection(Section):
    """What the model is and which columns of its inference log mean what."""

    name: str = Field(description="Model name: lowercase letters, digits, underscores.")
    task: str = Field(
        default=DEFAULT_TASK,
        description="Prediction task: a name in the task registry (built in: "
        "binary_classification; packages add tasks through the `driftline.tasks` entry "
        "point group). It decides the metrics, the label and score checks and how "
        "realized performance is computed.",
    )
    task_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings of the task, validated by the task itself: each task checks "
        "its own keys, and a task without options accepts none.",
    )
    request_id: str = Field(
        default="request_id", description="Column with the unique id of each prediction."
    )
    entity_id: str = Field(
        description="Column with the customer/entity id; pseudonymised at ingestion, "
        "never stored raw."
    )
    timestamp: str = Field(description="Column with the prediction time.")
    prediction: str = Field(
        description="Column with the model's prediction: binary_classification's score "
        "(probability of the positive class); multiclass_classification's predicted class "
        "(its probabilities are in the columns task_options names)."
    )
    target: str = Field(description="Column with the ground-truth label in label files.")
    label_delay_days: int = Field(
        default=7, ge=0, description="Days after a prediction until its label has matured."
    )
    future_tolerance: Duration = Field(
        default=timedelta(hours=1),
        description="How far after the time of ingestion a prediction's timestamp (or a "
        "label's labelled_at) may lie, for clocks that disagree a little: a batch holding a "
        "row dated later is refused, naming the rows. The data clock (the newest "
        "prediction, from which training and benchmark windows are measured) never "
        "counts a row dated more than this after the present, wherever it came from.",
    )
    max_unmatched_label_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Largest share of a label batch whose request ids match no stored "
        "prediction; above it the batch is refused (usually the wrong id column or the "
        "wrong model). Unmatched labels below it are stored, and reported.",
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
    model_version: str = Field(
        default="model_version",
        description="Optional column of prediction batches: the registry version of the "
        "model that made each prediction (a whole number, e.g. 4). Realized performance "
        "is measured per version against that version's own validation metrics; rows "
        "without it are attributed to the version that was champion when they were scored "
        '(README, "Which version made each prediction").',
    )

    @field_validator("future_tolerance")
    @classmethod
    def _tolerance_not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative (e.g. 1h, 5m or 0m)")
        return value

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not MODEL_NAME.match(value):
            raise ValueError(
                "must be 1-48 lowercase letters, digits or underscores, starting with a letter"
            )
        return value

    @field_validator("task")
    @classmethod
    def _task_registered(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(TASKS.unknown(value))
        return value

    @model_validator(mode="after")
    def _task_options_valid(self) -> ModelSection:
        try:
            task_for(self)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"task_options for task {self.task}: {problems}") from None
        return self

    @model_validator(mode="after")
    def _columns_consistent(self) -> ModelSection:
        if not self.features.all:
            raise ValueError("features: list at least one numerical or categorical column")
        # The task's prediction columns (binary: model.prediction; multiclass: the
        # predicted class and one probability column per class) are input columns too.
        predictions = list(task_for(self).prediction_columns(self))
        input_columns = [self.entity_id, self.timestamp, *predictions, *self.features.all]
        if self.consent:
            input_columns.append(self.consent)
        for column in [*input_columns, self.request_id, self.target, self.model_version]:
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
        if self.model_version in [*input_columns, self.request_id]:
            raise ValueError(
                f"model_version: column {self.model_version!r} is already used by another "
                "column of the prediction batches; name the version column differently"
            )
        stray = [s for s in self.segments if s not in self.features.categorical]
        if stray:
            raise ValueError(
                f"segments {stray} must be categorical features "
                f"(categorical: {self.features.categorical})"
            )
        return self

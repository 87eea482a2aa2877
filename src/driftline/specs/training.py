"""The ``training:`` section: which rows, which trainer, what baseline."""

from __future__ import annotations

from pydantic import Field, field_validator

from driftline.lifecycle.trainers import TRAINERS
from driftline.specs.common import Section


class TrainingSection(Section):
    """How a model is (re)trained from the store: which rows, which pipeline, what baseline.

    Windows are measured back from the data clock (the newest stored prediction, or an
    explicit ``as_of``). A prediction's label has matured ``model.label_delay_days`` after
    it was made; the most recent ``holdout_days`` of matured rows are never trained on,
    so the benchmark can score champion and challenger on data neither has seen.
    """

    pipeline: str = Field(
        default="hist_gradient_boosting",
        description="The trainer that builds the scikit-learn pipeline (a column transformer "
        "followed by an estimator); allowed values are the names in the trainer registry "
        "(`driftline plugins` lists them). Built in: hist_gradient_boosting "
        "(HistGradientBoostingClassifier, native categories, NaN-aware) and "
        "logistic_regression (LogisticRegression on scaled numbers, one-hot categories).",
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

    @field_validator("pipeline")
    @classmethod
    def _pipeline_is_a_registered_trainer(cls, value: str) -> str:
        if value not in TRAINERS:
            raise ValueError(TRAINERS.unknown(value))
        return value

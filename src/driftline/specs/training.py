"""The ``training:`` section: which rows, which trainer, what baseline, what may be loaded."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from driftline.lifecycle.flavors import OPT_IN_FLAVORS, never_trusted
from driftline.lifecycle.trainers import trainer_problem
from driftline.specs.common import Section

_QUALIFIED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class TrainingSection(Section):
    """How a model is (re)trained from the store: which rows, which pipeline, what baseline.

    Windows are measured back from the data clock (the newest stored prediction, or an
    explicit ``as_of``). A prediction's label has matured ``model.label_delay_days`` after
    it was made; the most recent ``holdout_days`` of matured rows are never trained on,
    so the benchmark can score champion and challenger on data neither has seen.
    """

    trainer: str = Field(
        default="hist_gradient_boosting",
        description="What fits the model: a name in the trainer registry (`driftline plugins` "
        "lists them; built in: hist_gradient_boosting, HistGradientBoostingClassifier with "
        "native categories, NaN-aware; logistic_regression, LogisticRegression on scaled "
        "numbers and one-hot categories), or your own function as an import path "
        "`package.module:function` that takes the training frame and the spec and returns a "
        'fitted model (README, "Your own trainer"). `pipeline` is its old name and still '
        "accepted.",
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Fully qualified types your models hold beyond driftline's skops "
        "allow-list (e.g. sklearn.tree._tree.Tree for random forests). skops constructs "
        "them when it loads any version of this model, so list data-holding types only, "
        "never a function.",
    )
    allowed_flavors: list[str] = Field(
        default_factory=list,
        description="What driftline may store and load beyond scikit-learn models saved with "
        "skops: lightgbm (LightGBM's own text format), python_function (any MLflow model, "
        "loaded with MLflow's loader, which may unpickle: code in the artifact runs), "
        "pickle (adopt may read a pickled model once and stores it again safely).",
    )
    params: dict[str, int | float | str | bool | None] = Field(
        default_factory=dict,
        description="Hyperparameters, e.g. {max_iter: 300}: a built-in trainer passes them "
        "to its estimator; your own trainer reads them from spec.training.params.",
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

    @model_validator(mode="before")
    @classmethod
    def _pipeline_is_the_old_name_of_trainer(cls, data: Any) -> Any:
        if isinstance(data, dict) and "pipeline" in data:
            if "trainer" in data:
                raise ValueError("give training.trainer only (training.pipeline is its old name)")
            data = {**data, "trainer": data["pipeline"]}
            del data["pipeline"]
        return data

    @field_validator("trainer")
    @classmethod
    def _registered_or_import_path(cls, value: str) -> str:
        why = trainer_problem(value)
        if why:
            raise ValueError(why)
        return value

    @field_validator("trusted_types")
    @classmethod
    def _qualified_data_types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not _QUALIFIED.match(t)]
        if bad:
            raise ValueError(f"{bad} are not fully qualified type names (package.module.Type)")
        refused = [t for t in value if never_trusted(t)]
        if refused:
            raise ValueError(
                f"{refused} can run commands or code when constructed and are never "
                "trusted; list only types that hold data"
            )
        return value

    @field_validator("allowed_flavors")
    @classmethod
    def _known_flavors(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in OPT_IN_FLAVORS]
        if unknown:
            raise ValueError(
                f"unknown {unknown}; choose from {', '.join(OPT_IN_FLAVORS)} "
                "(scikit-learn models saved with skops are always allowed)"
            )
        return value

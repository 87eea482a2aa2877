"""The ``logistic_regression`` trainer: scikit-learn's LogisticRegression on imputed,
scaled numbers and one-hot categories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftline.lifecycle.trainers import TRAINERS, with_params

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from driftline.specs import ModelSpec


class LogisticRegressionTrainer:
    """Numerical columns mean-imputed and standardised; categorical columns imputed as
    ``missing`` and one-hot encoded (unseen categories ignored). Defaults:
    ``max_iter=1000`` and ``random_state`` from the spec."""

    name = "logistic_regression"
    description = "LogisticRegression on scaled numbers and one-hot categories (scikit-learn)"
    tasks = ("binary_classification", "multiclass_classification")
    trusted_types: tuple[str, ...] = ()  # numpy.dtype is in the base list

    def build(self, spec: ModelSpec) -> Pipeline:
        """Column transformer + LogisticRegression, unfitted."""
        from sklearn.linear_model import LogisticRegression

        defaults = {"max_iter": 1000, "random_state": spec.training.random_state}
        return with_params(spec, scaled_one_hot(spec), LogisticRegression(), defaults)


def scaled_one_hot(spec: ModelSpec) -> Any:
    """The preprocessing of the linear trainers: numerical columns mean-imputed and
    standardised, categorical ones imputed as ``missing`` and one-hot encoded (unseen
    categories ignored); an unfitted ColumnTransformer."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            (
                "num",
                Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                spec.model.features.numerical,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                spec.model.features.categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )


TRAINERS.register(LogisticRegressionTrainer())

"""The ``hist_gradient_boosting`` trainer: scikit-learn's HistGradientBoostingClassifier
(or HistGradientBoostingRegressor for a regression) on numbers as they are and categories
as native categorical features (NaN-aware)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftline.lifecycle.trainers import TRAINERS, with_params

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from driftline.specs import ModelSpec


class HistGradientBoostingTrainer:
    """Numerical columns pass through (the trees handle NaN); categorical columns are
    ordinal-encoded, unseen and missing categories as NaN, and declared categorical to
    the estimator. Defaults: ``random_state`` from the spec; for a regression, the
    ``loss`` matching ``task_options.deviance_power`` (:func:`regression_loss`)."""

    name = "hist_gradient_boosting"
    description = (
        "HistGradientBoostingClassifier / Regressor with native categories, NaN-aware "
        "(scikit-learn)"
    )
    tasks = ("binary_classification", "regression", "multiclass_classification")
    # The fitted trees, and the category encoder inside the classifier, which holds
    # functools.partial(check_array, ...): skops audits the wrapped function as a type of
    # its own, so trusting ``partial`` admits only partials of functions on the list.
    trusted_types = (
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "functools.partial",
        "sklearn.utils.validation.check_array",
    )

    def build(self, spec: ModelSpec) -> Pipeline:
        """Column transformer + HistGradientBoostingClassifier (Regressor), unfitted."""
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.preprocessing import OrdinalEncoder

        numerical, categorical = spec.model.features.numerical, spec.model.features.categorical
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
        )
        prep = ColumnTransformer(
            [("num", "passthrough", numerical), ("cat", encoder, categorical)],
            verbose_feature_names_out=False,
        )
        mask = [False] * len(numerical) + [True] * len(categorical)
        defaults: dict[str, Any] = {"random_state": spec.training.random_state}
        estimator: Any
        if spec.model.task == "regression":
            estimator = HistGradientBoostingRegressor(categorical_features=mask)
            defaults["loss"] = regression_loss(spec)
        else:
            estimator = HistGradientBoostingClassifier(categorical_features=mask)
        return with_params(spec, prep, estimator, defaults)


def regression_loss(spec: ModelSpec) -> str:
    """The HistGradientBoostingRegressor loss nearest the spec's Tweedie power (it has no
    Tweedie loss): ``squared_error`` below 1, ``poisson`` in [1, 2) (log link; zeros
    allowed), ``gamma`` from 2 (positive values). ``training.params.loss`` overrides it."""
    from driftline.tasks import task_for

    power = float(getattr(task_for(spec.model).options, "deviance_power", 0.0))
    if power >= 2:
        return "gamma"
    return "poisson" if power >= 1 else "squared_error"


TRAINERS.register(HistGradientBoostingTrainer())

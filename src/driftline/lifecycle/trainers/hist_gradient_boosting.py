"""The ``hist_gradient_boosting`` trainer: scikit-learn's HistGradientBoostingClassifier
on numbers as they are and categories as native categorical features (NaN-aware)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftline.lifecycle.trainers import TRAINERS, with_params

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from driftline.specs import ModelSpec


class HistGradientBoostingTrainer:
    """Numerical columns pass through (the trees handle NaN); categorical columns are
    ordinal-encoded, unseen and missing categories as NaN, and declared categorical to
    the classifier. Defaults: ``random_state`` from the spec."""

    name = "hist_gradient_boosting"
    description = "HistGradientBoostingClassifier with native categories, NaN-aware (scikit-learn)"
    tasks = ("binary_classification", "multiclass_classification")
    # The fitted trees, and the category encoder inside the classifier, which holds
    # functools.partial(check_array, ...): skops audits the wrapped function as a type of
    # its own, so trusting ``partial`` admits only partials of functions on the list.
    trusted_types = (
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "functools.partial",
        "sklearn.utils.validation.check_array",
    )

    def build(self, spec: ModelSpec) -> Pipeline:
        """Column transformer + HistGradientBoostingClassifier, unfitted."""
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier
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
        classifier: Any = HistGradientBoostingClassifier(categorical_features=mask)
        return with_params(spec, prep, classifier, {"random_state": spec.training.random_state})


TRAINERS.register(HistGradientBoostingTrainer())

"""The ``linear_regression`` trainer: scikit-learn's TweedieRegressor, a generalized linear
model whose distribution follows the spec's ``task_options.deviance_power`` (0 normal with
an identity link; 1 Poisson, between 1 and 2 compound Poisson-gamma, 2 gamma, all with a
log link), on imputed, scaled numbers and one-hot categories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftline.lifecycle.trainers import TRAINERS, with_params
from driftline.lifecycle.trainers.logistic_regression import scaled_one_hot

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from driftline.specs import ModelSpec


class LinearRegressionTrainer:
    """The preprocessing of ``logistic_regression``, then TweedieRegressor. Defaults:
    ``power`` from ``task_options.deviance_power``, ``link="auto"``, ``alpha=1e-4`` (a
    little ridge penalty keeps one-hot columns stable) and ``max_iter=1000``."""

    name = "linear_regression"
    description = (
        "TweedieRegressor GLM (normal, Poisson, gamma, Tweedie by the task's deviance "
        "power) on scaled numbers and one-hot categories (scikit-learn)"
    )
    tasks = ("regression",)
    # The fitted GLM keeps its loss object (the distribution's link and deviance: data,
    # no code of its own): HalfTweedieLossIdentity for power 0, HalfTweedieLoss otherwise.
    trusted_types = (
        "sklearn._loss.loss.HalfTweedieLoss",
        "sklearn._loss.loss.HalfTweedieLossIdentity",
    )

    def build(self, spec: ModelSpec) -> Pipeline:
        """Column transformer + TweedieRegressor, unfitted."""
        from sklearn.linear_model import TweedieRegressor

        from driftline.tasks import task_for

        power = float(getattr(task_for(spec.model).options, "deviance_power", 0.0))
        defaults = {"power": power, "link": "auto", "alpha": 1e-4, "max_iter": 1000}
        return with_params(spec, scaled_one_hot(spec), TweedieRegressor(), defaults)


TRAINERS.register(LinearRegressionTrainer())

"""Your own training code: ``training.trainer`` as an import path, its alias ``pipeline``,
and what driftline refuses (a trainer that does not import, raises, or returns a model it
cannot score or store; types outside the skops allow-list; flavours the spec does not
allow). No MLflow, no store: :func:`fit_model` on a small simulated frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import ModelError, SpecError
from driftline.lifecycle import flavors
from driftline.lifecycle.training import feature_frame, fit_model, training_frame
from driftline.specs import ModelSpec, parse_spec


def _spec(base: ModelSpec, **training: Any) -> ModelSpec:
    return parse_spec({"model": base.model.model_dump(), "training": training})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    from driftline.devtools.simulate import simulate

    sim = simulate("stable", days=1, rows_per_day=600, seed=4)
    return sim.predictions.merge(sim.labels[["request_id", "purchased_7d"]], on="request_id")


def _fit(spec: ModelSpec, frame: pd.DataFrame) -> flavors.Prepared:
    return fit_model(spec, training_frame(spec, frame))


# -- the spec --------------------------------------------------------------------------------


def test_trainer_takes_a_registered_name_or_an_import_path(spec: ModelSpec) -> None:
    assert _spec(spec, trainer="logistic_regression").training.trainer == "logistic_regression"
    path = "tests.user_trainers:random_forest"
    assert _spec(spec, trainer=path).training.trainer == path
    assert _spec(spec, pipeline="logistic_regression").training.trainer == "logistic_regression"
    with pytest.raises(SpecError, match=r"training\.pipeline is its old name"):
        _spec(spec, trainer="logistic_regression", pipeline="logistic_regression")
    with pytest.raises(SpecError, match=r"or give your own function as package\.module:function"):
        _spec(spec, trainer="random_forest")
    with pytest.raises(SpecError, match=r"not an import path of the form package\.module:"):
        _spec(spec, trainer="tests/user_trainers.py:random_forest")


def test_trusted_types_must_be_qualified_data_types(spec: ModelSpec) -> None:
    assert _spec(spec, trusted_types=["sklearn.tree._tree.Tree"]).training.trusted_types
    with pytest.raises(SpecError, match="not fully qualified type names"):
        _spec(spec, trusted_types=["Tree"])
    with pytest.raises(SpecError, match="can run commands or code"):
        _spec(spec, trusted_types=["builtins.eval", "os.system"])


def test_allowed_flavors_are_a_fixed_list(spec: ModelSpec) -> None:
    allowed = _spec(spec, allowed_flavors=["lightgbm", "pickle"]).training.allowed_flavors
    assert allowed == ["lightgbm", "pickle"]
    with pytest.raises(SpecError, match="unknown \\['onnx'\\]; choose from lightgbm"):
        _spec(spec, allowed_flavors=["onnx"])


def test_lightgbm_widens_the_allow_list_only_when_allowed(spec: ModelSpec) -> None:
    plain = flavors.allowed_types(_spec(spec))
    assert "lightgbm.basic.Booster" not in plain
    widened = flavors.allowed_types(
        _spec(spec, allowed_flavors=["lightgbm"], trusted_types=["sklearn.tree._tree.Tree"])
    )
    assert {"lightgbm.basic.Booster", "sklearn.tree._tree.Tree"} <= set(widened)


# -- fitting with the user's function -----------------------------------------------------------


def test_a_user_trainer_receives_the_typed_training_frame_and_the_spec(
    spec: ModelSpec, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.user_trainers as module

    seen: dict[str, Any] = {}

    def spy(rows: pd.DataFrame, given: ModelSpec) -> Any:
        seen["columns"], seen["spec"] = list(rows.columns), given
        seen["dtypes"] = rows.dtypes.to_dict()
        return module.logistic(rows, given)

    monkeypatch.setattr(module, "spy", spy, raising=False)
    own = _spec(spec, trainer="tests.user_trainers:spy")
    prepared = _fit(own, frame)
    assert seen["columns"] == [*spec.model.features.all, spec.model.target]
    assert seen["spec"] is own
    assert all(seen["dtypes"][c] == np.float64 for c in spec.model.features.numerical)
    assert prepared.flavor == "sklearn"
    p = prepared.model.predict_proba(feature_frame(own, frame))[:, 1]
    assert p.shape == (len(frame),) and ((p >= 0) & (p <= 1)).all()


def test_a_random_forest_needs_its_tree_type_trusted(spec: ModelSpec, frame: pd.DataFrame) -> None:
    path = "tests.user_trainers:random_forest"
    with pytest.raises(SpecError) as err:
        _fit(_spec(spec, trainer=path), frame)
    message = str(err.value)
    assert f"the model returned by training.trainer {path!r}" in message
    assert "outside driftline's skops allow-list: ['sklearn.tree._tree.Tree']" in message
    assert "add them to training.trusted_types" in message
    trusted = _spec(spec, trainer=path, trusted_types=["sklearn.tree._tree.Tree"])
    prepared = _fit(trusted, frame)
    assert "sklearn.tree._tree.Tree" in prepared.skops_types


def test_a_lightgbm_model_needs_the_flavour_allowed(spec: ModelSpec, frame: pd.DataFrame) -> None:
    path = "tests.user_trainers:lightgbm_classifier"
    with pytest.raises(SpecError, match="needs the 'lightgbm' flavour"):
        _fit(_spec(spec, trainer=path), frame)
    prepared = _fit(_spec(spec, trainer=path, allowed_flavors=["lightgbm"]), frame)
    assert prepared.flavor == "lightgbm"
    x = feature_frame(spec, frame)
    x.loc[x.index[:3], "channel"] = "carrier_pigeon"  # unseen: missing to LightGBM
    p = prepared.model.predict_proba(x)
    assert p.shape == (len(x), 2) and np.allclose(p.sum(axis=1), 1)


@pytest.mark.parametrize(
    ("function", "error", "message"),
    [
        ("raises", ModelError, "raised ValueError: the feature store is down"),
        ("regression", ModelError, "LinearRegression without `predict_proba`"),
        ("hand_made", ModelError, "is a tests.user_trainers.HandMade; driftline stores"),
        ("missing", SpecError, "module 'tests.user_trainers' has no 'missing'"),
        ("NOT_A_FUNCTION", SpecError, "'NOT_A_FUNCTION' is a int, not a function"),
    ],
)
def test_a_broken_trainer_is_a_clear_error(
    spec: ModelSpec, frame: pd.DataFrame, function: str, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        _fit(_spec(spec, trainer=f"tests.user_trainers:{function}"), frame)


def test_a_trainer_that_does_not_import_says_where_to_install_it(
    spec: ModelSpec, frame: pd.DataFrame
) -> None:
    with pytest.raises(SpecError) as err:
        _fit(_spec(spec, trainer="our_team.models:train"), frame)
    message = str(err.value)
    assert "cannot import 'our_team.models' (ModuleNotFoundError" in message
    assert "the workers that run retrain-model" in message

"""Trainers as a team writes them: plain functions that ``training.trainer`` names by
import path (``tests.user_trainers:random_forest``). Each takes the training frame (the
spec's features, typed, and the target) and the spec, and returns a fitted model."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from driftline.specs import ModelSpec


def random_forest(frame: pd.DataFrame, spec: ModelSpec) -> Pipeline:
    """Ordinal-encoded categories and a random forest: needs sklearn.tree._tree.Tree."""
    f = spec.model.features
    prep = ColumnTransformer(
        [
            ("num", SimpleImputer(), f.numerical),
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                f.categorical,
            ),
        ]
    )
    forest = RandomForestClassifier(
        n_estimators=30, min_samples_leaf=20, random_state=spec.training.random_state, n_jobs=1
    )
    model = Pipeline([("prep", prep), ("forest", forest)])
    return model.fit(frame[f.all], frame[spec.model.target])


def logistic(frame: pd.DataFrame, spec: ModelSpec) -> Pipeline:
    """Scaled numbers, one-hot categories, logistic regression (no extra skops types)."""
    f = spec.model.features
    prep = ColumnTransformer(
        [
            (
                "num",
                Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                f.numerical,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                f.categorical,
            ),
        ]
    )
    model = Pipeline([("prep", prep), ("classifier", LogisticRegression(max_iter=1000))])
    return model.fit(frame[f.all], frame[spec.model.target])


def lightgbm_classifier(frame: pd.DataFrame, spec: ModelSpec) -> Any:
    """LightGBM on pandas categories (driftline scores it with the categories it learned)."""
    import lightgbm

    f = spec.model.features
    x = frame[f.all].copy()
    for column in f.categorical:
        x[column] = x[column].astype("category")
    model = lightgbm.LGBMClassifier(
        n_estimators=60, learning_rate=0.1, num_leaves=15, n_jobs=1, verbose=-1
    )
    return model.fit(x, frame[spec.model.target])


def raises(frame: pd.DataFrame, spec: ModelSpec) -> Any:
    raise ValueError("the feature store is down")


def regression(frame: pd.DataFrame, spec: ModelSpec) -> Any:
    """A fitted model without predict_proba."""
    f = spec.model.features
    return LinearRegression().fit(frame[f.numerical].fillna(0), frame[spec.model.target])


class HandMade:
    """Has predict_proba, but is no scikit-learn estimator."""

    def predict_proba(self, x: pd.DataFrame) -> Any:
        import numpy as np

        return np.full((len(x), 2), 0.5)


def hand_made(frame: pd.DataFrame, spec: ModelSpec) -> Any:
    return HandMade()


NOT_A_FUNCTION = 42

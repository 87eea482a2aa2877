"""The domain-classifier check: a joint shift no single column shows, and quiet when
nothing moved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.monitoring.check import compare_frames
from driftline.monitoring.multivariate import domain_classifier_drift
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.policy import decide_action
from driftline.specs import MultivariateDrift, load_spec
from tests.simdata import baseline_from, scenario, window

SPECS = Path(__file__).resolve().parents[2] / "monitors"
COLUMNS = {"a": "numerical", "b": "numerical", "c": "categorical"}
SETTINGS = MultivariateDrift(enabled=True, sample_size=1500, folds=4)


def _pairs(n: int, rho: float, seed: int) -> pd.DataFrame:
    """Two standard normal columns with correlation ``rho`` and an unrelated category
    (half ``u``, half ``v``: the same in every sample)."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    c = rng.permutation(np.repeat(["u", "v"], n - n // 2)[:n])
    return pd.DataFrame({"a": x, "b": rho * x + np.sqrt(1 - rho**2) * z, "c": c})


def test_a_flipped_correlation_is_found_though_no_column_moved() -> None:
    reference, current = _pairs(3000, 0.8, 1), _pairs(3000, -0.8, 2)
    per_column = compare_frames(
        reference, current, DriftPlan.from_columns(COLUMNS).with_engine("scipy")
    )
    assert not per_column.drifted_columns  # every marginal is the same
    joint = domain_classifier_drift(reference, current, COLUMNS, SETTINGS)
    assert joint.drifted and joint.auc > 0.75
    assert {n for n, _ in joint.top_features[:2]} == {"a", "b"}
    assert all(v > 0 for _, v in joint.top_features)  # noise is never "separating"
    assert (joint.rows_reference, joint.rows_current) == (1500, 1500)


def test_the_same_joint_distribution_stays_quiet() -> None:
    joint = domain_classifier_drift(_pairs(3000, 0.8, 1), _pairs(3000, 0.8, 2), COLUMNS, SETTINGS)
    assert not joint.drifted and abs(joint.auc - 0.5) < 0.04


def test_stable_simulator_window_stays_quiet_and_the_policy_says_so() -> None:
    spec = load_spec(SPECS / "purchase_propensity.yaml")
    sim = scenario("stable")
    reference = baseline_from(sim, spec).reference
    joint = domain_classifier_drift(reference, window(sim, 8), spec.column_types, SETTINGS)
    assert not joint.drifted, joint
    shifted = scenario("channel_shift")
    moved = domain_classifier_drift(
        baseline_from(shifted, spec).reference, window(shifted, 8), spec.column_types, SETTINGS
    )
    assert moved.drifted and moved.top_features[0][0] == "channel"
    plan = DriftPlan.from_columns(spec.column_types).with_engine("scipy")
    result = compare_frames(reference, window(sim, 8), plan)
    end = datetime(2026, 9, 10, tzinfo=UTC)
    flagged = decide_action(replace(result, multivariate=moved), spec, [], window_end=end)
    assert flagged.input_drift and "multivariate_drift" in flagged.triggers
    assert any("ROC AUC" in r and "channel" in r for r in flagged.reasons)
    quiet = decide_action(replace(result, multivariate=joint), spec, [], window_end=end)
    assert "multivariate_drift" not in quiet.triggers
    assert any(r.startswith("no multivariate drift") for r in quiet.reasons)


def test_too_few_rows_is_a_data_error() -> None:
    with pytest.raises(DataError, match="at least 8 rows"):
        domain_classifier_drift(_pairs(5, 0.1, 1), _pairs(50, 0.1, 2), COLUMNS, SETTINGS)

"""Training windows, pipelines, spec sections and baseline building (no MLflow, no store)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.config.errors import SpecError
from driftline.data.windows import plan_windows
from driftline.lifecycle.baseline import build_baseline, column_stats, stratified_sample
from driftline.lifecycle.training import build_pipeline, feature_frame, threads, training_frame
from driftline.specs import ModelSpec, parse_spec


def test_windows_leave_labels_time_to_mature_and_keep_a_holdout(spec: ModelSpec) -> None:
    w = plan_windows(spec, pd.Timestamp("2026-10-30 12:00"))
    assert w.as_of == pd.Timestamp("2026-10-30 12:00", tz="UTC")
    assert w.holdout_end == w.as_of - pd.Timedelta(days=spec.model.label_delay_days)
    assert w.holdout_end - w.holdout_start == pd.Timedelta(days=spec.training.holdout_days)
    assert w.train_end == w.holdout_start
    assert w.train_end - w.train_start == pd.Timedelta(days=spec.training.lookback_days)


def test_existing_specs_without_lifecycle_sections_still_validate(spec: ModelSpec) -> None:
    bare = parse_spec({"model": spec.model.model_dump()})
    assert bare.training.trainer == "hist_gradient_boosting"
    assert bare.promotion.primary_metric == "roc_auc"
    assert bare.promotion.manual_approval is False


def test_a_typo_in_the_promotion_section_names_the_allowed_keys(spec: ModelSpec) -> None:
    data = {"model": spec.model.model_dump(), "promotion": {"min_improvment": 0.01}}
    with pytest.raises(SpecError, match=r"promotion\.min_improvment: unknown key") as err:
        parse_spec(data)
    assert "min_improvement" in str(err.value)


def test_out_of_range_gate_values_are_rejected(spec: ModelSpec) -> None:
    data = {"model": spec.model.model_dump(), "training": {"validation_fraction": 0.7}}
    with pytest.raises(SpecError, match=r"training\.validation_fraction"):
        parse_spec(data)


def test_repository_spec_documents_every_lifecycle_key(spec: ModelSpec) -> None:
    data = yaml.safe_load(spec.path.read_text())
    assert set(data["training"]) == set(type(spec.training).model_fields)
    assert set(data["promotion"]) == set(type(spec.promotion).model_fields)


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    from driftline.devtools.simulate import simulate

    sim = simulate("stable", days=1, rows_per_day=n, seed=seed)
    frame = sim.predictions.merge(sim.labels[["request_id", "purchased_7d"]], on="request_id")
    frame["entity_key"] = [f"k{i}" for i in range(len(frame))]
    frame.loc[rng.random(len(frame)) < 0.05, "avg_order_value"] = np.nan
    return frame


@pytest.mark.parametrize("trainer", ["hist_gradient_boosting", "logistic_regression"])
def test_both_pipelines_fit_with_missing_values_and_unseen_categories(
    spec: ModelSpec, trainer: str
) -> None:
    spec = spec.model_copy(
        update={"training": spec.training.model_copy(update={"trainer": trainer})}
    )
    frame = _frame()
    model = build_pipeline(spec).fit(feature_frame(spec, frame), frame["purchased_7d"])
    later = feature_frame(spec, _frame(seed=1))
    later.loc[later.index[:3], "channel"] = "carrier_pigeon"
    later.loc[later.index[3:6], "device"] = np.nan
    p = model.predict_proba(later)[:, 1]
    assert p.shape == (len(later),) and np.isfinite(p).all()


def test_unknown_hyperparameters_are_a_spec_error(spec: ModelSpec) -> None:
    spec = spec.model_copy(
        update={"training": spec.training.model_copy(update={"params": {"max_itr": 5}})}
    )
    with pytest.raises(SpecError, match=r"training\.params"):
        build_pipeline(spec)


def test_baseline_holds_no_identifiers_and_keeps_strata(spec: ModelSpec) -> None:
    frame = _frame(3000)
    scores = np.linspace(0, 1, len(frame))
    baseline = build_baseline(spec, frame, scores, {"roc_auc": 0.7}, sample_size=500)
    m = spec.model
    assert list(baseline.reference.columns) == [*m.features.all, m.prediction]
    assert len(baseline.reference) <= 500
    for banned in ("entity_key", m.entity_id, m.request_id, m.timestamp, m.consent, m.target):
        assert banned not in baseline.reference.columns
    shares = frame["channel"].value_counts(normalize=True)
    sampled = baseline.reference["channel"].value_counts(normalize=True)
    assert (sampled - shares).abs().max() < 0.03
    missing = int(frame["avg_order_value"].isna().sum())
    assert baseline.stats["avg_order_value"]["missing"] == missing
    assert baseline.stats[m.prediction]["range_hi"] >= frame_scores_max(baseline)
    assert baseline.schema["channel"] == "categorical"


def test_baseline_keeps_each_sampled_rows_pseudonym_apart(spec: ModelSpec) -> None:
    frame = _frame(3000)
    baseline = build_baseline(spec, frame, np.linspace(0, 1, len(frame)), {}, sample_size=500)
    assert baseline.entity_keys is not None
    assert len(baseline.entity_keys) == len(baseline.reference)
    # Each key belongs to its row: the sampled rows are found again by their pseudonym.
    by_key = frame.set_index("entity_key")
    sampled = by_key.loc[list(baseline.entity_keys), "recency_days"].to_numpy()
    assert np.array_equal(sampled, baseline.reference["recency_days"].to_numpy(), equal_nan=True)
    without = build_baseline(spec, frame.drop(columns="entity_key"), np.zeros(len(frame)), {})
    assert without.entity_keys is None


def test_training_hides_categories_few_customers_hold(spec: ModelSpec) -> None:
    frame = _frame(600)
    frame.loc[frame.index[:40], "channel"] = "mine"  # 40 rows of one customer
    frame.loc[frame.index[:40], "entity_key"] = "one"
    frame.loc[frame.index[40:45], "channel"] = "five"  # 5 customers: a group
    seen = training_frame(spec, frame)["channel"]
    assert seen.iloc[:40].isna().all() and (seen.iloc[40:45] == "five").all()
    assert seen.iloc[45:].notna().all()
    kept = training_frame(spec, frame.drop(columns="entity_key"))["channel"]  # no pseudonyms
    assert (kept.iloc[:40] == "mine").all()


def test_stratified_sample_keeps_small_frames_whole_and_bounds_large_ones() -> None:
    small = pd.DataFrame({"y": [0, 1] * 5, "s": list("ab") * 5})
    assert len(stratified_sample(small, [small["y"], small["s"]], 100)) == 10
    big = pd.DataFrame({"y": ([1] + [0] * 9) * 1000, "s": list("abcde") * 2000})
    sample = stratified_sample(big, [big["y"], big["s"]], 1000)
    assert len(sample) <= 1000
    assert sample["y"].mean() == pytest.approx(0.1, abs=0.01)


def frame_scores_max(baseline) -> float:  # type: ignore[no-untyped-def]
    return float(baseline.reference[list(baseline.schema)[-1]].max())


def test_column_stats_by_type() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0], "c": ["a", "a", "b", None]})
    stats = column_stats(frame, {"x": "numerical", "c": "categorical"})
    assert stats["x"]["count"] == 3 and stats["x"]["missing"] == 1
    assert stats["x"]["mean"] == pytest.approx(7 / 3)
    assert stats["c"]["distinct"] == 2
    assert stats["c"]["top"] is None  # two rows: too few to name the category


def test_column_stats_expose_no_single_value() -> None:
    """A customer's extreme value is not in the statistics: the range is rounded outward,
    quantiles to 3 significant digits, a rare category is not named."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(50, 5, 400), [4242.123456] * 3])
    c = ["web"] * 395 + ["app"] * 5 + ["sentinel-only"] * 3
    stats = column_stats(pd.DataFrame({"x": x, "c": c}), {"x": "numerical", "c": "categorical"})
    text = repr(stats)
    assert "4242.12" not in text and "sentinel-only" not in text
    assert stats["x"]["range_hi"] == 4300.0 and stats["x"]["range_lo"] <= x.min()
    assert "min" not in stats["x"] and "max" not in stats["x"]
    assert stats["c"]["top"] == "web" and stats["c"]["distinct"] == 3


def test_n_threads_limits_openmp_only_inside_training(spec: ModelSpec) -> None:
    from threadpoolctl import threadpool_info

    def openmp() -> set[int]:
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"}

    limited = spec.model_copy(
        update={"training": spec.training.model_copy(update={"n_threads": 1})}
    )
    unlimited = spec.model_copy(
        update={"training": spec.training.model_copy(update={"n_threads": None})}
    )
    build_pipeline(spec)  # scikit-learn's OpenMP runtime is loaded
    before = openmp()
    with threads(limited):
        assert openmp() == {1}
    assert openmp() == before
    with threads(unlimited):
        assert openmp() == before

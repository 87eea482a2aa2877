"""The drift check on simulator scenarios, its input validation, and its report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import BaselineError, DataError
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.check import check_drift, compare_frames
from driftline.monitoring.engines.evidently import METHODS, EvidentlyEngine
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.results import DriftResult
from driftline.specs import ModelSpec, load_spec, parse_spec
from tests.simdata import (
    baseline_from,
    event_columns,
    event_start,
    labelled,
    scenario,
    window,
)

SPEC_FILE = Path(__file__).resolve().parents[2] / "monitors" / "purchase_propensity.yaml"


@pytest.fixture(scope="module")
def mspec() -> ModelSpec:
    return load_spec(SPEC_FILE)


def _check(name: str, spec: ModelSpec, day: int, **kw: object) -> DriftResult:
    sim = scenario(name)
    return check_drift(window(sim, day), baseline_from(sim, spec), spec, **kw)  # type: ignore[arg-type]


def test_stable_windows_stay_quiet(mspec: ModelSpec) -> None:
    for day in (4, 8):
        result = _check("stable", mspec, day)
        assert result.drifted_columns == []
        assert not result.dataset_drift
        assert not result.prediction_drift
        assert result.quality == ()
        assert result.rows_current == len(window(scenario("stable"), day))


def test_flash_sale_flags_the_sale_columns(mspec: ModelSpec) -> None:
    sim = scenario("flash_sale")
    result = _check("flash_sale", mspec, event_start(sim))
    assert result.dataset_drift
    assert "discount_share" in result.drifted_columns
    assert set(result.drifted_columns) <= event_columns(sim)
    after = _check("flash_sale", mspec, 9)  # the sale ended on day 8
    assert after.drifted_columns == []


def test_channel_shift_flags_channel_and_its_newcomers(mspec: ModelSpec) -> None:
    sim = scenario("channel_shift")
    result = _check("channel_shift", mspec, 9)
    assert "channel" in result.drifted_columns
    # Newcomers also have fewer sessions: the simulator draws sessions_7d from the
    # customer type, so it moves with the shift although the timeline does not list it.
    assert set(result.drifted_columns) <= event_columns(sim) | {"sessions_7d"}
    assert {"email_open_rate", "top_category", "discount_share"}.isdisjoint(result.drifted_columns)


def test_pipeline_bug_flags_exactly_the_broken_columns(mspec: ModelSpec) -> None:
    sim = scenario("pipeline_bug")
    result = _check("pipeline_bug", mspec, event_start(sim))
    assert set(result.drifted_columns) == event_columns(sim)
    empty = result.column("avg_order_value")
    assert (empty.method, empty.score, empty.missing_share) == ("all_missing", 1.0, 1.0)
    rules = {(q.column, q.rule) for q in result.quality}
    assert rules == {("avg_order_value", "missing_share"), ("pages_per_session", "out_of_range")}


def test_concept_drift_shows_in_realized_performance_not_inputs(mspec: ModelSpec) -> None:
    sim = scenario("concept_drift")
    start = event_start(sim)
    result = check_drift(
        window(sim, start + 2),
        baseline_from(sim, mspec),
        mspec,
        labelled=labelled(sim, start, start + 2),
    )
    assert not result.dataset_drift
    perf = result.performance
    assert perf is not None and perf.labelled_rows > 3000
    assert perf.drop("roc_auc") > 0.08
    before = check_drift(
        window(sim, 4), baseline_from(sim, mspec), mspec, labelled=labelled(sim, 3, 4)
    )
    assert before.performance is not None
    assert abs(before.performance.drop("roc_auc")) < 0.03


def test_spec_methods_and_thresholds_are_used(mspec: ModelSpec) -> None:
    data = mspec.model_dump(exclude={"source"})
    data["monitoring"] = {
        "drift": {
            "numerical": {"method": "ks", "threshold": 0.01},
            "columns": {"channel": {"method": "psi", "threshold": 0.3}},
        },
        "prediction_drift": {"method": "psi", "threshold": 0.25},
    }
    spec = parse_spec(data)
    result = _check("stable", spec, 4)
    recency = result.column("recency_days")
    assert (recency.method, recency.threshold, recency.p_value) == ("ks", 0.01, True)
    assert 0.0 <= recency.score <= 1.0
    channel = result.column("channel")
    assert (channel.method, channel.threshold) == ("psi", 0.3)
    assert result.prediction is not None
    assert (result.prediction.method, result.prediction.threshold) == ("psi", 0.25)


def test_disabled_prediction_drift_leaves_the_score_out(mspec: ModelSpec) -> None:
    data = mspec.model_dump(exclude={"source"})
    data["monitoring"] = {"prediction_drift": {"enabled": False}}
    result = _check("stable", parse_spec(data), 4)
    assert result.prediction is None
    assert "score" not in [c.name for c in result.columns]


def test_unseen_categories_and_ranges_are_reported() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)})
    cur = pd.DataFrame({"x": rng.normal(size=1000) * 3, "c": ["a"] * 900 + ["zz"] * 100})
    plan = DriftPlan(columns={"x": "numerical", "c": "categorical"})
    result = compare_frames(ref, cur, plan)
    found = {q.rule: q for q in result.quality}
    assert found["unseen_categories"].column == "c"
    assert found["unseen_categories"].share == pytest.approx(0.1)
    assert "'zz' (100)" in found["unseen_categories"].detail
    assert found["out_of_range"].column == "x"
    assert found["out_of_range"].share > 0.1


def test_findings_name_no_single_customers_value() -> None:
    """With the pseudonyms of a store window, an unseen category fewer than 5 customers
    sent is counted, not named, and an out-of-range finding shows no window extreme."""
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)})
    cur = pd.DataFrame(
        {
            "x": [*rng.normal(size=960), *[987654.321] * 40],
            "c": ["a"] * 860 + ["many"] * 100 + ["mine"] * 40,
            "entity_key": [f"k{i}" for i in range(960)] + ["sentinel"] * 40,
        }
    )
    plan = DriftPlan(columns={"x": "numerical", "c": "categorical"})
    found = {q.rule: q for q in compare_frames(ref, cur, plan).quality}
    unseen = found["unseen_categories"].detail
    assert "'many' (100)" in unseen and "mine" not in unseen
    assert "1 more, each sent by fewer than 5 customers" in unseen
    assert "987654" not in found["out_of_range"].detail
    assert "0 below, 42 above" in found["out_of_range"].detail  # 40 + 2 normal tails
    named = compare_frames(ref, cur.drop(columns="entity_key"), plan).quality
    assert "'mine' (40)" in {q.rule: q for q in named}["unseen_categories"].detail  # a file


def test_contract_shape() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)})
    cur = pd.DataFrame({"x": rng.normal(size=400) + 2, "c": rng.choice(["a", "b"], 400)})
    result = compare_frames(ref, cur, DriftPlan(columns={"x": "numerical", "c": "categorical"}))
    out = result.to_contract()
    assert set(out) == {"dataset_drift", "drift_share", "rows", "columns", "quality", "notes"}
    assert out["rows"] == {"reference": 500, "current": 400}
    assert out["drift_share"] == 0.5 and out["dataset_drift"] is True
    x = out["columns"][0]
    assert set(x) == {"name", "type", "method", "score", "threshold", "drifted"}
    assert (x["name"], x["type"], x["method"], x["drifted"]) == ("x", "numerical", "ks", True)


# -- bad input -----------------------------------------------------------------------------


def test_window_missing_a_feature_is_a_data_error(mspec: ModelSpec) -> None:
    sim = scenario("stable")
    current = window(sim, 4).drop(columns=["channel"])
    with pytest.raises(DataError, match=r"window: missing columns \['channel'\]"):
        check_drift(current, baseline_from(sim, mspec), mspec)


def test_empty_window_is_a_data_error(mspec: ModelSpec) -> None:
    sim = scenario("stable")
    with pytest.raises(DataError, match="no rows"):
        check_drift(window(sim, 4).iloc[0:0], baseline_from(sim, mspec), mspec)


def test_text_in_a_numerical_column_is_a_data_error() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    cur = pd.DataFrame({"x": ["1", "oops", "3"]})
    with pytest.raises(DataError, match=r"'x' is numerical but has 1 non-numeric values \('oops'"):
        compare_frames(ref, cur, DriftPlan(columns={"x": "numerical"}))


def test_baseline_that_does_not_fit_the_spec(mspec: ModelSpec) -> None:
    sim = scenario("stable")
    good = baseline_from(sim, mspec)
    lacking = Baseline(
        model=good.model,
        version="3",
        reference=good.reference.drop(columns=["device"]),
        schema=good.schema,
    )
    with pytest.raises(BaselineError, match=r"version 3 lacks columns \['device'\]"):
        check_drift(window(sim, 4), lacking, mspec)
    retyped = Baseline(
        model=good.model,
        version="4",
        reference=good.reference,
        schema={**good.schema, "device": "numerical"},
    )
    with pytest.raises(BaselineError, match="device: baseline numerical, spec categorical"):
        check_drift(window(sim, 4), retyped, mspec)
    other = Baseline(model="churn", version="1", reference=good.reference, schema=good.schema)
    with pytest.raises(BaselineError, match="belongs to 'churn'"):
        check_drift(window(sim, 4), other, mspec)


# -- report and methods --------------------------------------------------------------------


def test_report_is_saved_and_added_to_the_workspace(mspec: ModelSpec, tmp_path: Path) -> None:
    from evidently.ui.workspace import Workspace

    sim = scenario("concept_drift")
    result = check_drift(
        window(sim, 6), baseline_from(sim, mspec), mspec, labelled=labelled(sim, 3, 4)
    )
    assert result.report is not None
    files = result.report.save_html(tmp_path / "reports" / "w.html")
    assert [f.name for f in files] == ["w.html", "w-performance.html"]
    assert all(f.stat().st_size > 10_000 for f in files)
    workspace = Workspace(str(tmp_path / "ws"))
    project = workspace.create_project("purchase_propensity")
    ids = result.report.add_to_workspace(workspace, project.id, "day 6")
    assert len(ids) == 2  # drift and performance
    stored = {str(s) for s in workspace.list_runs(project.id)}
    assert set(ids) <= stored


def test_method_table_matches_evidently() -> None:
    from evidently.legacy.calculations import stattests
    from evidently.legacy.calculations.stattests.registry import StatTest
    from evidently.legacy.core import ColumnType

    tests = [t for t in vars(stattests).values() if isinstance(t, StatTest)]
    tabular = {t.name: t for t in tests if "text" not in {x.value for x in t.allowed_feature_types}}
    kind = {"num": "numerical", "cat": "categorical"}
    assert {n: {kind[x.value] for x in t.allowed_feature_types} for n, t in tabular.items()} == {
        n: set(m.column_types) for n, m in METHODS.items()
    }
    assert {n: t.default_threshold for n, t in tabular.items()} == {
        n: m.threshold for n, m in METHODS.items()
    }
    # The direction of every score, by Evidently's own test on a clear shift: a p-value
    # falls below its threshold, a distance rises to or above it.
    rng = np.random.default_rng(2)
    frames = {
        "numerical": (pd.Series(rng.normal(size=300)), pd.Series(rng.normal(size=300) + 1)),
        "categorical": (
            pd.Series(rng.choice(["a", "b"], 300, p=[0.8, 0.2])),
            pd.Series(rng.choice(["a", "b"], 300, p=[0.3, 0.7])),
        ),
    }
    evidently_type = {"numerical": ColumnType.Numerical, "categorical": ColumnType.Categorical}
    for name, method in METHODS.items():
        for column_type in method.column_types:
            ref, cur = frames[column_type]
            out = tabular[name](ref, cur, evidently_type[column_type], None)
            assert out.drifted, (name, column_type)
            assert (out.drift_score < out.actual_threshold) == method.p_value, name
    # ... and the same through a whole check, where the result carries the engine's fact.
    ref = pd.DataFrame({"x": rng.normal(size=800)})
    cur = pd.DataFrame({"x": rng.normal(size=800) + 1})
    for name in ("ks", "wasserstein"):
        col = compare_frames(
            ref, cur, DriftPlan(columns={"x": "numerical"}, methods={"x": name})
        ).column("x")
        assert col.drifted
        assert col.p_value == METHODS[name].p_value
        assert (col.score < col.threshold) == METHODS[name].p_value


def test_default_methods_match_evidently() -> None:
    from evidently.legacy.calculations.stattests.registry import get_stattest

    engine = EvidentlyEngine()
    for rows in (1000, 1001):
        for distinct in (2, 3, 5, 6):
            for column_type in ("numerical", "categorical"):
                values = pd.Series([str(i % distinct) for i in range(rows)])
                if column_type == "numerical":
                    values = values.astype(float)
                evidently = get_stattest(values, values, column_type[:3], None).name
                picked = engine.default_method(
                    column_type, reference_rows=rows, distinct_values=distinct
                )
                assert picked == evidently, (rows, distinct, column_type)


def test_snapshots_carry_every_metric_the_default_dashboard_plots(mspec: ModelSpec) -> None:
    from driftline.ops.dashboards import (
        GUIDE_PREFIX,
        estimate_snapshot,
        guide_values,
        guides_snapshot,
        load_dashboard,
    )
    from driftline.tasks import TASKS

    dashboard, _ = load_dashboard(SPEC_FILE.parents[1] / "dashboards", mspec.name)
    values = [v for panel in dashboard.panels_for(mspec.model.task) for v in panel.values]
    guides = {
        v.labels["column"] for v in values if v.labels.get("column", "").startswith(GUIDE_PREFIX)
    }
    wanted = {v.metric for v in values if v.labels.get("column") not in guides}
    sim = scenario("stable")
    rows = labelled(sim, 0, 2)  # the estimate panel reads the CBPE estimator's values
    estimator = TASKS.get("binary_classification").fit_estimator(
        mspec.model, rows, {}, rows[mspec.model.target].to_numpy(), rows["score"].to_numpy()
    )
    baseline = replace(baseline_from(sim, mspec), estimator=estimator)
    result = check_drift(window(sim, 5), baseline, mspec, labelled=labelled(sim, 3, 4))
    report = result.report
    assert report is not None
    snapshots = [report._drift, report._performance]  # type: ignore[attr-defined]
    # the per-segment panel reads the snapshot of the segment checks (monitoring.segments)
    from driftline.monitoring.engines import ENGINES
    from driftline.monitoring.plan import DriftPlan
    from driftline.monitoring.segments import SegmentSnapshot, check_segments
    from driftline.specs import SegmentDrift

    segments = check_segments(
        baseline_from(sim, mspec).reference,
        window(sim, 5),
        DriftPlan.from_spec(mspec),
        SegmentDrift(enabled=True, min_rows=200),
        ["device"],
        ENGINES.get("scipy"),
    )
    snapshots.append(SegmentSnapshot(segments, None).snapshot())
    estimated = estimate_snapshot(result, timestamp=None)
    snapshots.append(estimated)
    found = {m["config"]["type"].rsplit(":", 1)[-1] for s in snapshots for m in s.dict()["metrics"]}
    assert wanted <= found, f"missing for the dashboard: {sorted(wanted - found)}"
    # the reference lines and promotion markers come from the run's guides snapshot
    validation = {"roc_auc": 0.8, "pr_auc": 0.4}
    values = guide_values(mspec, validation, promoted=False)
    snapshot = guides_snapshot(values, None, [])
    stored = {m["config"]["column"]: m["value"] for m in snapshot.dict()["metrics"]}
    assert guides and guides <= set(stored), f"no guide for: {sorted(guides - set(stored))}"
    assert stored == pytest.approx(values)
    # carriers of values hold no plots (a histogram of one row made them 45x larger)
    for carrier in (snapshot, estimated):
        assert carrier is not None and not _plots(carrier.dump_dict())


def _plots(node: object) -> list[object]:
    """The plotly figures (dicts with ``data`` and ``layout``) anywhere in ``node``."""
    if isinstance(node, dict):
        found = [node] if {"data", "layout"} <= node.keys() else []
        return found + [p for v in node.values() for p in _plots(v)]
    if isinstance(node, list):
        return [p for v in node for p in _plots(v)]
    return []


def test_realized_performance_does_not_need_prediction_drift(mspec: ModelSpec) -> None:
    data = mspec.model_dump(exclude={"source"}, mode="json")
    data["monitoring"]["prediction_drift"] = {"enabled": False}
    spec = parse_spec(data)
    sim = scenario("stable")
    result = check_drift(window(sim, 5), baseline_from(sim, spec), spec, labelled=labelled(sim, 3))
    assert result.prediction is None
    assert result.performance is not None and set(result.performance.metrics) == {
        "roc_auc",
        "pr_auc",
    }


def test_a_rounded_two_valued_score_is_tested_as_a_number_and_does_not_drift() -> None:
    """A model with two leaves scores two values; the serving app logs them rounded to 5
    decimals. Tested as a category, each rounded value is a category the reference never
    had (every window drifted); tested as a number, rounding moves nothing."""
    rng = np.random.default_rng(4)
    leaves = np.array([0.123456789, 0.876543211])

    def frame(rows: int, rounded: bool) -> pd.DataFrame:
        score = leaves[(rng.random(rows) < 0.3).astype(int)]
        return pd.DataFrame(
            {"x": rng.normal(0, 1, rows), "score": score.round(5) if rounded else score}
        )

    plan = DriftPlan(columns={"x": "numerical"}, prediction="score")
    result = compare_frames(frame(3000, rounded=False), frame(3000, rounded=True), plan)
    assert result.prediction is not None
    assert result.prediction.method == "wasserstein"
    assert not result.prediction.drifted, result.prediction
    small = compare_frames(frame(800, rounded=False), frame(800, rounded=False), plan)
    assert small.prediction is not None and small.prediction.method == "ks"
    # a real move of the score still drifts
    moved = frame(3000, rounded=True)
    moved["score"] = np.where(rng.random(3000) < 0.6, leaves[1], leaves[0]).round(5)
    shifted = compare_frames(frame(3000, rounded=False), moved, plan)
    assert shifted.prediction is not None and shifted.prediction.drifted

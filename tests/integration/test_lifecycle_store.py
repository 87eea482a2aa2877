"""Lifecycle tables and the training-set query on SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.data.windows import data_clock, usable_rows
from driftline.devtools.simulate import simulate
from driftline.lifecycle import audit
from driftline.lifecycle.benchmark import latest_benchmark, record_benchmark
from driftline.lifecycle.results import BenchmarkResult, ModelScore, SegmentScore
from driftline.specs import ModelSpec


def _result(challenger: str, champion: str | None, diff: float | None) -> BenchmarkResult:
    metrics = {"roc_auc": 0.7, "pr_auc": 0.3, "log_loss": 0.4, "brier": 0.12, "ece": 0.02}
    return BenchmarkResult(
        model="purchase_propensity",
        window_start="2026-10-01T00:00:00+00:00",
        window_end="2026-10-08T00:00:00+00:00",
        rows=1000,
        positives=150,
        primary_metric="roc_auc",
        challenger=ModelScore(challenger, metrics, 1e5, 123),
        champion=ModelScore(champion, metrics, 1e5, 100) if champion else None,
        diff=diff,
        ci_low=None if diff is None else diff - 0.01,
        ci_high=None if diff is None else diff + 0.01,
        confidence=0.95,
        bootstrap_samples=100,
        segments=[SegmentScore("channel", "email", 100, 10, metrics, metrics)],
        mlflow_run_id="run-1",
    )


def test_benchmarks_are_stored_and_found_by_exact_pair(store: Store) -> None:
    first = record_benchmark(store, _result("1", None, None))
    older = record_benchmark(store, _result("2", "1", 0.01))
    newer = record_benchmark(store, _result("2", "1", 0.03))
    assert first < older < newer
    found = latest_benchmark(store, "purchase_propensity", "2", "1")
    assert found is not None and found.benchmark_id == newer and found.diff == pytest.approx(0.03)
    assert found.segments[0].value == "email" and found.champion.size_bytes == 100
    bootstrap = latest_benchmark(store, "purchase_propensity", "1", None)
    assert bootstrap is not None and bootstrap.champion is None
    assert latest_benchmark(store, "purchase_propensity", "3", "2") is None


def test_decisions_are_appended_and_read_newest_first(store: Store) -> None:
    audit.record_decision(
        store,
        model="purchase_propensity",
        action="promote",
        outcome="promoted",
        triggered_by="cli:alice",
        reason="first",
        challenger_version="1",
        champion_after="1",
        gate_report={"gates": [{"name": "floor", "status": "passed"}]},
    )
    audit.record_decision(
        store,
        model="purchase_propensity",
        action="rollback",
        outcome="failed",
        triggered_by="cli:bob",
        reason="second",
        champion_before="2",
        champion_after="2",
        error="ConnectionError: gone",
    )
    audit.record_decision(
        store, model="other", action="promote", outcome="rejected", triggered_by="x", reason="-"
    )
    rows = audit.recent_decisions(store, "purchase_propensity")
    assert [r.reason for r in rows] == ["second", "first"]
    assert rows[0].error == "ConnectionError: gone" and rows[0].gate_report is None
    assert rows[1].gate_report["gates"][0]["name"] == "floor"
    assert rows[1].created_at.tzinfo is not None


def test_training_rows_are_labelled_consenting_and_deduplicated(
    store: Store, spec: ModelSpec
) -> None:
    sim = simulate("stable", days=2, rows_per_day=300, seed=5)
    predictions = sim.predictions.copy()
    # A retried request: same customer, time and features under a new request id.
    repeat = predictions.iloc[[0]].assign(request_id="retry-of-first")
    predictions = pd.concat([predictions, repeat], ignore_index=True)
    pseudo = Pseudonymizer(b"s" * 32)
    ingest.log_predictions(store, spec, predictions, pseudo)
    labelled = sim.labels.iloc[: len(sim.labels) // 2]
    labelled = pd.concat([labelled, labelled.iloc[[0]].assign(request_id="retry-of-first")])
    ingest.log_labels(store, spec, labelled)
    frame, counts = usable_rows(store, spec, None, data_clock(store, spec))
    consenting = predictions[predictions["consent_analytics"]]
    assert counts["read"] == len(consenting)
    expected = consenting["request_id"].isin(labelled["request_id"]).sum()
    assert counts["unlabelled"] == len(consenting) - expected
    assert counts["duplicates"] == int(bool(predictions.iloc[0]["consent_analytics"]))
    assert counts["rows"] == len(frame)
    assert set(frame["request_id"]) <= set(consenting["request_id"])
    assert frame["purchased_7d"].isin([0, 1]).all()
    assert frame["event_ts"].is_monotonic_increasing

"""Pictures of a benchmark: each task draws its own, every one a real PNG, and a picture
that cannot be drawn never fails the benchmark."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from driftline.lifecycle import benchmark as bench
from driftline.lifecycle.results import BenchmarkResult, ModelScore, SegmentScore
from driftline.tasks import TASKS
from driftline.tasks.figures import literal
from tests.lifecycle_data import assert_png

RNG = np.random.default_rng(7)


def _result(task: str, segments: list[SegmentScore]) -> BenchmarkResult:
    score = ModelScore(version="2", metrics={}, rows_per_second=1.0, size_bytes=1)
    champion = ModelScore(version="1", metrics={}, rows_per_second=1.0, size_bytes=1)
    return BenchmarkResult(
        model="m",
        window_start="2026-01-01T00:00:00+00:00",
        window_end="2026-01-02T00:00:00+00:00",
        rows=600,
        positives=0,
        primary_metric="roc_auc_macro",
        challenger=score,
        champion=champion,
        segments=segments,
        task=task,
    )


def test_multiclass_draws_one_vs_rest_curves_calibration_and_segment_bars() -> None:
    task = TASKS.get("multiclass_classification").configure({"classes": ["a", "b", "c"]})
    y = RNG.integers(0, 3, 600)
    good = RNG.dirichlet([1, 1, 1], 600)
    good[np.arange(600), y] += 1.0
    segment = SegmentScore(
        "channel", "$x$ </script>", 600, 100, {"roc_auc_macro": 0.8}, {"roc_auc_macro": 0.6}
    )
    pictures = bench._figures(
        task, _result(task.name, [segment]), y, good, RNG.dirichlet([1, 1, 1], 600)
    )
    assert [p.name for p in pictures] == ["roc", "pr", "calibration", "segments"]
    for picture in pictures:
        assert_png(picture.png)


def test_a_picture_that_cannot_be_drawn_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = TASKS.get("binary_classification")
    y = np.zeros(50)  # one class: no ROC curve
    with caplog.at_level(logging.WARNING):
        pictures = bench._figures(task, _result(task.name, []), y, RNG.random(50), None)
    assert pictures == []
    assert "pictures not drawn" in caplog.text
    # a diverged model (NaN scores) is left out of the pictures, the other still drawn
    y = RNG.integers(0, 2, 200)
    scores = bench._figures(task, _result(task.name, []), y, np.full(200, np.nan), RNG.random(200))
    assert [p.name for p in scores] == ["roc", "pr", "calibration"]


def test_labels_from_data_are_drawn_literally() -> None:
    assert literal("$\\alpha$") == "\\$\\alpha\\$"
    assert literal("x" * 40) == "x" * 27 + "…"
    assert literal("a\nb") == "a b"

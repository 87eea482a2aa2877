"""Segment and multivariate drift checks: what they cost a monitor run, and what false
discovery control changes.

Segment checks: one window of the simulator's ``channel_shift`` (day 7, 2000 rows a day,
reference days 0-2) checked per channel value with the built-in ``scipy`` engine (the
default of ``monitoring.segments.engine``) and with the ``evidently`` engine (its p-value
methods ks / chisquare), both through :func:`driftline.monitoring.segments.check_segments`;
printed: seconds each and the ratio. False discoveries: over the ``stable`` scenario's days
3-9, segment columns whose raw p-value is below 0.05 (what testing without control
flags) against those flagged after Benjamini-Hochberg.

Multivariate: the domain classifier (``sample_size`` 2000 a side, 5 folds, one thread) on
the same window, against one per-column pass of the scipy engine over the whole window.

    .venv/bin/python bench/segments.py
"""

from __future__ import annotations

import time
from pathlib import Path

from driftline.devtools.simulate import simulate
from driftline.monitoring.check import compare_frames
from driftline.monitoring.engines import ENGINES
from driftline.monitoring.multivariate import domain_classifier_drift
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.segments import check_segments
from driftline.specs import MultivariateDrift, SegmentDrift, load_spec

ROOT = Path(__file__).resolve().parents[1]


def _day(sim, first: int, last: int):  # type: ignore[no-untyped-def]
    ts = sim.predictions["event_ts"]
    day = (ts.dt.floor("D") - ts.min().floor("D")).dt.days
    return sim.predictions[(day >= first) & (day <= last)].reset_index(drop=True)


def main() -> None:
    spec = load_spec(ROOT / "monitors" / "purchase_propensity.yaml")
    plan = DriftPlan.from_spec(spec)
    shift = simulate("channel_shift", days=10, rows_per_day=2000, seed=11)
    reference, window = _day(shift, 0, 2), _day(shift, 7, 7)
    settings = SegmentDrift(enabled=True, min_rows=200)
    timings = {}
    for name, options in (("scipy", {}), ("evidently", {"categorical_method": "chisquare"})):
        engine = ENGINES.get(name)
        chosen = settings.model_copy(update={"numerical_method": "ks", **options})
        start = time.perf_counter()
        report = check_segments(reference, window, plan, chosen, ["channel"], engine)
        timings[name] = time.perf_counter() - start
        flagged = [s.value for s in report.drifted]
        print(
            f"segments, {name:9s}: {timings[name]:6.2f} s, {len(report.segments)} segments, "
            f"{report.tests} tests, drifted: {flagged}"
        )
    print(f"segments: evidently / scipy time = {timings['evidently'] / timings['scipy']:.1f}x")

    stable = simulate("stable", days=10, rows_per_day=2000, seed=11)
    raw = corrected = tests = 0
    for day in range(3, 10):
        report = check_segments(
            _day(stable, 0, 2),
            _day(stable, day, day),
            plan,
            settings,
            ["channel", "device"],
            ENGINES.get("scipy"),
        )
        tests += report.tests
        raw += sum(c.score < c.threshold for s in report.segments for c in s.columns)
        corrected += sum(len(s.drifted_columns) for s in report.segments)
    print(
        f"stable days 3-9: {tests} segment tests, {raw} raw p<0.05 flags, "
        f"{corrected} after Benjamini-Hochberg"
    )

    start = time.perf_counter()
    joint = domain_classifier_drift(reference, window, spec.column_types, MultivariateDrift())
    classifier = time.perf_counter() - start
    start = time.perf_counter()
    compare_frames(
        reference, window, DriftPlan.from_columns(spec.column_types).with_engine("scipy")
    )
    per_column = time.perf_counter() - start
    print(
        f"multivariate: {classifier:.2f} s (AUC {joint.auc:.3f}, top {joint.top_features[0][0]}); "
        f"per-column scipy pass {per_column:.2f} s; ratio {classifier / per_column:.1f}x"
    )


if __name__ == "__main__":
    main()

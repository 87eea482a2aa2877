"""What the gate pictures and the dashboard guides cost, next to the work they accompany.

1. Gate pictures (``driftline.lifecycle.benchmark._figures``: ROC, PR and calibration of a
   binary champion and challenger, plus per-segment bars) against the rest of a
   benchmark's arithmetic on the same rows: both models' metrics (``task.evaluate``) and
   the paired bootstrap of the primary metric (1,000 resamples, the spec default).
2. Per monitor run: the guides snapshot (``driftline.ops.dashboards.guides_snapshot``) and
   tagging the drift snapshot (``with_labels``: Evidently's dump/load round trip) against
   the Evidently drift report itself (``DataDriftPreset`` on 14 columns).

Each is timed as the best of ``--repeats`` runs; ratios are printed, nothing asserted.

    .venv/bin/python bench/pictures.py                 # 10k and 100k rows
    .venv/bin/python bench/pictures.py --rows 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("DO_NOT_TRACK", "1")


def best(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def pictures(rows: int, repeats: int) -> None:
    from driftline.lifecycle import benchmark as bench
    from driftline.lifecycle.results import BenchmarkResult, ModelScore, SegmentScore
    from driftline.tasks import TASKS

    rng = np.random.default_rng(0)
    task = TASKS.get("binary_classification")
    y = rng.integers(0, 2, rows)
    chal = np.clip(0.35 * y + 0.65 * rng.random(rows), 0, 1)
    champ = np.clip(0.25 * y + 0.75 * rng.random(rows), 0, 1)
    segments = [
        SegmentScore("channel", f"c{i}", rows // 6, rows // 12, {"roc_auc": 0.7}, {"roc_auc": 0.6})
        for i in range(6)
    ]
    score = ModelScore("2", {}, 1.0, 1)
    result = BenchmarkResult(
        "m", "a", "b", rows, 0, "roc_auc", score, ModelScore("1", {}, 1.0, 1), segments=segments
    )

    def arithmetic() -> None:
        task.evaluate(y, chal)
        task.evaluate(y, champ)
        task.paired_bootstrap(
            y, chal, champ, metric="roc_auc", samples=1000, confidence=0.95, seed=0
        )

    drawn = bench._figures(task, result, y, chal, champ)  # warm-up: imports matplotlib
    t_pictures = best(lambda: bench._figures(task, result, y, chal, champ), repeats)
    t_arithmetic = best(arithmetic, repeats)
    size = sum(len(p.png) for p in drawn)
    print(
        f"gate pictures, {rows:>7,} rows: {len(drawn)} PNGs {size / 1e3:6.1f} KB in "
        f"{t_pictures:6.2f} s; metrics + paired bootstrap {t_arithmetic:6.2f} s; "
        f"ratio pictures/arithmetic {t_pictures / t_arithmetic:5.2f}"
    )


def guides(rows: int, repeats: int) -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from driftline.monitoring.engines.evidently import with_labels
    from driftline.ops.dashboards import guides_snapshot

    rng = np.random.default_rng(1)
    columns = [f"x{i}" for i in range(12)]

    def frame(shift: float) -> pd.DataFrame:
        data = pd.DataFrame(rng.normal(shift, 1, (rows, 12)), columns=columns)
        data["channel"] = rng.choice(["web", "app", "email"], rows)
        data["device"] = rng.choice(["ios", "android", "desktop"], rows)
        return data

    definition = DataDefinition(
        numerical_columns=columns, categorical_columns=["channel", "device"]
    )
    current, reference = frame(0.1), frame(0.0)

    def drift() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Report([DataDriftPreset()]).run(
                Dataset.from_pandas(current, data_definition=definition),
                Dataset.from_pandas(reference, data_definition=definition),
                timestamp=datetime(2026, 1, 1),
            )

    values = {
        "guide_drift_share": 0.3,
        "guide_champion_roc_auc": 0.8,
        "guide_limit_roc_auc": 0.75,
        "guide_promoted": 0.0,
    }
    snapshot = drift()
    guides_snapshot(values, datetime(2026, 1, 1), ["m"])  # warm-up
    t_drift = best(drift, repeats)
    t_guides = best(lambda: guides_snapshot(values, datetime(2026, 1, 1), ["m"]), repeats)
    t_tags = best(
        lambda: with_labels(snapshot, ["decision:none", "champion:v1"], {"decision": "none"}),
        repeats,
    )
    print(
        f"monitor run, {rows:>7,} rows: drift report {t_drift:6.2f} s; guides snapshot "
        f"{t_guides:6.3f} s ({t_guides / t_drift:5.1%}); tagging the drift snapshot "
        f"{t_tags:6.3f} s ({t_tags / t_drift:5.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for rows in args.rows:
        pictures(rows, args.repeats)
    for rows in args.rows:
        guides(rows, args.repeats)


if __name__ == "__main__":
    main()

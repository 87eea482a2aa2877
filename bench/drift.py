"""driftline's drift check vs a plain Evidently DataDriftPreset report, same data, one run.

For each size (default 100k and 1M rows, reference and current alike) and 20 numerical
+ 2 categorical columns (a few of them shifted in the current frame), it runs:

  driftline  driftline.monitoring.check.compare_frames: input validation and typing, the
             Evidently report (DataDriftPreset with tests, RowCount, MissingValueCount
             per column), data-quality rules, the typed DriftResult
  plain      Report([DataDriftPreset()]).run(current, reference), as the Evidently
             docs write it

Each case runs in a fresh subprocess so its peak memory (ru_maxrss) is its own; the
data are generated inside it, so "extra" is the peak minus the memory after the frames
exist. Prints seconds, peak and extra memory, and the ratios driftline / plain.

    .venv/bin/python bench/drift.py                 # 100k and 1M rows (minutes)
    .venv/bin/python bench/drift.py --rows 20000    # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

NUMERICAL = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = ["channel", "device"]
SHIFTED = {"num_00": 0.3, "num_01": 0.1, "channel": 0.2}


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; a few columns move in the current one."""
    rng = np.random.default_rng(seed)

    def frame(shift: bool) -> pd.DataFrame:
        data: dict[str, object] = {}
        for name in NUMERICAL:
            data[name] = rng.normal(SHIFTED.get(name, 0.0) if shift else 0.0, 1.0, rows)
        social = 0.1 + (SHIFTED["channel"] if shift else 0.0)
        data["channel"] = np.asarray(["organic", "paid_social", "email", "direct"], dtype=object)[
            rng.choice(4, rows, p=[0.5 - social / 2, social, 0.25, 0.25 - social / 2])
        ]
        data["device"] = np.asarray(["mobile", "desktop", "tablet"], dtype=object)[
            rng.choice(3, rows, p=[0.55, 0.37, 0.08])
        ]
        return pd.DataFrame(data)

    return frame(False), frame(True)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(case: str, rows: int) -> dict[str, object]:
    """Run one case in this (fresh) process and report time and memory."""
    warnings.simplefilter("ignore")
    reference, current = make_frames(rows)
    # Import what each case needs before measuring, so imports do not count.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from driftline.monitoring.check import compare_frames
    from driftline.monitoring.plan import DriftPlan

    before = _rss_mb()
    start = time.perf_counter()
    if case == "driftline":
        columns = {
            **dict.fromkeys(NUMERICAL, "numerical"),
            **dict.fromkeys(CATEGORICAL, "categorical"),
        }
        result = compare_frames(reference, current, DriftPlan(columns=columns))
        drifted = result.drifted_columns
    else:
        definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        # References above 1000 rows get distance methods: drift = score >= threshold.
        drifted = [
            m["config"]["column"]
            for m in snapshot.dict()["metrics"]
            if m["config"]["type"].endswith(":ValueDrift")
            and float(m["value"]) >= float(m["config"]["threshold"])
        ]
    seconds = time.perf_counter() - start
    return {
        "case": case,
        "rows": rows,
        "seconds": seconds,
        "peak_mb": _rss_mb(),
        "extra_mb": _rss_mb() - before,
        "drifted": sorted(drifted),
    }


def run_case(case: str, rows: int) -> dict[str, object]:
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, "--rows", str(rows)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"case {case} at {rows} rows failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="rows per frame"
    )
    parser.add_argument("--child", choices=["driftline", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.rows[0])))
        return
    print(
        f"{len(NUMERICAL)} numerical + {len(CATEGORICAL)} categorical columns; "
        f"reference and current of equal size; shifted: {', '.join(SHIFTED)}"
    )
    header = f"{'rows':>10} {'case':>10} {'seconds':>9} {'peak MB':>9} {'extra MB':>9}  drifted"
    print(header)
    ratios = []
    for rows in args.rows:
        results = {case: run_case(case, rows) for case in ("driftline", "plain")}
        for case, r in results.items():
            print(
                f"{rows:>10,} {case:>10} {r['seconds']:>9.2f} {r['peak_mb']:>9.0f} "
                f"{r['extra_mb']:>9.0f}  {', '.join(r['drifted'])}"  # type: ignore[arg-type]
            )
        d, p = results["driftline"], results["plain"]
        ratios.append(
            (
                rows,
                float(d["seconds"]) / float(p["seconds"]),  # type: ignore[arg-type]
                float(d["peak_mb"]) / float(p["peak_mb"]),  # type: ignore[arg-type]
            )
        )
    print("\nratio driftline / plain (lower is better)")
    for rows, time_ratio, memory_ratio in ratios:
        print(f"{rows:>10,}  time {time_ratio:.2f}x  peak memory {memory_ratio:.2f}x")


if __name__ == "__main__":
    main()

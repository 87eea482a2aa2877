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

Whole processes (issue 16), on Parquet files written first:

    .venv/bin/python bench/drift.py --process --rows 1000000
        `driftline drift check` (engine auto: native at this size) against a plain
        Evidently DataDriftPreset process reading the same files, each under
        /usr/bin/time -v: wall seconds, peak RSS, per-column verdict agreement, ratios.
    .venv/bin/python bench/drift.py --monitor --rows 100000
        monitor runs per hour on one worker: a 100k-row window read from a SQLite store
        table, checked against a 5,000-row baseline sample (the baseline's default size)
        with the spec's default engine (auto), the HTML report written each run; then the
        same window fed as its profile (the JSON a Spark job or PostgreSQL push-down
        writes), checked from it (no rows read, no report), and whether the verdicts agree.
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


#: The `driftline` console script, as a command line for this interpreter.
_CLI = "import sys; from driftline.cli import main; sys.argv[0] = 'driftline'; main()"

_PLAIN = """
import json, sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
num, cat = json.loads(sys.argv[3]), json.loads(sys.argv[4])
reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
drifted = sorted(
    m["config"]["column"] for m in snapshot.dict()["metrics"]
    if m["config"]["type"].endswith(":ValueDrift")
    and float(m["value"]) >= float(m["config"]["threshold"])
)
print(json.dumps(drifted))
"""


def _timed(cmd: list[str]) -> tuple[float, float, float, str]:
    """Run ``cmd`` under /usr/bin/time -v: (wall seconds, peak RSS in MB, CPU seconds
    (user + system), stdout)."""
    env = {**os.environ, "DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:4]} failed:\n{out.stderr[-3000:]}")
    wall = rss = cpu = 0.0
    for line in out.stderr.splitlines():
        line = line.strip()
        if line.startswith(("User time (seconds)", "System time (seconds)")):
            cpu += float(line.rsplit(" ", 1)[-1])
        elif line.startswith("Elapsed (wall clock) time"):
            clock = line.rsplit(" ", 1)[-1].split(":")
            wall = sum(float(v) * 60**i for i, v in enumerate(reversed(clock)))
        elif line.startswith("Maximum resident set size"):
            rss = float(line.rsplit(" ", 1)[-1]) / 1024
    return wall, rss, cpu, out.stdout


def processes(rows: int) -> None:
    """``driftline drift check`` vs a plain DataDriftPreset, whole processes."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        ref_path, cur_path = Path(tmp) / "reference.parquet", Path(tmp) / "current.parquet"
        reference, current = make_frames(rows)
        reference.to_parquet(ref_path, row_group_size=100_000)
        current.to_parquet(cur_path, row_group_size=100_000)
        del reference, current
        out = Path(tmp) / "result.json"
        d_wall, d_rss, d_cpu, _ = _timed(
            [sys.executable, "-c", _CLI, "drift", "check", "--reference",
             str(ref_path), "--current", str(cur_path), "--json", str(out)]
        )  # fmt: skip
        result = json.loads(out.read_text())
        ours = sorted(c["name"] for c in result["columns"] if c["drifted"])
        p_wall, p_rss, p_cpu, stdout = _timed(
            [sys.executable, "-c", _PLAIN, str(ref_path), str(cur_path),
             json.dumps(NUMERICAL), json.dumps(CATEGORICAL)]
        )  # fmt: skip
        theirs = json.loads(stdout.strip().splitlines()[-1])
    print(f"{rows:,} rows x {len(NUMERICAL) + len(CATEGORICAL)} columns, Parquet, whole processes")
    print(f"{'case':>22} {'wall s':>9} {'CPU s':>9} {'peak MB':>9}  drifted")
    print(
        f"{'driftline drift check':>22} {d_wall:>9.2f} {d_cpu:>9.2f} {d_rss:>9.0f}  "
        f"{', '.join(ours)}"
    )
    print(
        f"{'plain DataDriftPreset':>22} {p_wall:>9.2f} {p_cpu:>9.2f} {p_rss:>9.0f}  "
        f"{', '.join(theirs)}"
    )
    columns = NUMERICAL + CATEGORICAL
    same = sum((c in ours) == (c in theirs) for c in columns)
    print(f"verdicts identical on {same}/{len(columns)} columns")
    print(
        f"speed-up {p_wall / d_wall:.1f}x wall, {p_cpu / d_cpu:.1f}x CPU; "
        f"peak memory ratio {d_rss / p_rss:.2f}x"
    )


def monitor_rate(rows: int, runs: int = 3) -> None:
    """Monitor runs per hour at ``rows`` rows per window (see the module docstring)."""
    import sqlite3
    import tempfile
    from pathlib import Path

    from driftline.monitoring.check import compare_frames
    from driftline.monitoring.plan import DriftPlan
    from driftline.monitoring.profilecheck import compare_profiles
    from driftline.monitoring.profiles import profile_frame, read_json, to_json

    warnings.simplefilter("ignore")
    columns = {**dict.fromkeys(NUMERICAL, "numerical"), **dict.fromkeys(CATEGORICAL, "categorical")}
    reference, current = make_frames(rows)
    sample = reference.sample(n=5000, random_state=0)
    plan = DriftPlan(columns=columns)
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "store.db")
        current.to_sql("window", db, index=False)
        times, checks = [], []
        for i in range(runs + 1):
            start = time.perf_counter()
            window = pd.read_sql("SELECT * FROM window", db)
            result = compare_frames(sample, window, plan)
            checked = time.perf_counter()
            if result.report is not None:
                result.report.save_html(Path(tmp) / f"report-{i}.html")
            if i:  # the first run pays the imports
                times.append(time.perf_counter() - start)
                checks.append(checked - start)
        db.close()
    per_run, per_check = float(np.median(times)), float(np.median(checks))
    # the same window fed as its profile (what `profile window --on database` or a Spark
    # job writes): read the JSON, check it against the sample's profile; no rows, no report
    ref_p = profile_frame(sample, columns)
    document = to_json(profile_frame(current, columns, ref_p))
    fed = []
    for _ in range(runs):
        start = time.perf_counter()
        checked_profile = compare_profiles(ref_p, read_json(document).columns, plan).result
        fed.append(time.perf_counter() - start)
    agree = [c.drifted for c in checked_profile.columns] == [c.drifted for c in result.columns]
    per_fed = float(np.median(fed))
    print(
        f"{rows:,}-row window vs a 5,000-row baseline sample, engine {result.engine} "
        f"(median of {runs} runs):\n"
        f"  read + check: {per_check:.2f} s per run, {3600 / per_check:.0f} runs per hour\n"
        f"  read + check + report: {per_run:.2f} s per run, {3600 / per_run:.0f} runs per hour\n"
        f"  fed the window's profile ({len(document) / 1e3:.0f} kB of JSON), read + check: "
        f"{per_fed:.3f} s per run, {3600 / per_fed:.0f} runs per hour; same verdicts: {agree}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="rows per frame"
    )
    parser.add_argument("--child", choices=["driftline", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--process", action="store_true", help="whole processes (issue 16)")
    parser.add_argument("--monitor", action="store_true", help="monitor runs per hour")
    args = parser.parse_args()
    if args.process:
        for rows in args.rows:
            processes(rows)
        return
    if args.monitor:
        for rows in args.rows:
            monitor_rate(rows)
        return
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

"""Monitor runs per hour on one worker, measured on the real monitor run (issue 16).

What production runs each day for each model, at ``--rows`` predictions per daily window:
``driftline.monitoring.monitor.run_monitor`` (the function `driftline monitor run` and the
``monitor-model`` flow call) on a real SQLite store, against a captured baseline, with the
HTML report and the Evidently workspace snapshot on:

  store      the simulator's purchase_propensity (10 numerical + 4 categorical features,
             the score, consent), ``--rows`` a day, logged with model version 1 (as a
             serving app does), labels ingested 7 days after each prediction, for the 14
             days before the monitored ones (so the 7-day labelled performance window
             and the policy's history are full) plus one warm-up day and ``--runs`` days
  baseline   as training captures it (``build_baseline`` + ``capture_estimator``): a
             5,000-row stratified reference sample with its stored column profiles,
             stats, validation metrics and the CBPE estimator, from 3 days of rows
  run        the shipped spec (monitors/purchase_propensity.yaml) with
             ``monitoring.drift.engine`` set per case: ``auto`` (the default: the native
             engine at this size, the report rendered by Evidently from
             ``monitoring.drift.report_sample`` rows) and ``evidently`` (the plain
             alternative: Evidently on every row)

Each engine runs in its own process on its own copy of the store: one warm-up run (it
pays the imports), then ``--runs`` runs, one per day. Printed per case: runs per hour
(from the median run), the median wall and CPU seconds per stage, the warm-up run (what a
run in a fresh process costs: `driftline monitor run` pays it every time) and the peak
RSS; then the ratios. CPU seconds (``time.process_time``) are steadier than wall seconds on a
shared machine.

Stages (the functions of ``driftline.monitoring.monitor`` that are timed):

  read window     read_window: the day's predictions from the store
  read labelled   read_labelled: the matured labelled performance window
  attribution     champion_takeovers, champion_intervals, made_by (window and labelled)
  history         history, champion_since, acknowledged_drift, locate_change, claims
  drift check     check_drift + extra_checks: typing, the engine, quality, realized and
                  estimated performance
  decide          decide_action (the policy)
  report          _publish: the HTML report and the workspace snapshots
  record          record_run
  other           the rest of run_monitor (the total minus the stages above)

    .venv/bin/python bench/monitor_rate.py                  # 100k rows, 5 runs per engine
    .venv/bin/python bench/monitor_rate.py --rows 20000 --runs 3        # quick
    .venv/bin/python bench/monitor_rate.py --keep /tmp/mr   # keep (and reuse) the store
    .venv/bin/python bench/monitor_rate.py --profile /tmp/mr/auto.prof --engines auto
        cProfile of the timed runs (read it with pstats or snakeviz)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "monitors" / "purchase_propensity.yaml"
MODEL = "purchase_propensity"
START = date(2026, 9, 1)
HISTORY_DAYS = 14  # label delay (7) + performance window (7)
CHUNK_DAYS = 4  # days simulated and ingested at a time (memory)
KEY = b"bench-monitor-rate-key-0123456789"

STAGES = (
    "read window",
    "read labelled",
    "attribution",
    "history",
    "drift check",
    "decide",
    "report",
    "record",
)


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]
        ),
    }


# -- the store and the baseline (built once, reused with --keep) ----------------------------


def build(folder: Path, rows: int, runs: int) -> tuple[Path, Path]:
    """The store file and the pickled baseline for ``rows`` a day and ``runs`` monitored
    days (plus the history and the warm-up day); reused when ``folder`` has them."""
    days = HISTORY_DAYS + 1 + runs
    db = folder / f"store-{rows}-{days}d.db"
    baseline_file = folder / f"baseline-{rows}.pickle"
    longer = [
        p for p in folder.glob(f"store-{rows}-*d.db") if int(p.stem.split("-")[2][:-1]) >= days
    ]
    if longer and baseline_file.exists():
        return min(longer), baseline_file
    from sklearn.metrics import average_precision_score, roc_auc_score

    from driftline.data import ingest
    from driftline.data.privacy import Pseudonymizer
    from driftline.data.store import Store
    from driftline.devtools.simulate import simulate
    from driftline.lifecycle.baseline import build_baseline, capture_estimator
    from driftline.specs import load_spec

    spec = load_spec(SPEC)
    folder.mkdir(parents=True, exist_ok=True)
    partial = db.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = Store(f"sqlite:///{partial}")
    pseudonymizer = Pseudonymizer(KEY)
    end = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=days)
    started = time.perf_counter()
    baseline = None
    for first in range(0, days, CHUNK_DAYS):
        n = min(CHUNK_DAYS, days - first)
        sim = simulate(
            "stable", days=n, rows_per_day=rows, seed=first, start=START + timedelta(days=first)
        )
        ingest.log_predictions(store, spec, sim.predictions, pseudonymizer, model_version="1")
        labels = sim.labels[sim.labels["labelled_at"] <= end]
        if len(labels):
            ingest.log_labels(store, spec, labels)
        if baseline is None:  # training's validation rows: the first days
            rows_ = sim.predictions.merge(sim.labels[["request_id", spec.model.target]])
            target, score = rows_[spec.model.target], rows_[spec.model.prediction]
            metrics = {
                "roc_auc": float(roc_auc_score(target, score)),
                "pr_auc": float(average_precision_score(target, score)),
            }
            baseline = build_baseline(
                spec,
                rows_,
                score.to_numpy(),
                metrics,
                version="1",
                sample_size=spec.training.baseline_sample_size,
                estimator=capture_estimator(spec, rows_, target.to_numpy(), score.to_numpy()),
            )
        print(f"  stored days {first}-{first + n - 1} ({time.perf_counter() - started:.0f} s)")
    store.dispose()
    partial.rename(db)
    baseline_file.write_bytes(pickle.dumps(baseline))
    return db, baseline_file


# -- one engine, in its own process -------------------------------------------------------


class Stages:
    """Wall and CPU seconds spent in named stages of the current run."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._depth = 0

    def wrap(self, stage: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:  # a stage called from inside another counts there
                return fn(*args, **kwargs)
            self._depth += 1
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall[stage] += time.perf_counter() - wall
                self.cpu[stage] += time.process_time() - cpu
                self._depth -= 1

        return timed

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()


def _instrument(stages: Stages) -> None:
    """Time the stages of run_monitor by wrapping the functions it calls by name."""
    from driftline.monitoring import monitor

    wrapped = {
        "read_window": "read window",
        "read_labelled": "read labelled",
        "champion_takeovers": "attribution",
        "champion_intervals": "attribution",
        "made_by": "attribution",
        "history": "history",
        "champion_since": "history",
        "acknowledged_drift": "history",
        "locate_change": "history",
        "check_drift": "drift check",
        "extra_checks": "drift check",
        "decide_action": "decide",
        "_publish": "report",
        "record_run": "record",
    }
    for name, stage in wrapped.items():
        setattr(monitor, name, stages.wrap(stage, getattr(monitor, name)))
    for name in ("claim", "settle"):
        setattr(monitor.claims, name, stages.wrap("history", getattr(monitor.claims, name)))


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Monitor one warm-up day and ``args.runs`` days with ``args.engine``; report times."""
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.WARNING)
    from driftline.data.store import Store
    from driftline.monitoring import monitor
    from driftline.specs import load_spec

    spec = load_spec(SPEC)
    drift = spec.monitoring.drift.model_copy(update={"engine": args.engine})
    spec = spec.model_copy(
        update={"monitoring": spec.monitoring.model_copy(update={"drift": drift})}
    )
    baseline = pickle.loads(Path(args.baseline).read_bytes())
    work = Path(args.work)
    store = Store(f"sqlite:///{args.store}")
    stages = Stages()
    _instrument(stages)
    profiler = None
    runs: list[dict[str, Any]] = []
    first: dict[str, float] = {}
    origin = datetime(START.year, START.month, START.day, tzinfo=UTC)
    for i in range(args.runs + 1):
        day = HISTORY_DAYS + i
        stages.reset()
        if i == 1 and args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        run = monitor.run_monitor(
            store,
            spec,
            baseline,
            origin + timedelta(days=day + 1),
            reports_dir=work / "reports",
            workspace_dir=work / "workspace",
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if run.error:
            raise SystemExit(f"the monitor run of day {day} failed: {run.error}")
        if i == 0:  # warm-up: imports, first connections (what a fresh process pays)
            first = {"wall": wall, "cpu": cpu}
            continue
        runs.append(
            {
                "wall": wall,
                "cpu": cpu,
                "stage_wall": dict(stages.wall),
                "stage_cpu": dict(stages.cpu),
                "engine": run.result.engine if run.result else None,
                "status": run.status,
                "decision": run.action,
                "drifted": list(run.decision.drifted_columns),
                "rows": run.rows,
                "report_kb": sum(p.stat().st_size for p in run.report_paths) / 1024,
                "snapshots": len(run.snapshot_ids),
            }
        )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    store.dispose()
    return {
        "engine": args.engine,
        "runs": runs,
        "first": first,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_case(engine: str, db: Path, baseline: Path, runs: int, profile: str | None) -> dict:
    """One engine in a fresh process on a fresh copy of the store."""
    with tempfile.TemporaryDirectory(prefix=f"monitor-rate-{engine}-") as tmp:
        copy = Path(tmp) / "store.db"
        shutil.copy(db, copy)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            engine,
            "--store",
            str(copy),
            "--baseline",
            str(baseline),
            "--work",
            tmp,
            "--runs",
            str(runs),
        ]
        if profile:
            cmd += ["--profile", profile]
        out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False)
    if out.returncode != 0:
        raise SystemExit(f"engine {engine} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str, stage: str | None = None) -> float:
    if stage is None:
        return statistics.median(r[key] for r in runs)
    return statistics.median(r[key].get(stage, 0.0) for r in runs)


def report(rows: int, results: dict[str, dict]) -> None:
    engines = list(results)
    first = results[engines[0]]["runs"]
    print(
        f"\n{rows:,}-row daily windows of {MODEL}, median of {len(first)} runs "
        f"(load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)"
    )
    for engine, r in results.items():
        one = r["runs"][-1]
        print(
            f"  {engine}: engine that ran {one['engine']}, {one['status']}/{one['decision']}, "
            f"drifted {', '.join(one['drifted']) or 'none'}, report {one['report_kb']:.0f} kB, "
            f"{one['snapshots']} snapshots"
        )
    head = "".join(f"{e + ' wall':>16}{e + ' CPU':>16}" for e in engines)
    print(f"{'stage (s per run)':<18}{head}")
    for stage in (*STAGES, "other"):
        cells = []
        for engine in engines:
            runs = results[engine]["runs"]
            if stage == "other":  # per run, then the median: never negative
                wall = statistics.median(r["wall"] - sum(r["stage_wall"].values()) for r in runs)
                cpu = statistics.median(r["cpu"] - sum(r["stage_cpu"].values()) for r in runs)
            else:
                wall, cpu = _median(runs, "stage_wall", stage), _median(runs, "stage_cpu", stage)
            cells.append(f"{wall:>16.3f}{cpu:>16.3f}")
        print(f"{stage:<18}{''.join(cells)}")
    totals = "".join(
        f"{_median(r['runs'], 'wall'):>16.3f}{_median(r['runs'], 'cpu'):>16.3f}"
        for r in results.values()
    )
    print(f"{'total':<18}{totals}")
    rate = "".join(
        f"{3600 / _median(r['runs'], 'wall'):>16.0f}{3600 / _median(r['runs'], 'cpu'):>16.0f}"
        for r in results.values()
    )
    print(f"{'runs per hour':<18}{rate}")
    cold = "".join(
        f"{r['first']['wall']:>16.3f}{r['first']['cpu']:>16.3f}" for r in results.values()
    )
    print(f"{'first run (cold)':<18}{cold}")
    peak = "".join(f"{r['peak_mb']:>32.0f}" for r in results.values())
    print(f"{'peak RSS MB':<18}{peak}")
    if len(engines) == 2:
        a, b = (results[e] for e in engines)
        wall = _median(b["runs"], "wall") / _median(a["runs"], "wall")
        cpu = _median(b["runs"], "cpu") / _median(a["runs"], "cpu")
        print(
            f"ratio {engines[1]} / {engines[0]}: {wall:.2f}x wall, {cpu:.2f}x CPU, "
            f"{b['peak_mb'] / a['peak_mb']:.2f}x peak RSS"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per daily window")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per engine")
    parser.add_argument("--engines", nargs="+", default=["auto", "evidently"])
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the store in")
    parser.add_argument("--profile", help="cProfile the timed runs into this file")
    parser.add_argument("--child", dest="engine", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(child(args)))
        return
    with tempfile.TemporaryDirectory(prefix="monitor-rate-") as tmp:
        folder = args.keep or Path(tmp)
        print(f"building the store ({args.rows:,} rows a day) in {folder}")
        db, baseline = build(folder, args.rows, args.runs)
        results = {
            engine: run_case(engine, db, baseline, args.runs, args.profile)
            for engine in args.engines
        }
    report(args.rows, results)


if __name__ == "__main__":
    main()

"""One 10M-row window of a PostgreSQL store checked against a captured baseline, as whole
processes (issue 16: <= 60 s within 2 GB).

Setup (not timed; not the target): a driftline home in a temporary folder, a spec
``window10m`` (20 numerical + 2 categorical features, a score, a label; the
``logistic_regression`` trainer, since ``hist_gradient_boosting`` refuses a categorical
column of more than 255 values; otherwise the defaults), the store in a schema of its own
of the PostgreSQL database ``--pg-url``:

  history    14 days x 20,000 predictions with labels, ingested the ordinary way
             (``log_predictions``, ``log_labels``)
  champion   trained and promoted the ordinary way (``train``, ``promote``: the baseline
             and its reference profile captured as training captures them)
  window     the 15th day: ``--rows`` predictions (the data of bench/profiles.py, slightly
             shifted) logged with the champion's version, bulk-loaded with binary COPY
             (ADBC ``adbc_ingest``) straight into the store's table, then ``ANALYZE``

Timed, each command a whole process under ``/usr/bin/time -v`` (wall seconds, peak RSS),
the README's workflow for a window this size, with the profile made either way:

  profile window   driftline profile window -m window10m -r ref.json --on database
                   (aggregate SQL inside PostgreSQL), then with ``--on local`` (the
                   window read here in batches, memory bounded by one batch)
  monitor run      driftline monitor run -m window10m --profile window.json, after each
                   (the reference profile is exported once per champion beforehand:
                   ``driftline profile reference``, timed apart)

against the plain alternative in the same run: ``driftline monitor run`` without
``--profile``, which reads the window's rows. It is killed when its resident memory
passes ``--cap-gb`` (the machine is shared): its line then says so, with the peak it
reached. Prints the ratios, and the difference of the two profiles: the largest count
difference (must be 0) and the largest relative difference of the sums.

    PYTHONPATH=src:. .venv/bin/python bench/window10m.py --pg-url URL [--rows 10000000]
        [--keep] [--cap-gb 8] [--skip-plain]

``--keep`` keeps the home (``--home``, default /tmp/bench_window10m) and the schema
(``bench_window10m``) for the next run, which then skips the setup; without it both are
dropped at the end. The table of 10M rows takes about 3.6 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
import yaml

from bench.profiles import CATEGORICAL, NUMERICAL, difference, make_frame

REPO = Path(__file__).resolve().parents[1]
MODEL = "window10m"
SCHEMA = "bench_window10m"
KEY = "bench-window10m-key-0123456789abcdef"
START = datetime(2026, 6, 1, tzinfo=UTC)
HISTORY_DAYS = 14
HISTORY_ROWS = 20_000
CHUNK = 1_000_000
CLI = "import sys; from driftline.cli import main; sys.argv[0] = 'driftline'; sys.exit(main())"


def _spec() -> dict[str, Any]:
    return {
        "model": {
            "name": MODEL,
            "task": "binary_classification",
            "request_id": "request_id",
            "entity_id": "customer_id",
            "timestamp": "event_ts",
            "prediction": "score",
            "target": "label",
            "label_delay_days": 1,
            "features": {"numerical": NUMERICAL, "categorical": CATEGORICAL},
        },
        "training": {
            "trainer": "logistic_regression",  # the default trainer takes <= 255 categories
            "lookback_days": 10,
            "holdout_days": 3,
            "n_threads": 1,
        },
    }


def _score(frame: pd.DataFrame) -> np.ndarray:
    z = 0.6 * np.nan_to_num(frame["num_00"]) - 0.4 * np.nan_to_num(frame["num_03"]) - 0.2
    z = z + np.where(frame["channel"] == "paid", 0.8, 0.0)
    return 1 / (1 + np.exp(-z))


def _rows(n: int, seed: int, day: int, first: int, shift: float = 0.0) -> pd.DataFrame:
    """``n`` predictions of day ``day`` (request ids from ``first``), sorted by time."""
    frame = make_frame(n, seed, shift=shift)
    rng = np.random.default_rng(seed + 7)
    ids = np.arange(first, first + n)
    start = START + timedelta(days=day)
    offset = np.sort(rng.integers(0, 86_400_000_000, n))
    frame.insert(0, "request_id", pd.Series(ids).map("r{:09d}".format))
    frame.insert(1, "customer_id", pd.Series(ids % 5_000_000).map("c{:07d}".format))
    frame.insert(2, "event_ts", pd.Timestamp(start) + pd.to_timedelta(offset, unit="us"))
    frame["score"] = _score(frame)
    return frame


def setup(home: Path, url: str, rows: int) -> None:
    """The home (spec, MLflow), the history, the champion and the window (see above)."""
    from driftline.config.settings import Settings
    from driftline.data import ingest
    from driftline.data.privacy import Pseudonymizer
    from driftline.data.store import Store
    from driftline.lifecycle.promotion import promote
    from driftline.lifecycle.registry import Registry
    from driftline.lifecycle.training import train
    from driftline.specs import find_spec

    specs = home / "monitors"
    specs.mkdir(parents=True)
    (specs / f"{MODEL}.yaml").write_text(yaml.safe_dump(_spec(), sort_keys=False))
    settings = Settings(home=home / "home", specs_dir=specs, pseudonym_key=KEY)
    spec = find_spec(MODEL, specs)
    store = Store(url)
    registry = Registry.from_settings(settings)
    pseudonymizer = Pseudonymizer(KEY.encode())
    started = time.perf_counter()
    rng = np.random.default_rng(99)
    for day in range(HISTORY_DAYS):
        batch = _rows(HISTORY_ROWS, 1000 + day, day, day * HISTORY_ROWS)
        ingest.log_predictions(store, spec, batch, pseudonymizer)
        labels = pd.DataFrame(
            {
                "request_id": batch["request_id"],
                "label": (rng.random(len(batch)) < batch["score"]).astype(int),
                "labelled_at": batch["event_ts"] + pd.Timedelta(days=1),
            }
        )
        ingest.log_labels(store, spec, labels)
    as_of = START + timedelta(days=HISTORY_DAYS)
    trained = train(store, registry, spec, as_of=as_of, triggered_by="bench")
    outcome = promote(store, registry, spec, as_of=as_of, triggered_by="bench")
    if not outcome.promoted:
        raise SystemExit(f"the bench's champion was not promoted: {outcome.reason}")
    print(f"  history and champion v{trained.version}: {time.perf_counter() - started:.0f} s")
    _load_window(store, spec, rows, str(trained.version))
    store.dispose()


def _load_window(store: Any, spec: Any, rows: int, version: str) -> None:
    """COPY ``rows`` predictions of the window day into the store's table."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    from driftline.data.store import CONSENT, ENTITY_KEY, MODEL_VERSION, REQUEST_ID, TS_US, Store

    table = Store.predictions_table_name(spec)
    raw = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.perf_counter()
    first = HISTORY_DAYS * HISTORY_ROWS
    with adbc_pg.connect(raw) as conn:
        with conn.cursor() as cur:
            for i, at in enumerate(range(0, rows, CHUNK)):
                n = min(CHUNK, rows - at)
                frame = _rows(n, 2000 + i, HISTORY_DAYS, first + at, shift=0.05)
                # the chunks of one day, in time order
                offset = (np.arange(n) + at) * (86_400_000_000 // rows)
                ts = int((START + timedelta(days=HISTORY_DAYS)).timestamp() * 1e6) + offset
                columns = {
                    REQUEST_ID: pa.array(frame["request_id"], pa.string()),
                    ENTITY_KEY: pa.array(frame["customer_id"], pa.string()),
                    TS_US: pa.array(ts, pa.int64()),
                    CONSENT: pa.nulls(n, pa.bool_()),
                    MODEL_VERSION: pa.array(np.full(n, version), pa.string()),
                    **{c: pa.array(frame[c], pa.float64()) for c in NUMERICAL},
                    **{c: pa.array(frame[c], pa.string()) for c in CATEGORICAL},
                    "score": pa.array(frame["score"], pa.float64()),
                }
                cur.adbc_ingest(table, pa.table(columns), mode="append")
                print(f"  window rows {at + n:,} ({time.perf_counter() - started:.0f} s)", end="\r")
        conn.commit()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    print(f"\n  window of {rows:,} rows loaded: {time.perf_counter() - started:.0f} s")


# -- timing whole processes ----------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed(args: list[str], env: dict[str, str], cap_mb: float | None = None) -> dict[str, Any]:
    """``driftline ARGS`` as a whole process under /usr/bin/time -v: wall seconds, peak RSS
    (MB), exit code, output; killed (``killed`` true) when its RSS passes ``cap_mb``."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", CLI, *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = threading.Event()

    def watch() -> None:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        while proc.poll() is None:
            try:
                pids = [int(p) for p in children.read_text().split()]
            except OSError:
                pids = []
            for pid in pids:
                if cap_mb is not None and _rss_mb(pid) > cap_mb:
                    killed.set()
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    watcher.join()
    wall = rss = 0.0
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            clock = line.rsplit(" ", 1)[-1].split(":")
            wall = sum(float(v) * 60**i for i, v in enumerate(reversed(clock)))
        elif line.startswith("Maximum resident set size"):
            rss = float(line.rsplit(" ", 1)[-1]) / 1024
    if proc.returncode != 0 and not killed.is_set():
        tail = "\n".join((stdout + stderr).splitlines()[-25:])
        raise SystemExit(f"driftline {' '.join(args[:3])} failed ({proc.returncode}):\n{tail}")
    return {"wall": wall, "rss": rss, "killed": killed.is_set(), "stdout": stdout}


def _line(name: str, r: dict[str, Any]) -> str:
    what = f"killed at the {r['rss'] / 1024:.1f} GB cap" if r["killed"] else ""
    return f"{name:48} {r['wall']:9.1f} {r['rss']:9.0f}  {what}"


def measure(home: Path, url: str, work: Path, cap_gb: float, plain: bool) -> None:
    """Time the two profile paths, each followed by the run on its profile, then the
    plain run on the rows; print the table and the ratios."""
    from driftline.monitoring.profiles import from_json

    env = {
        **os.environ,
        "DRIFTLINE_HOME": str(home / "home"),
        "DRIFTLINE_SPECS_DIR": str(home / "monitors"),
        "DRIFTLINE_DATABASE_URL": url,
        "DRIFTLINE_PSEUDONYM_KEY": KEY,
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
    }
    end = (START + timedelta(days=HISTORY_DAYS + 1)).isoformat()
    ref = work / "ref.json"
    quiet = ["--no-alert", "--no-retrain", "--json"]
    loads = [os.getloadavg()[0]]
    results = [("profile reference (once per champion)",
                timed(["profile", "reference", "-m", MODEL, "-o", str(ref)], env))]  # fmt: skip
    paths, files = {}, {}
    for on in ("database", "local"):
        files[on] = work / f"window-{on}.json"
        profile = timed(
            ["profile", "window", "-m", MODEL, "-r", str(ref), "-o", str(files[on]),
             "--window-end", end, "--on", on],
            env,
        )  # fmt: skip
        print(_line(f"profile window --on {on}", profile), flush=True)
        run = timed(["monitor", "run", "-m", MODEL, "--profile", str(files[on]), *quiet], env)
        print(_line("monitor run --profile", run), flush=True)
        fed = json.loads(run["stdout"])
        paths[on] = {
            "wall": profile["wall"] + run["wall"],
            "rss": max(profile["rss"], run["rss"]),
            "killed": False,
        }
        results += [
            (f"profile window --on {on}", profile),
            ("monitor run --profile", run),
            (f"user path (--on {on}): both commands", paths[on]),
        ]
        loads.append(os.getloadavg()[0])
    rows = None
    if plain:
        rows = timed(
            ["monitor", "run", "-m", MODEL, "--window-end", end, *quiet], env, cap_gb * 1024
        )
        results.append(("plain: monitor run (reads the window's rows)", rows))
        loads.append(os.getloadavg()[0])
    print(
        f"\nload average (1 min) at the start and after each case: "
        f"{', '.join(f'{v:.2f}' for v in loads)}; {os.cpu_count()} CPUs"
    )
    print(f"window of {fed['rows']:,} rows; the profile-fed run: {fed['status']}/{fed['decision']}")
    print(f"{'command':48} {'wall s':>9} {'peak MB':>9}")
    for name, r in results:
        print(_line(name, r))
    count, rel = difference(
        from_json(files["database"].read_text()), from_json(files["local"].read_text())
    )
    print(f"profile --on database vs --on local: count diff {count}, sum rel diff {rel:.1e}")
    a, b = paths["database"], paths["local"]
    print(f"--on database / --on local: {a['wall'] / b['wall']:.2f}x wall")
    if rows is not None and rows["killed"]:
        print(f"plain run: killed at the {cap_gb:g} GB cap after {rows['wall']:.0f} s")
    elif rows is not None:
        for on, r in paths.items():
            print(
                f"plain run / user path --on {on}: {rows['wall'] / r['wall']:.2f}x wall, "
                f"{rows['rss'] / r['rss']:.2f}x peak RSS"
            )


def _schema_url(url: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{SCHEMA}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--pg-url", default=os.environ.get("DRIFTLINE_TEST_DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the home and the schema")
    parser.add_argument("--home", type=Path, default=Path("/tmp") / SCHEMA)
    parser.add_argument("--cap-gb", type=float, default=8.0)
    parser.add_argument("--skip-plain", action="store_true", help="leave out the plain run")
    args = parser.parse_args()
    if not args.pg_url:
        raise SystemExit("pass --pg-url or set DRIFTLINE_TEST_DATABASE_URL (PostgreSQL)")
    admin = sa.create_engine(args.pg_url)
    url = _schema_url(args.pg_url)
    marker = args.home / f"ready-{args.rows}"
    try:
        if not marker.exists():
            shutil.rmtree(args.home, ignore_errors=True)
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
            print(f"setting up {args.rows:,} rows in schema {SCHEMA} (not timed) ...", flush=True)
            setup(args.home, url, args.rows)
            marker.touch()
        work = args.home / "work"
        work.mkdir(exist_ok=True)
        measure(args.home, url, work, args.cap_gb, not args.skip_plain)
    finally:
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            shutil.rmtree(args.home, ignore_errors=True)
        admin.dispose()


if __name__ == "__main__":
    main()

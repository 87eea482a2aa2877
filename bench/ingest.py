"""Ingest and read back N rows of a 20-feature model, driftline vs plain pandas.

For each database (SQLite in a temp folder; PostgreSQL when --pg-url or
DRIFTLINE_TEST_DATABASE_URL is given) it times, in the same run:

  ingest   the whole ingestion of a Parquet file: driftline's read_table +
           log_predictions (validate + pseudonymise + bulk insert, idempotent) vs
           pandas.read_parquet + DataFrame.to_sql(if_exists="append") of the same file
  raw      the floor, nothing validated: pyarrow reads the file and (PostgreSQL) ADBC
           COPYs it or (SQLite) one sqlite3 executemany inserts it into a table with the
           same columns, key and indexes (ratio vs driftline)
  read     Store.read_predictions of the whole window vs pandas.read_sql of the table

and prints rows per second, driftline's own CPU seconds (the database server's are not
counted), and the speedup plain_s / driftline_s (higher is better), with the machine's load
average before and after (other jobs on a shared machine inflate every wall-clock figure).

    PYTHONPATH=src:. .venv/bin/python bench/ingest.py --rows 1000000 [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from driftline.data.files import read_table
from driftline.data.ingest import log_predictions
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.specs import parse_spec

NUMERICAL = [f"num_{i:02d}" for i in range(16)]
CATEGORICAL = [f"cat_{i}" for i in range(4)]


def make_spec():  # type: ignore[no-untyped-def]
    return parse_spec(
        {
            "model": {
                "name": "bench20",
                "entity_id": "customer_id",
                "timestamp": "event_ts",
                "prediction": "score",
                "target": "label",
                "consent": "consent_given",
                "features": {"numerical": NUMERICAL, "categorical": CATEGORICAL},
            }
        },
        "bench",
    )


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {
        "request_id": [f"req-{i:09d}" for i in range(rows)],
        "customer_id": [f"cust-{c:08d}" for c in rng.integers(0, rows // 3 + 1, rows)],
        "event_ts": pd.Timestamp("2026-11-01", tz="UTC")
        + pd.to_timedelta(np.sort(rng.uniform(0, 30 * 86400, rows)), unit="s"),
        "consent_given": rng.random(rows) < 0.9,
        "score": rng.random(rows),
    }
    for name in NUMERICAL:
        data[name] = rng.normal(size=rows).round(4)
    levels = np.array(
        ["mobile", "desktop", "tablet", "organic", "paid_social", "email"], dtype=object
    )
    for name in CATEGORICAL:
        data[name] = levels[rng.integers(0, len(levels), rows)]
    return pd.DataFrame(data)


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(url: str, label: str, path: Path) -> list[dict[str, object]]:
    spec = make_spec()
    pseudo = Pseudonymizer(b"bench-key-0123456789abcdef")
    store = Store(url)
    rows = pq.read_metadata(path).num_rows
    results = []

    cpu = time.process_time()
    ingest_s, res = timed(lambda: log_predictions(store, spec, read_table(path), pseudo))
    ingest_cpu = time.process_time() - cpu
    assert res.inserted == rows, res
    read_s, window = timed(lambda: store.read_predictions(spec))
    assert len(window) == rows
    frame = read_table(path)
    again_s, res2 = timed(lambda: log_predictions(store, spec, frame, pseudo))
    assert res2.inserted == 0 and res2.consent_changed == 0
    # A tenth of the requests sent again with the consent flag flipped: the customers'
    # consent changes on every stored row of theirs (issue 15).
    flipped = frame.iloc[::10].assign(consent_given=lambda f: ~f["consent_given"])
    flip_s, res3 = timed(lambda: log_predictions(store, spec, flipped, pseudo))
    assert res3.inserted == 0 and res3.consent_changed >= len(flipped) // 2, res3

    raw = _raw_copy if label == "postgresql" else _raw_executemany
    copy_s = raw(store, spec, path)
    results.append(
        {
            "database": label,
            "operation": f"ingest vs raw {'COPY' if label == 'postgresql' else 'executemany'}",
            "rows": rows,
            "driftline_s": ingest_s,
            "plain_s": copy_s,
            "driftline_rows_per_s": rows / ingest_s,
            "plain_rows_per_s": rows / copy_s,
            "speedup": copy_s / ingest_s,
        }
    )
    plain_table = f"plain_{uuid.uuid4().hex[:8]}"
    plain_ingest_s, _ = timed(
        lambda: pd.read_parquet(path).to_sql(
            plain_table, store.engine, if_exists="append", index=False, chunksize=50_000
        )
    )
    plain_read_s, plain = timed(lambda: pd.read_sql(f"SELECT * FROM {plain_table}", store.engine))
    assert len(plain) == rows
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {plain_table}"))
    store.dispose()
    for op, ours, theirs in (("ingest", ingest_s, plain_ingest_s), ("read", read_s, plain_read_s)):
        results.append(
            {
                "database": label,
                "operation": op,
                "rows": rows,
                "driftline_s": ours,
                "plain_s": theirs,
                "driftline_rows_per_s": rows / ours,
                "plain_rows_per_s": rows / theirs,
                "speedup": theirs / ours,
            }
        )
    results[-2]["driftline_cpu_s"] = ingest_cpu
    results.append(
        {
            "database": label,
            "operation": "re-ingest (all present)",
            "rows": rows,
            "driftline_s": again_s,
            "plain_s": float("nan"),
            "driftline_rows_per_s": rows / again_s,
            "plain_rows_per_s": float("nan"),
            "speedup": float("nan"),
        }
    )
    results.append(
        {
            "database": label,
            "operation": f"re-send 10%, consent flipped ({res3.consent_changed:,} rows changed)",
            "rows": len(flipped),
            "driftline_s": flip_s,
            "plain_s": float("nan"),
            "driftline_rows_per_s": len(flipped) / flip_s,
            "plain_rows_per_s": float("nan"),
            "speedup": float("nan"),
        }
    )
    return results


def _raw_table(path: Path) -> pa.Table:
    """The file's rows in the store's columns (time in microseconds), nothing checked."""
    table = pq.read_table(path).rename_columns(
        ["request_id", "entity_key", "ts_us", "consent", "score", *NUMERICAL, *CATEGORICAL]
    )
    micros = pc.cast(table["ts_us"], pa.timestamp("us", tz="UTC"), safe=False)
    return table.set_column(2, "ts_us", pc.cast(micros, pa.int64()))


def _raw_executemany(store: Store, spec, path: Path) -> float:  # type: ignore[no-untyped-def]
    """Seconds to read ``path`` with pyarrow and insert it with one sqlite3 ``executemany``
    into an empty table made by the model's own DDL (same columns, key and indexes), in
    one transaction, with the store's settings: the floor of SQLite ingestion."""
    source = store.predictions_table_name(spec)
    name = f"copy_{uuid.uuid4().hex[:8]}"
    with store.engine.begin() as conn:
        ddl = conn.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE tbl_name = :t AND sql IS NOT NULL"),
            {"t": source},
        ).scalars()
        for statement in list(ddl):
            conn.execute(sa.text(statement.replace(source, name).replace("ix_", f"{name}_")))
    conn = store.engine.raw_connection()
    try:
        start = time.perf_counter()
        table = _raw_table(path)
        cols = ", ".join(table.column_names)
        marks = ", ".join("?" for _ in table.column_names)
        rows = zip(*(c.to_pylist() for c in table.columns), strict=True)
        conn.execute(f"PRAGMA cache_size={-256 * 1024}")
        conn.executemany(f"INSERT INTO {name} ({cols}) VALUES ({marks})", rows)
        conn.commit()
        seconds = time.perf_counter() - start
    finally:
        conn.close()
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    return seconds


def _raw_copy(store: Store, spec, path: Path) -> float:  # type: ignore[no-untyped-def]
    """Seconds to read ``path`` with pyarrow and COPY it (ADBC, binary) into an empty
    table shaped like the model's inference log (same columns, key and indexes)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    name = f"copy_{uuid.uuid4().hex[:8]}"
    source = store.predictions_table_name(spec)
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (LIKE {source} INCLUDING ALL)"))
    start = time.perf_counter()
    table = _raw_table(path)
    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_pg.connect(url) as conn:
        conn.cursor().adbc_ingest(name, table, mode="append")
        conn.commit()
    seconds = time.perf_counter() - start
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=os.environ.get("DRIFTLINE_TEST_DATABASE_URL"))
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="which to run, comma-separated (default: sqlite,postgresql)",
    )
    args = parser.parse_args()
    databases = set(args.databases.split(","))
    if not databases <= {"sqlite", "postgresql"}:
        parser.error(
            f"--databases: unknown {', '.join(sorted(databases - {'sqlite', 'postgresql'}))}; "
            "choose from sqlite,postgresql"
        )
    print(f"generating {args.rows:,} rows x 20 features ...", flush=True)
    before = os.getloadavg()
    results = []
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "predictions.parquet"
    make_frame(args.rows).to_parquet(path, index=False)
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory() as tmp:
            print("sqlite ...", flush=True)
            results += run(f"sqlite:///{Path(tmp) / 'bench.db'}", "sqlite", path)
    if "postgresql" not in databases:
        pass
    elif args.pg_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.pg_url)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        try:
            print("postgresql ...", flush=True)
            sep = "&" if "?" in args.pg_url else "?"
            results += run(
                f"{args.pg_url}{sep}options=-csearch_path%3D{schema}", "postgresql", path
            )
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    else:
        print("postgresql skipped: pass --pg-url or set DRIFTLINE_TEST_DATABASE_URL")
    folder.cleanup()
    table = pd.DataFrame(results)
    with pd.option_context("display.width", 200, "display.float_format", "{:,.2f}".format):
        print(table.to_string(index=False))
    print(
        "plain_s is the plain alternative of each row: the raw floor (nothing validated) for "
        "'ingest vs raw ...', DataFrame.to_sql for 'ingest', pandas.read_sql for 'read'. "
        "speedup = plain_s / driftline_s (below 1: driftline slower). driftline_cpu_s is "
        "this process's CPU for the ingest (the database server's not counted)."
    )
    load = " -> ".join(", ".join(f"{x:.2f}" for x in avg) for avg in (before, os.getloadavg()))
    print(f"load average (1, 5, 15 min) {load} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

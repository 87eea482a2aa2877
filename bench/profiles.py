"""Column profiles of one large window where the data lives, against the local path.

N rows x 20 numerical + 2 categorical columns (missing values in both kinds), profiled
against a reference profile (200k rows of the unshifted distribution), four ways in one
run:

  local chunked   pyarrow reads the Parquet file by row group; profile_frame per chunk,
                  profiles merged (the plain path: memory bounded by a row group)
  local from PG   driftline's batched store read (Store.query_batches: ADBC's COPY
                  record batches, 250k rows a frame) of the PostgreSQL table;
                  profile_frame per batch, merged (`profile window --on local`)
  PG push-down    driftline.monitoring.profilers.database.profile_relation: aggregate
                  SQL inside PostgreSQL, no rows shipped
  Spark local[2]  driftline.monitoring.profilers.spark.profile_spark on the Parquet file

Each line prints seconds, the ratio to the local chunked path, and the difference from
it: the largest absolute difference of any count (must be 0) and the largest relative
difference of the sums (floating-point summation order only).

    .venv/bin/python bench/profiles.py --rows 1000000 [--pg-url URL] [--no-spark]
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
import pyarrow.parquet as pq
import sqlalchemy as sa

from driftline.monitoring.profiles import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    profile_batches,
    profile_frame,
)

NUMERICAL = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = ["channel", "region"]
KINDS = {**dict.fromkeys(NUMERICAL, "numerical"), **dict.fromkeys(CATEGORICAL, "categorical")}
CHUNK = 250_000


def make_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i, name in enumerate(NUMERICAL):
        x = rng.gamma(2.0, 1.0 + i / 10, rows) + shift * (i % 3)
        x[rng.random(rows) < 0.01] = np.nan
        data[name] = x
    channels = np.array(["web", "app", "email", "paid", "social", None], dtype=object)
    data["channel"] = channels[rng.integers(0, len(channels), rows)]
    data["region"] = np.array([f"r{v:03d}" for v in rng.zipf(1.5, rows) % 300], dtype=object)
    return pd.DataFrame(data)


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def difference(got: dict[str, ColumnProfile], want: dict[str, ColumnProfile]) -> tuple[int, float]:
    """(largest absolute difference of any count, largest relative difference of a sum)."""
    worst, rel = 0, 0.0
    for name, w in want.items():
        g = got[name]
        if isinstance(w, NumericProfile) and isinstance(g, NumericProfile):
            pairs = [(g.count, w.count), (g.missing, w.missing), (g.infinite, w.infinite)]
            pairs += list(zip(g.counts, w.counts, strict=True))
            for a, b in ((g.sum, w.sum), (g.sum_sq, w.sum_sq)):
                rel = max(rel, abs(a - b) / max(abs(b), 1e-12))
            if (g.min, g.max, g.values) != (w.min, w.max, w.values):
                worst = max(worst, 1)
        else:
            assert isinstance(g, CategoricalProfile) and isinstance(w, CategoricalProfile)
            keys = set(g.as_dict()) | set(w.as_dict())
            pairs = [(g.count, w.count), (g.missing, w.missing), (g.other, w.other)]
            pairs += [(g.as_dict().get(k, 0), w.as_dict().get(k, 0)) for k in keys]
        worst = max([worst, *(abs(a - b) for a, b in pairs)])
    return worst, rel


def local_parquet(path: Path, reference: dict[str, ColumnProfile]) -> dict[str, ColumnProfile]:
    parquet = pq.ParquetFile(path)
    batches = (batch.to_pandas() for batch in parquet.iter_batches(batch_size=CHUNK))
    return profile_batches(batches, KINDS, reference)


def local_postgres(url: str, table: str, reference: dict[str, ColumnProfile]) -> dict:  # type: ignore[type-arg]
    """The table read by driftline's batched store read, profiled batch by batch."""
    from driftline.data.store import Store

    store = Store(url, migrate=False)
    try:
        cols = ", ".join(f'"{c}"' for c in KINDS)
        types = {c: "float" if k == "numerical" else "text" for c, k in KINDS.items()}
        batches = store.query_batches(f"SELECT {cols} FROM {table}", [], types)
        return profile_batches(batches, KINDS, reference)
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=os.environ.get("DRIFTLINE_TEST_DATABASE_URL"))
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    reference = profile_frame(make_frame(200_000, 0), KINDS)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "window.parquet"
        print(f"generating {args.rows:,} rows ...", flush=True)
        for start in range(0, args.rows, 1_000_000):  # written in pieces: bounded memory
            piece = make_frame(min(1_000_000, args.rows - start), 1 + start, shift=0.05)
            table = pa.Table.from_pandas(piece, preserve_index=False)
            if start == 0:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=CHUNK)
        writer.close()
        base_s, base = timed(lambda: local_parquet(path, reference))
        results.append(("local chunked (Parquet row groups)", base_s, 0, 0.0))
        print(f"local: {base_s:.1f} s", flush=True)
        if args.pg_url:
            results += postgres(args.pg_url, path, reference, base)
        if not args.no_spark:
            from driftline.monitoring.profilers.spark import profile_spark, spark_session

            session = spark_session("local[2]", "driftline-bench")
            frame = session.read.parquet(str(path))
            spark_s, got = timed(lambda: profile_spark(frame, reference))
            results.append(("Spark local[2] (Parquet)", spark_s, *difference(got, base)))
            session.stop()
    print(f"\n{args.rows:,} rows x {len(NUMERICAL)} numerical + {len(CATEGORICAL)} categorical")
    one, five, _ = os.getloadavg()
    print(f"load average at the end: {one:.2f} (1 min), {five:.2f} (5 min)")
    print(f"{'path':40} {'seconds':>9} {'vs local':>9} {'count diff':>11} {'sum rel diff':>13}")
    for name, seconds, worst, rel in results:
        print(f"{name:40} {seconds:9.1f} {base_s / seconds:8.2f}x {worst:11d} {rel:13.1e}")


def postgres(url: str, path: Path, reference: dict, base: dict) -> list[tuple]:  # type: ignore[type-arg]
    import adbc_driver_postgresql.dbapi as adbc_pg

    from driftline.monitoring.profilers.database import profile_relation

    engine = sa.create_engine(url)
    name = f"bench_profile_{uuid.uuid4().hex[:8]}"
    raw = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    print("loading PostgreSQL ...", flush=True)
    with adbc_pg.connect(raw) as conn:
        with conn.cursor() as cur:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
                cur.adbc_ingest(name, pa.Table.from_batches([batch]), mode="create_append")
        conn.commit()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ANALYZE {name}"))
        out = []
        pulled_s, pulled = timed(lambda: local_postgres(url, name, reference))
        out.append(("local from PostgreSQL (Arrow batches)", pulled_s, *difference(pulled, base)))
        pushed_s, pushed = timed(lambda: profile_relation(engine, name, reference))
        out.append(("PostgreSQL push-down", pushed_s, *difference(pushed, base)))
        return out
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
        engine.dispose()


if __name__ == "__main__":
    main()

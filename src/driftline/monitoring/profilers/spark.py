"""Column profiles computed on Spark (PySpark, the optional extra ``driftline[spark]``).

Each partition is profiled by the local profiler
(:func:`driftline.monitoring.profiles.profile_batches` of its Arrow batches through
``DataFrame.mapInPandas``) into one JSON profile per partition; those are shuffled into
``MERGERS`` partitions and merged there (:func:`driftline.monitoring.profiles.merge`, exact
for every count), and the driver merges the few that come back, so every partition is
profiled in parallel and the driver never holds more than ``MERGERS`` profiles. The result
is the profile the local path computes for the same rows (sums up to floating-point
summation order).

The executors import driftline: install it (with its dependencies) on the cluster's
Python, e.g. ``spark-submit --py-files`` of a wheel or a cluster image that has it.
Numerical columns need the reference profile (its edges and center), which travels to
the executors inside the task.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from driftline.config.errors import DataError
from driftline.monitoring.profiles import (
    ColumnProfile,
    NumericProfile,
    from_json,
    merge,
    profile_batches,
    to_json,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

#: Rows of a partition profiled at a time (its Arrow batches gathered: Spark sends 10,000
#: rows a batch by default, ``spark.sql.execution.arrow.maxRecordsPerBatch``).
GATHER_ROWS = 250_000
#: Partitions the per-partition profiles are merged in on the executors; the driver merges
#: the few that come back.
MERGERS = 16

INSTALL_HINT = "install the Spark extra: pip install 'driftline[spark]' (needs Java 17+)"


def require_pyspark() -> None:
    """DataError saying how to install PySpark when it is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise DataError(f"profiling on Spark needs PySpark: {INSTALL_HINT}") from None


def spark_session(master: str | None = None, app_name: str = "driftline-profile") -> SparkSession:
    """The active Spark session, or a new one on ``master`` (``local[2]``, ``yarn``,
    ``spark://host:7077``; None: what ``spark-submit`` or the environment set, else
    ``local[*]``). DataError when PySpark is missing."""
    require_pyspark()
    from pyspark.sql import SparkSession

    # Parquet written by pandas/pyarrow holds TIMESTAMP(NANOS) columns, which Spark refuses
    # to read by default; profiles never read a timestamp, so let it come as a number.
    builder = SparkSession.builder.appName(app_name).config(
        "spark.sql.legacy.parquet.nanosAsLong", "true"
    )
    if master:
        builder = builder.master(master)
    local = bool(master and master.startswith("local"))
    if local:  # workers run this interpreter (and driftline)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.ui.enabled", "false")
    session = builder.getOrCreate()
    if local:  # a refused read is a DataError of one line, not pages of JVM stack traces
        session.sparkContext.setLogLevel("ERROR")
    return session


def read_source(spark: SparkSession, source: str) -> DataFrame:
    """A Spark DataFrame of ``source``: a Parquet file or folder (a path that exists, or
    a URI such as ``s3a://bucket/preds/`` or ``hdfs://...``), else a table name of the
    session's catalog. DataError when neither can be read."""
    try:
        if "://" in source or Path(source).exists():
            return spark.read.parquet(source)
        return spark.table(source)
    except Exception as exc:  # AnalysisException: no such path or table
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot read {source!r} on Spark (a Parquet path or a table name): {first}"
        ) from None


def profile_spark(
    frame: DataFrame,
    reference: Mapping[str, ColumnProfile],
    *,
    columns: Mapping[str, str] | None = None,
) -> dict[str, ColumnProfile]:
    """Profiles of ``columns`` (name -> "numerical" | "categorical"; default: the columns
    and kinds of ``reference``) of a Spark DataFrame, against the reference profile.
    Raises DataError for a column the DataFrame lacks or a numerical column without a
    numerical reference profile (checked on the driver, before any job runs)."""
    kinds = dict(columns) if columns is not None else {k: p.kind for k, p in reference.items()}
    missing = [c for c in kinds if c not in frame.columns]
    if missing:
        raise DataError(
            f"cannot profile {missing}: the Spark data has no such columns "
            f"(it has {sorted(frame.columns)})"
        )
    refs = {}
    for name, kind in kinds.items():
        if kind == "numerical":
            ref = reference.get(name)
            if not isinstance(ref, NumericProfile):
                raise DataError(f"the reference profile has no numerical column {name!r}")
            refs[name] = ref
    ref_json = to_json(refs)

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        profiles = profile_batches(batches, kinds, from_json(ref_json), gather=GATHER_ROWS)
        yield pd.DataFrame({"profile": [to_json(profiles)]})

    from pyspark.sql import functions as F

    selected = frame.select(*[F.col(f"`{c}`") for c in kinds])
    parts = selected.mapInPandas(per_partition, schema="profile string")
    merged = parts.repartition(MERGERS).mapInPandas(_merge_partition, schema="profile string")
    out = _merged(row["profile"] for row in merged.collect())
    if out is None:  # no partition at all: the profile of an empty sample
        out = profile_batches([], kinds, refs)
    return {c: out[c] for c in kinds}


def _merged(documents: Iterable[str]) -> dict[str, ColumnProfile] | None:
    """The merge of profile documents (JSON), one at a time; None for none."""
    out: dict[str, ColumnProfile] | None = None
    for document in documents:
        part = from_json(document)
        out = part if out is None else {k: merge(out[k], part[k]) for k in out}
    return out


def _merge_partition(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The merged profile of one partition of per-partition profiles (an executor's part
    of the merge)."""
    import pandas as pd

    out = _merged(text for frame in frames for text in frame["profile"])
    if out is not None:
        yield pd.DataFrame({"profile": [to_json(out)]})

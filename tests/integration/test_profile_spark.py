"""Profiles computed on Spark (local[2]) equal the local profiler's."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.profilecheck import compare_profiles
from driftline.monitoring.profiles import profile_frame
from tests.integration.test_profile_pushdown import assert_same

if importlib.util.find_spec("pyspark") is None:
    pytest.skip(
        "PySpark is not installed (pip install 'driftline[spark]')", allow_module_level=True
    )
if shutil.which("java") is None:
    pytest.skip("no Java on PATH: Spark cannot start (install Java 17)", allow_module_level=True)

from driftline.monitoring.profilers.spark import (
    profile_spark,
    read_source,
    spark_session,
)

COLUMNS = {"x": "numerical", "d": "numerical", "c": "categorical"}
# one Spark session for the module: start-up dominates; runs in CI (issue 16)


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    session = spark_session("local[2]", "driftline-test")
    session.conf.set("spark.sql.files.maxPartitionBytes", "1k")  # a partition per file
    yield session
    session.stop()


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, n) * 4 + 2
    x[::13] = np.nan
    x[2::41] = np.inf
    x[7::43] = -np.inf
    c = rng.choice(np.array(["mobile", "desktop", "tablet", None, "1"], dtype=object), n)
    return pd.DataFrame({"x": x, "d": rng.integers(0, 6, n).astype(float), "c": c})


def test_spark_profile_of_parquet_and_of_a_table_equals_the_local_profile(
    spark, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    reference = profile_frame(_frame(2000, 0), COLUMNS, bins=128)
    window = _frame(3000, 1)
    path = tmp_path / "window"
    path.mkdir()
    for i, part in enumerate(np.array_split(window, 3)):
        # a nanosecond timestamp beside the columns, as pandas and the simulator write it
        # (Spark refuses TIMESTAMP(NANOS) unless told to read it as a number)
        at = pd.Timestamp("2026-09-30") + pd.to_timedelta(np.arange(len(part)), unit="s")
        part.assign(event_ts=at).to_parquet(path / f"part-{i}.parquet", index=False)
    local = profile_frame(pd.read_parquet(path), COLUMNS, reference)

    parquet = read_source(spark, str(path))
    assert parquet.rdd.getNumPartitions() >= 2  # partition profiles are merged
    got = profile_spark(parquet, reference)
    assert_same(got, local)
    assert got["x"].infinite > 0 and got["x"].missing > 0 and got["c"].missing > 0

    parquet.createOrReplaceTempView("window_table")  # a table of the session's catalog
    assert_same(profile_spark(read_source(spark, "window_table"), reference), local)

    plan = DriftPlan.from_columns(COLUMNS)  # the drift check a monitor run makes of it
    fed, here = (compare_profiles(reference, p, plan).result for p in (got, local))
    assert [(c.name, c.method, c.drifted, c.score) for c in fed.columns] == [
        (c.name, c.method, c.drifted, c.score) for c in here.columns
    ]
    assert fed.quality == here.quality and fed.quality  # its infinite values


def test_spark_profiler_refuses_what_it_cannot_profile(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reference = profile_frame(_frame(500, 0), COLUMNS, bins=16)
    _frame(100, 1).drop(columns=["d"]).to_parquet(tmp_path / "w.parquet", index=False)
    frame = read_source(spark, str(tmp_path / "w.parquet"))
    with pytest.raises(DataError, match=r"\['d'\]"):
        profile_spark(frame, reference)
    with pytest.raises(DataError, match="cannot read"):
        read_source(spark, str(tmp_path / "nothing.parquet"))
    empty = frame.limit(0)
    got = profile_spark(empty, reference, columns={"x": "numerical", "c": "categorical"})
    assert got["x"].count == 0 and got["c"].count == 0

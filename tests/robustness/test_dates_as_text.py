"""Item 2: date or time text in a CSV is a timestamp, left out of the check as the same
column from Parquet is, never a categorical whose every new day is "unseen"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.data.values import looks_like_times
from tests.conftest import Cli
from tests.robustness.conftest import write


def _days(start: str, rows: int, fmt: str) -> list[str]:
    return list(pd.date_range(start, periods=rows, freq="h", tz="UTC").strftime(fmt))


@pytest.mark.parametrize(
    "fmt", ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+02:00"]
)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_date_text_is_left_out_like_a_timestamp(
    cli: Cli, tmp_path: Path, fmt: str, suffix: str
) -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"day": _days("2026-01-01", 700, fmt), "x": rng.normal(size=700)})
    cur = pd.DataFrame({"day": _days("2026-03-01", 450, fmt), "x": rng.normal(size=450)})
    ref.loc[3, "day"] = None  # a blank among the dates
    out = tmp_path / "drift.json"
    code, text = cli(
        "drift", "check", "--min-rows", "1",
        "--reference", str(write(ref, tmp_path / f"ref{suffix}")),
        "--current", str(write(cur, tmp_path / f"cur{suffix}")), "--json", str(out),
        "--fail-on-drift",
    )  # fmt: skip
    assert code == 0, text
    assert "not checked: day (timestamp)" in text
    assert [c["name"] for c in json.loads(out.read_text())["columns"]] == ["x"]


def test_parquet_timestamps_and_csv_dates_agree(cli: Cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame(
        {"day": pd.date_range("2026-01-01", periods=600, freq="h"), "x": rng.normal(size=600)}
    )
    cur = ref.assign(day=ref["day"].dt.strftime("%Y-%m-%d"))
    code, text = cli(
        "drift", "check", "--min-rows", "1",
        "--reference", str(write(ref, tmp_path / "ref.parquet")),
        "--current", str(write(cur, tmp_path / "cur.csv")),
    )  # fmt: skip
    assert code == 0, text
    assert "not checked: day (timestamp)" in text


@pytest.mark.parametrize(
    ("values", "times"),
    [
        (["2026-01-01", "2026-02-28", None], True),
        (["2026-01-01 06:00", "2026-01-01T07:30:00.5Z"], True),
        (["2026-13-45"], False),  # not a date: a category
        (["2026-01-01", "soon"], False),
        (["1", "2"], False),
        (["A-12-34"], False),
    ],
)
def test_what_counts_as_date_text(values: list, times: bool) -> None:
    assert looks_like_times(pd.Series(values, dtype=object)) is times

"""Item 4: infinite numbers are infinite everywhere: a data-quality finding of their own in
file checks and monitor windows (never counted as missing), refused at ingestion and in an
adopted reference, naming the column and the rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.data.files import read_table
from driftline.data.ingest import log_predictions
from driftline.data.store import Store
from driftline.lifecycle.adopt import reference_frame
from driftline.monitoring.check import compare_frames
from driftline.monitoring.plan import DriftPlan
from tests.conftest import Cli
from tests.robustness.conftest import PSEUDO, batch, make_spec, write


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("infinity", [np.inf, -np.inf])
def test_drift_check_reports_infinite_not_missing(
    cli: Cli, tmp_path: Path, suffix: str, infinity: float
) -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(size=700)})
    cur = pd.DataFrame({"x": rng.normal(size=450)})
    cur.loc[:49, "x"] = infinity
    cur.loc[50:54, "x"] = np.nan
    out = tmp_path / "drift.json"
    code, text = cli(
        "drift", "check", "--min-rows", "1",
        "--reference", str(write(ref, tmp_path / f"r{suffix}")),
        "--current", str(write(cur, tmp_path / f"c{suffix}")), "--json", str(out),
    )  # fmt: skip
    assert code == 0, text
    assert "50 infinite values in the current rows, 0 in the reference" in text
    assert "missing" not in text.split("infinite values")[0]


def test_infinite_is_a_finding_and_missing_share_excludes_it() -> None:
    ref = pd.DataFrame({"x": np.arange(100, dtype=float)})
    cur = pd.DataFrame({"x": [np.inf] * 10 + [np.nan] * 2 + list(np.arange(88.0))})
    result = compare_frames(ref, cur, DriftPlan.from_columns({"x": "numerical"}))
    rules = {q.rule: q for q in result.quality}
    assert rules["infinite"].share == pytest.approx(0.10)
    assert "missing_share" not in rules  # 2% missing is under the 5% limit
    assert result.columns[0].missing_share == pytest.approx(0.02)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_ingestion_refuses_infinite_naming_rows(
    store: Store, tmp_path: Path, fmt: str, value: float
) -> None:
    spec = make_spec()
    frame = batch(4, visits=[1.0, value, 2.0, value])
    if fmt != "frame":
        frame = read_table(write(frame, tmp_path / f"b.{fmt}"))
    with pytest.raises(DataError, match=r"'visits': 2 rows are infinite \(rows 2, 4\)"):
        log_predictions(store, spec, frame, PSEUDO)
    assert store.newest_prediction(spec) is None  # nothing written


def test_an_adopted_reference_with_infinite_values_is_refused() -> None:
    spec = make_spec()
    frame = batch(4, visits=["1", "inf", "2", "3"])
    with pytest.raises(DataError, match="'visits': 1 values are infinite"):
        reference_frame(spec, frame)


def test_the_json_contract_holds_no_infinity(cli: Cli, tmp_path: Path) -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 100})
    cur = pd.DataFrame({"x": [np.inf] * 299 + [1.0]})
    out = tmp_path / "drift.json"
    code, text = cli(
        "drift", "check", "--min-rows", "1",
        "--reference", str(write(ref, tmp_path / "r.csv")),
        "--current", str(write(cur, tmp_path / "c.csv")), "--json", str(out),
    )  # fmt: skip
    assert code == 0, text
    json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"JSON holds {c}"))

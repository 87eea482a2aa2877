"""Item 1: an integer-coded category is one category however a file or frame spells it
(1, 1.0 because a blank made the column float, "1", "1.0"), in every path: file checks,
ingestion (CSV, Parquet, frames; SQLite and PostgreSQL), window reads and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.data.ingest import log_predictions
from driftline.data.store import Store
from driftline.data.values import as_text
from driftline.lifecycle.baseline import column_stats
from driftline.lifecycle.training import feature_frame
from driftline.monitoring.check import compare_frames
from driftline.monitoring.plan import DriftPlan
from tests.conftest import Cli
from tests.robustness.conftest import PSEUDO, batch, make_spec, write


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([1.0, np.nan, 2.0]), ["1", None, "2"]),
        (pd.Series([1, 2]), ["1", "2"]),
        (pd.Series([1, None], dtype="Int64"), ["1", None]),
        (pd.Series(["1", "1.0", "01", " 1", None], dtype=object), ["1", "1", "01", " 1", None]),
        (pd.Series([1.0, 2.0]).astype("category"), ["1", "2"]),
        (pd.Series(["a", pd.NA], dtype="string"), ["a", None]),
        (pd.Series([1.5, -3.0, 1e20]), ["1.5", "-3", "1e+20"]),
        (pd.Series([True, False]), ["True", "False"]),
    ],
)
def test_category_text_is_one_rule_for_every_dtype(values: pd.Series, expected: list) -> None:
    assert as_text(values).tolist() == expected


def _stores(rng: np.random.Generator, rows: int, blanks: int) -> pd.Series:
    values = pd.Series(rng.integers(1, 6, rows).astype(float))
    values[:blanks] = np.nan
    return values


@pytest.mark.parametrize(("ref_suffix", "cur_suffix"), [(".csv", ".csv"), (".parquet", ".csv")])
def test_drift_check_sees_the_same_categories_with_and_without_blanks(
    cli: Cli, tmp_path: Path, ref_suffix: str, cur_suffix: str
) -> None:
    """The issue's example: a float column ("1.0", blanks) against an int column ("1")."""
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"store": _stores(rng, 700, 5), "x": rng.normal(size=700)})
    cur = pd.DataFrame({"store": rng.integers(1, 6, 450), "x": rng.normal(size=450)})
    out = tmp_path / "drift.json"
    code, text = cli(
        "drift", "check", "--min-rows", "1",
        "--reference", str(write(ref, tmp_path / f"ref{ref_suffix}")),
        "--current", str(write(cur, tmp_path / f"cur{cur_suffix}")),
        "--categorical", "store", "--numerical", "x", "--json", str(out), "--fail-on-drift",
    )  # fmt: skip
    assert code == 0, text
    assert "never had" not in text  # no unseen categories
    store = next(c for c in json.loads(out.read_text())["columns"] if c["name"] == "store")
    assert store["drifted"] is False


def test_drift_check_of_a_store_column_against_itself_as_float_is_no_drift() -> None:
    ints = pd.DataFrame({"store": [1, 2, 3, 4, 5] * 100})
    floats = pd.DataFrame({"store": [1.0, 2.0, 3.0, 4.0, 5.0, np.nan] * 80})
    result = compare_frames(ints, floats, DriftPlan.from_columns({"store": "categorical"}))
    assert not result.columns[0].drifted
    assert [q.rule for q in result.quality if q.rule == "unseen_categories"] == []


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
def test_ingestion_stores_one_spelling(store: Store, tmp_path: Path, fmt: str) -> None:
    """Float with a blank, int, and text: the stored category is "1" every time."""
    from driftline.data.files import read_table

    spec = make_spec()
    spellings = {
        "float": pd.Series([1.0, np.nan, 3.0, 1.0]),
        "int": pd.Series([1, 2, 3, 1]),
        "text": pd.Series(["1", None, "3", "1"], dtype=object),
    }
    stored = []
    for i, values in enumerate(spellings.values()):
        frame = batch(4, store=values, request_id=[f"r{i}-{j}" for j in range(4)])
        if fmt != "frame":
            frame = read_table(write(frame, tmp_path / f"b{i}.{fmt}"))
        log_predictions(store, spec, frame, PSEUDO)
        back = store.read_predictions(spec).set_index("request_id")
        stored.append(back.loc[f"r{i}-0", "store"])
    assert stored == ["1", "1", "1"]
    assert "1.0" not in set(store.read_predictions(spec)["store"].dropna())


def test_baseline_stats_and_model_input_use_the_same_text() -> None:
    spec = make_spec()
    # 10 rows of the top value: stats.json names a category only when it holds at least
    # 10 rows (issue 15: no single customer's value in a statistic).
    frame = batch(12, store=[1.0] * 10 + [np.nan, 2.0])
    stats = column_stats(frame, {"store": "categorical"})
    assert stats["store"]["top"] == "1"
    assert feature_frame(spec, frame)["store"].tolist()[:2] == ["1", "1"]

"""Statistics that do not cry wolf, for both engines: too few rows, high-cardinality
categories, huge samples."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.monitoring.check import compare_frames
from driftline.monitoring.filecheck import check_files
from driftline.monitoring.guards import RARE, pool_rare, rare_categories
from driftline.monitoring.plan import DriftPlan
from tests.conftest import cli_runner


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", RuntimeWarning)


def _same_distribution(path: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pd.DataFrame({"x": rng.normal(size=rows), "c": rng.choice(list("abc"), rows)}).to_csv(
        path, index=False
    )
    return path


@pytest.mark.parametrize("rows", [3, 100])
def test_a_file_check_on_too_few_rows_gives_no_verdict(tmp_path: Path, rows: int) -> None:
    ref = _same_distribution(tmp_path / "ref.csv", 2000, 0)
    cur = _same_distribution(tmp_path / "cur.csv", rows, 1)
    check = check_files(ref, cur)
    assert check.status == "insufficient_data" and check.result is None
    assert check.rows == (2000, rows) and check.min_rows == 500
    assert f"only {rows:,} rows in the current file" in check.reason
    # the rule is the spec's monitoring.min_rows, or the option
    assert check_files(ref, cur, min_rows=rows).status in {"ok", "drift"}


def test_cli_drift_check_reports_insufficient_data_and_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = _same_distribution(tmp_path / "ref.csv", 600, 0)
    cur = _same_distribution(tmp_path / "cur.csv", 3, 1)
    out = tmp_path / "out.json"
    cli = cli_runner(monkeypatch, capsys)
    code, text = cli(
        "drift",
        "check",
        "--reference",
        str(ref),
        "--current",
        str(cur),
        "--json",
        str(out),
        "--fail-on-drift",
    )
    assert code == 0 and "insufficient data" in text
    data = json.loads(out.read_text())
    assert data["status"] == "insufficient_data" and data["rows"]["current"] == 3
    assert "dataset_drift" not in data


def _long_tail(rows: int, seed: int, roll: int = 0) -> pd.DataFrame:
    values = np.asarray([f"sku{i}" for i in range(3000)], dtype=object)
    weights = np.roll(1 / np.arange(1, 3001), roll)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"sku": values[rng.choice(3000, rows, p=weights / weights.sum())]})


@pytest.mark.parametrize("engine", ["evidently", "native"])
def test_a_high_cardinality_category_from_one_distribution_is_not_drift(engine: str) -> None:
    reference, same, moved = _long_tail(15_000, 0), _long_tail(15_000, 1), _long_tail(15_000, 2, 5)
    plan = replace(DriftPlan.from_columns({"sku": "categorical"}), engine=engine)
    quiet = compare_frames(reference, same, plan).columns[0]
    assert quiet.method == "jensenshannon" and not quiet.drifted and quiet.score < 0.07
    assert compare_frames(reference, moved, plan).columns[0].drifted
    # without the rule, sampling noise on rare values is "drift" (the 0.24)
    raw = compare_frames(reference, same, replace(plan, min_category_count=0)).columns[0]
    assert raw.drifted and raw.score > 0.2


def test_rare_categories_pool_by_expected_count_in_the_smaller_sample() -> None:
    ref = {"a": 500, "b": 400, "r1": 3, "r2": 2}
    cur = {"a": 50, "b": 40, "r3": 1}
    # pooled share x 90 rows: r1 ~0.27, r2 ~0.18, r3 ~0.09; a and b far above 10
    assert rare_categories(ref, cur, 10) == {"r1", "r2", "r3"}
    assert rare_categories(ref, cur, 0) == set()
    assert rare_categories({"a": 100, "r": 1}, {"a": 100}, 10) == set()  # one alone stays
    r, c = pool_rare(pd.Series(["a"] * 99 + ["r1", None, "r2"]), pd.Series(["a"] * 99 + ["r3"]), 10)
    assert r.tolist()[98:] == ["a", RARE, None, RARE] and c.tolist()[98:] == ["a", RARE]


def test_p_value_tests_need_an_effect_on_huge_samples() -> None:
    rng = np.random.default_rng(3)
    rows = 400_000
    reference = pd.DataFrame({"x": rng.normal(size=rows)})
    trivial = pd.DataFrame({"x": rng.normal(0.015, 1, rows)})  # 1.5% of a std
    real = pd.DataFrame({"x": rng.normal(0.05, 1, rows)})
    plan = replace(DriftPlan.from_columns({"x": "numerical"}), methods={"x": "ks"}, engine="native")
    tiny = compare_frames(reference, trivial, plan).columns[0]
    assert tiny.score < 1e-4 and not tiny.drifted  # significant, but below the 0.02 effect
    assert compare_frames(reference, trivial, replace(plan, min_effect=0)).columns[0].drifted
    assert compare_frames(reference, real, plan).columns[0].drifted


def test_a_column_of_only_rare_categories_is_said_to_be_untestable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """150k product ids replaced by another 150k: every category is rare, so the pooled
    test scores 0; the check says so (note, CLI, JSON) and the unseen-category finding
    shows the move, on both engines' paths (frames and Parquet profiles)."""
    rng = np.random.default_rng(4)
    rows = 30_000
    ref = pd.DataFrame({"sku": rng.integers(0, 150_000, rows).astype(str)})
    cur = pd.DataFrame({"sku": rng.integers(50_000, 200_000, rows).astype(str)})
    for frame in (ref, cur):
        frame["x"] = rng.normal(size=rows)
    plan = DriftPlan.from_columns({"sku": "categorical", "x": "numerical"})
    for engine in ("evidently", "native"):
        result = compare_frames(ref, cur, replace(plan, engine=engine))
        assert [n for n in result.notes if n.startswith("sku: all ")], engine
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    out = tmp_path / "out.json"
    code, text = cli_runner(monkeypatch, capsys)(
        "drift", "check", "--reference", str(tmp_path / "ref.parquet"),
        "--current", str(tmp_path / "cur.parquet"), "--categorical", "sku",
        "--numerical", "x", "--engine", "native", "--json", str(out),
    )  # fmt: skip
    assert code == 0 and "note: sku: all " in " ".join(text.split())
    data = json.loads(out.read_text())
    assert data["notes"] and data["notes"][0].startswith("sku: all ")
    assert [q for q in data["quality"] if q["column"] == "sku"]
    assert data["not_checked"] == {}

"""Window profiles in place of rows: the profile-to-result path, the out-of-range bound,
borderline scores, and reading profile files."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.monitoring.check import compare_frames
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.profilecheck import compare_profiles, outside_range
from driftline.monitoring.profiles import NumericProfile, profile_frame, to_json
from driftline.monitoring.windowprofile import read_window_profile
from tests.unit.test_native_parity import COLUMNS, dataset


@pytest.mark.parametrize(("rows", "seed", "shift"), [(1500, 21, 0.0), (3000, 22, 0.4)])
def test_profiles_give_the_verdicts_of_the_rows(rows: int, seed: int, shift: float) -> None:
    """compare_profiles on the two samples' profiles = compare_frames (native engine) on
    their rows: every column's method, score and verdict, and the quality rules."""
    ref, cur = dataset(rows, seed, shift)
    cur.loc[: rows // 10, "cat"] = "new"  # unseen categories
    cur.loc[: rows // 20, "normal"] = 50.0  # out of range, above
    cur.loc[rows // 2 : rows // 2 + 30, "skewed"] = np.nan
    plan = replace(DriftPlan.from_columns(COLUMNS), engine="native")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = compare_frames(ref, cur, plan)
    ref_p = profile_frame(ref, COLUMNS)
    checked = compare_profiles(ref_p, profile_frame(cur, COLUMNS, ref_p), plan)
    got = checked.result
    # a band across its threshold stays borderline (no values to recompute it): it holds
    # the exact score, and the result says so; every other verdict is the rows' own
    borderline = {c: s for c, s in checked.scores.items() if s.borderline}
    assert [n.split(":")[0] for n in got.notes] == list(borderline)
    for c, s in borderline.items():
        assert s.lo <= want.column(c).score <= s.hi
    settled = [c for c in got.columns if c.name not in borderline]
    assert len(settled) >= len(COLUMNS) - 1
    assert [(c.name, c.method, c.drifted) for c in settled] == [
        (c.name, c.method, c.drifted) for c in want.columns if c.name not in borderline
    ]
    assert [c.score for c in settled] == pytest.approx(
        [c.score for c in want.columns if c.name not in borderline]
    )
    assert [c.missing_share for c in got.columns] == pytest.approx(
        [c.missing_share for c in want.columns]
    )
    assert {(q.column, q.rule) for q in got.quality} == {(q.column, q.rule) for q in want.quality}
    assert {(q.column, q.rule) for q in got.quality} >= {
        ("cat", "unseen_categories"),
        ("normal", "out_of_range"),
    }
    assert (got.rows_reference, got.rows_current, got.dataset_drift) == (
        want.rows_reference,
        want.rows_current,
        want.dataset_drift,
    )


def test_stored_findings_name_no_unseen_category() -> None:
    ref, cur = dataset(1000, 23, 0.0)
    cur.loc[:200, "cat"] = "only-one-customer-sent-this"
    plan = DriftPlan.from_columns(COLUMNS)
    ref_p = profile_frame(ref, COLUMNS)
    cur_p = profile_frame(cur, COLUMNS, ref_p)
    with warnings.catch_warnings():  # chi-square of a category the reference lacks
        warnings.simplefilter("ignore")
        named = compare_profiles(ref_p, cur_p, plan).result.quality
        counted = compare_profiles(ref_p, cur_p, plan, name_unseen=False).result.quality
    assert "only-one-customer" in next(q.detail for q in named if q.column == "cat")
    detail = next(q.detail for q in counted if q.column == "cat")
    assert "only-one-customer" not in detail and "not named" in detail


def _numeric(values: list[float], reference: NumericProfile | None = None) -> NumericProfile:
    frame = pd.DataFrame({"x": values})
    ref = {"x": reference} if reference is not None else None
    profile = profile_frame(frame, {"x": "numerical"}, ref)["x"]
    assert isinstance(profile, NumericProfile)
    return profile


def test_out_of_range_from_the_outer_bins() -> None:
    """Exact where the profile can tell (window within the range, few distinct values, the
    reference's minimum as the bound), an upper bound where the outer bin also holds values
    at the reference's extreme or between it and a wider range."""
    rng = np.random.default_rng(0)
    ref = _numeric(list(rng.normal(0, 1, 2000)))
    assert ref.min is not None and ref.max is not None
    inside = _numeric(list(rng.uniform(ref.min, ref.max, 500)), ref)
    assert outside_range(ref, inside, ref.min, ref.max) == (0, 0, True)
    values = list(rng.normal(0, 1, 500)) + [ref.min - 1] * 7 + [ref.max] * 5 + [ref.max + 1] * 3
    window = _numeric(values, ref)
    below, above, exact = outside_range(ref, window, ref.min, ref.max)
    assert below == 7 + sum(v < ref.min for v in values[:500])
    assert above >= 3 + 5 and not exact  # the 5 at the maximum are counted too: "at most"
    wider = outside_range(ref, window, ref.min - 0.5, ref.max + 0.5)
    assert wider[0] >= 7 and not wider[2]  # values in [lo, min) are in the bin too
    # a column of few values keeps them: the maximum itself is not out of range
    steps = _numeric([0.0, 1.0, 2.0, 3.0] * 50)
    at_max = _numeric([3.0] * 40 + [4.0] * 2 + [-1.0], steps)
    assert outside_range(steps, at_max, 0.0, 3.0) == (1, 2, True)


def test_a_straddling_score_is_borderline_without_values() -> None:
    """KS below 10,000 rows needs scipy's exact p-value: from profiles alone the band is
    [0, 1]; with the values it is recomputed, without them the note says so."""
    ref, cur = dataset(800, 24, 0.3)
    plan = replace(DriftPlan.from_columns(COLUMNS), methods={"normal": "ks"})
    ref_p = profile_frame(ref, COLUMNS)
    cur_p = profile_frame(cur, COLUMNS, ref_p)
    alone = compare_profiles(ref_p, cur_p, plan)
    assert alone.scores["normal"].borderline
    assert any(n.startswith("normal: borderline, ks between 0 and 1") for n in alone.result.notes)

    def values(column: str) -> tuple[np.ndarray, np.ndarray]:
        return ref[column].dropna().to_numpy(float), cur[column].dropna().to_numpy(float)

    exact = compare_profiles(ref_p, cur_p, plan, values=values)
    assert exact.scores["normal"].recomputed and exact.result.notes == ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = compare_frames(ref, cur, replace(plan, engine="native")).column("normal")
    assert exact.result.column("normal").score == pytest.approx(want.score)


def test_reading_a_window_profile(tmp_path: Path) -> None:
    ref = profile_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), {"x": "numerical"})
    about = {
        "role": "window",
        "model": "m",
        "version": "3",
        "window": ["2026-09-01T00:00:00+00:00", "2026-09-02T00:00:00+00:00"],
    }
    path = tmp_path / "w.json"
    path.write_text(to_json(ref, about))
    for source in (str(path), path.as_uri()):  # a path, and a URL fsspec opens
        got = read_window_profile(source)
        assert (got.model, got.version, got.rows, got.window[1].day) == ("m", "3", 3, 2)
    problems = {
        "{not json": "not a driftline profile document",
        '{"format": 1, "columns": {"x": {"kind": "numerical", "count": 3, "missing": 0, '
        '"infinite": 0, "min": 1, "max": 3, "center": 0, "sum": 6, "sum_sq": 14, '
        '"edges": [1, 2, 3], "counts": [0, 1, 1, 9], "values": null}}}': "do not add up",
        to_json(ref, {"role": "reference"}): "is a reference profile",
        to_json(ref, {"window": ["yesterday", "today"]}): "not two ISO 8601 times",
    }
    for text, message in problems.items():
        path.write_text(text)
        with pytest.raises(DataError, match=message):
            read_window_profile(path)
    with pytest.raises(DataError, match="cannot read the window profile"):
        read_window_profile(tmp_path / "absent.json")

"""Column profiles: exact merges, JSON round trips, quantile bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.monitoring.profiles import (
    CategoricalProfile,
    NumericProfile,
    bounded,
    from_json,
    merge,
    merge_all,
    profile_batches,
    profile_frame,
    profile_numbers,
    to_json,
)

COLUMNS = {"x": "numerical", "d": "numerical", "c": "categorical"}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    x[::17] = np.nan
    x[5] = np.inf
    return pd.DataFrame(
        {
            "x": x,
            "d": rng.integers(0, 4, n).astype(float),
            "c": rng.choice(["a", "b", None, "c"], n),
        }
    )


def test_chunked_profiles_merge_to_the_single_pass_profile() -> None:
    reference = profile_frame(_frame(3000, 0), COLUMNS, bins=64)
    window = _frame(5000, 1)
    whole = profile_frame(window, COLUMNS, reference)
    chunks = [
        profile_frame(window.iloc[i : i + 700], COLUMNS, reference) for i in range(0, 5000, 700)
    ]
    merged = merge_all(chunks)
    batches = (window.iloc[i : i + 700] for i in range(0, 5000, 700))
    assert profile_batches(batches, COLUMNS, reference) == merged
    gathered = profile_batches(
        (window.iloc[i : i + 700] for i in range(0, 5000, 700)), COLUMNS, reference, gather=2000
    )
    assert gathered["x"].counts == merged["x"].counts and gathered["c"] == merged["c"]
    empty = profile_batches([], COLUMNS, reference)
    assert [p.count for p in empty.values()] == [0, 0, 0]
    # associativity: merging in another grouping gives the same counts
    regrouped = merge_all([merge_all(chunks[:3]), merge_all(chunks[3:])])
    for name in COLUMNS:
        a, b, c = whole[name], merged[name], regrouped[name]
        if isinstance(a, NumericProfile):
            assert isinstance(b, NumericProfile) and isinstance(c, NumericProfile)
            assert a.counts == b.counts == c.counts
            assert (a.count, a.missing, a.infinite, a.min, a.max) == (
                b.count,
                b.missing,
                b.infinite,
                b.min,
                b.max,
            )
            assert a.values == b.values
            assert b.sum == pytest.approx(a.sum) and b.sum_sq == pytest.approx(a.sum_sq)
        else:
            assert a == b == c
    x = whole["x"]
    assert isinstance(x, NumericProfile)
    assert x.infinite == 1 and x.missing == len(range(0, 5000, 17))
    assert x.values is None  # continuous: too many values to keep
    assert whole["d"].values is not None and len(whole["d"].values) == 4  # type: ignore[union-attr]
    finite = window["x"][np.isfinite(window["x"])]
    assert x.std == pytest.approx(float(np.std(finite)), rel=1e-9)


def test_bins_count_each_value_by_the_edges_at_or_below_it() -> None:
    """Bin i holds the values with i edges <= them (numpy.searchsorted side="right"),
    values on an edge, repeated values and -0.0 included."""
    rng = np.random.default_rng(3)
    edges = np.array([-1.0, 0.0, 0.5, 2.0, 7.0])
    x = np.concatenate([edges, edges, [-0.0, -3.0, 9.0, np.nan, np.inf], rng.normal(0, 3, 500)])
    x = np.concatenate([x, np.round(rng.normal(0, 2, 500))])
    got = profile_numbers(x, edges).counts
    finite = x[np.isfinite(x)]
    assert got == tuple(np.bincount(np.searchsorted(edges, finite, side="right"), minlength=6))
    assert profile_numbers(x, ()).counts == (finite.size,)


def test_quantile_bounds_hold_the_true_quantile() -> None:
    reference = profile_frame(_frame(4000, 2), COLUMNS, bins=128)
    window = _frame(4000, 3)
    x = profile_frame(window, COLUMNS, reference)["x"]
    assert isinstance(x, NumericProfile)
    values = window["x"][np.isfinite(window["x"])].to_numpy()
    for q in (0.01, 0.25, 0.5, 0.9, 0.999):
        lo, hi = x.quantile_bounds(q)
        true = float(np.quantile(values, q, method="inverted_cdf"))
        assert lo <= true <= hi


def test_json_round_trip_and_bad_documents() -> None:
    profiles = profile_frame(_frame(500, 4), COLUMNS, bins=32)
    assert from_json(to_json(profiles)) == profiles
    with pytest.raises(DataError, match="not a driftline profile"):
        from_json('{"format": 99}')


def test_merge_refuses_mismatched_profiles_and_bounded_folds_rare_categories() -> None:
    a = profile_frame(_frame(300, 5), COLUMNS, bins=16)
    b = profile_frame(_frame(300, 6), COLUMNS, bins=16)
    with pytest.raises(ValueError, match="same edges"):
        merge(a["x"], b["x"])
    with pytest.raises(ValueError, match="numerical profile with a categorical"):
        merge(a["x"], a["c"])
    cat = CategoricalProfile(count=10, missing=1, categories=(("a", 5), ("b", 3), ("c", 1)))
    small = bounded(cat, 2)
    assert small.categories == (("a", 5), ("b", 3)) and small.other == 1


def test_an_arrow_table_profiles_as_its_pandas_frame_does() -> None:
    """Arrow input (a Parquet row group) gives the pandas frame's profile: text as
    dictionaries, "1.0" and 1 as one category, nulls missing, integers with nulls as floats,
    and the bins of the sorted values as numpy.searchsorted puts them."""
    import pyarrow as pa

    frame = _frame(4000, 2)
    frame["c"] = frame["c"].where(frame.index % 5 != 0, "1.0")
    frame["k"] = pd.array(np.where(np.arange(4000) % 7 == 0, None, np.arange(4000) % 9), "Int64")
    frame["n"] = np.where(np.arange(4000) % 3 == 0, 1, 2)  # numbers as a categorical column
    columns = {**COLUMNS, "k": "numerical", "n": "categorical"}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(2, "c", table.column("c").dictionary_encode())
    reference = profile_frame(frame, columns, bins=64)
    assert profile_frame(table, columns, bins=64) == reference
    window = _frame(3000, 5).assign(k=1.0, n=1)
    assert profile_frame(pa.Table.from_pandas(window), columns, reference) == profile_frame(
        window, columns, reference
    )
    x = reference["x"]
    assert isinstance(x, NumericProfile)
    finite = frame["x"][np.isfinite(frame["x"])].to_numpy()
    expected = np.bincount(np.searchsorted(x.edges, finite, side="right"), minlength=65)
    assert x.counts == tuple(expected.tolist())
    c = reference["c"]
    assert isinstance(c, CategoricalProfile) and "1" in c.as_dict() and "1.0" not in c.as_dict()

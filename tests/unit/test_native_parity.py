"""Parity: the native engine gives Evidently's per-column verdicts.

Each dataset holds one column of every kind (normal, skewed, heavy-tailed, discrete,
few-valued, constant on one side, categorical, sparse-category), half of them shifted in
the current sample by amounts around the thresholds; both engines run through the same
``compare_frames`` and must agree on every column's method and verdict. Sizes 200 to
100k here; the 1M-row case is in ``bench/drift.py``. Documented exceptions: none.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from driftline.monitoring.check import compare_frames
from driftline.monitoring.engines import ENGINES, method_problem
from driftline.monitoring.plan import DriftPlan

COLUMNS = {
    "normal": "numerical",
    "skewed": "numerical",
    "heavy": "numerical",
    "discrete": "numerical",
    "few": "numerical",
    "const_ref": "numerical",
    "cat": "categorical",
    "sparse": "categorical",
}


def dataset(rows: int, seed: int, shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current samples of ``rows`` rows; ``shift`` moves every column."""
    rng = np.random.default_rng(seed)

    def frame(s: float) -> pd.DataFrame:
        sparse = np.asarray([f"v{i}" for i in range(400)], dtype=object)
        weights = 1 / np.arange(1, 401) ** 1.1
        shifted = np.roll(weights, int(40 * s))
        return pd.DataFrame(
            {
                "normal": rng.normal(s * 0.3, 1, rows),
                "skewed": rng.lognormal(s * 0.15, 1, rows),
                "heavy": rng.standard_t(2, rows) + s * 0.2,
                "discrete": rng.poisson(30 + 3 * s, rows).astype(float),
                "few": rng.choice([0.0, 1.0, 2.0], rows, p=[0.5 - 0.1 * s, 0.3, 0.2 + 0.1 * s]),
                "const_ref": np.full(rows, 1.0) if s == 0 else rng.choice([1.0, 2.0], rows),
                "cat": np.asarray(list("abcd"), dtype=object)[
                    rng.choice(4, rows, p=[0.4 - 0.1 * s, 0.3, 0.2, 0.1 + 0.1 * s])
                ],
                "sparse": sparse[rng.choice(400, rows, p=shifted / shifted.sum())],
            }
        )

    return frame(0.0), frame(shift)


def verdicts(ref: pd.DataFrame, cur: pd.DataFrame, plan: DriftPlan, engine: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compare_frames(ref, cur, replace(plan, engine=engine))
    assert result.engine == engine
    return {c.name: (c.method, c.drifted) for c in result.columns}


CASES = [
    (200, 1, 0.0),
    (200, 2, 1.0),
    (1000, 3, 0.5),
    (2000, 4, 0.3),
    (2000, 5, 1.0),
    (20_000, 6, 0.2),
    (100_000, 7, 0.1),
]


@pytest.mark.parametrize(("rows", "seed", "shift"), CASES)
def test_default_methods_give_evidentlys_verdicts(rows: int, seed: int, shift: float) -> None:
    ref, cur = dataset(rows, seed, shift)
    plan = replace(DriftPlan.from_columns(COLUMNS), min_effect=0.0, min_category_count=0.0)
    native = verdicts(ref, cur, plan, "native")
    assert native == verdicts(ref, cur, plan, "evidently")


METHOD_SETS = [
    {
        "normal": "psi",
        "skewed": "kl_div",
        "heavy": "jensenshannon",
        "discrete": "hellinger",
        "cat": "chisquare",
        "sparse": "psi",
        "few": "z",
    },
    {
        "normal": "ks",
        "skewed": "t_test",
        "heavy": "wasserstein",
        "discrete": "psi",
        "cat": "hellinger",
        "sparse": "g_test",
        "few": "kl_div",
    },
]


@pytest.mark.parametrize("methods", METHOD_SETS)
@pytest.mark.parametrize(("rows", "seed", "shift"), [(500, 8, 0.5), (10_000, 9, 0.15)])
def test_chosen_methods_give_evidentlys_verdicts(
    methods: dict[str, str], rows: int, seed: int, shift: float
) -> None:
    ref, cur = dataset(rows, seed, shift)
    if "z" in methods.values():  # z tests a column of two values
        ref["few"], cur["few"] = ref["few"].clip(upper=1.0), cur["few"].clip(upper=1.0)
        methods = {**methods, "few": "jensenshannon"}
    plan = replace(DriftPlan.from_columns(COLUMNS), methods=methods, min_effect=0.0)
    plan = replace(plan, min_category_count=0.0)
    native = verdicts(ref, cur, plan, "native")
    assert native == verdicts(ref, cur, plan, "evidently")


def test_native_refuses_the_methods_it_does_not_implement_by_name() -> None:
    native = ENGINES.get("native")
    for method in ("anderson", "mannw", "TVD", "empirical_mmd"):
        why = method_problem(native, method, "numerical")
        assert why is not None and "does not implement" in why and "evidently" in why
    assert method_problem(native, "wasserstein", "numerical") is None


def test_a_stored_reference_profile_gives_the_same_verdicts() -> None:
    from driftline.monitoring.profiles import profile_frame

    ref, cur = dataset(3000, 10, 0.4)
    plan = replace(DriftPlan.from_columns(COLUMNS), engine="native")
    stored = profile_frame(ref, COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = compare_frames(ref, cur, plan)
        reused = compare_frames(ref, cur, plan, reference_profiles=stored)
    assert [(c.name, c.score, c.drifted) for c in reused.columns] == [
        (c.name, c.score, c.drifted) for c in fresh.columns
    ]
    assert any(c.drifted for c in fresh.columns) and not all(c.drifted for c in fresh.columns)


def test_parquet_files_profiled_in_row_groups_give_evidentlys_verdicts(tmp_path) -> None:
    from driftline.monitoring.filecheck import check_files

    ref, cur = dataset(25_000, 11, 0.3)
    cur.loc[:600, "cat"] = "new"  # an unseen category: a data-quality finding
    paths = [tmp_path / "ref.parquet", tmp_path / "cur.parquet"]
    for frame, path in zip((ref, cur), paths, strict=True):
        frame.to_parquet(path, row_group_size=4000)
    columns = dict(numerical=[c for c, t in COLUMNS.items() if t == "numerical"])
    columns["categorical"] = [c for c, t in COLUMNS.items() if t == "categorical"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profiled = check_files(*paths, **columns).result  # auto: native at 25k rows
        plain = check_files(*paths, **columns, engine="evidently").result
    assert profiled is not None and plain is not None
    assert profiled.engine == "native" and plain.engine == "evidently"
    verdicts = {c.name: (c.method, c.drifted) for c in profiled.columns}
    assert verdicts == {c.name: (c.method, c.drifted) for c in plain.columns}
    assert {(q.column, q.rule) for q in profiled.quality} == {
        (q.column, q.rule) for q in plain.quality
    }
    assert ("cat", "unseen_categories") in {(q.column, q.rule) for q in profiled.quality}


@pytest.mark.parametrize("exact_steps", [2**53, 1], ids=["quantile-steps", "cdf-fallback"])
def test_wasserstein_1_equals_scipys_on_ties_and_unequal_sizes(
    monkeypatch: pytest.MonkeyPatch, exact_steps: int
) -> None:
    from scipy.stats import wasserstein_distance

    from driftline.monitoring.engines import native

    monkeypatch.setattr(native, "_EXACT_STEPS", exact_steps)
    rng = np.random.default_rng(3)
    for n, m in [(1, 1), (1, 5), (3, 7), (100, 37), (1000, 999), (10, 10), (6, 4), (5000, 7001)]:
        u = rng.normal(size=n)
        v = rng.integers(0, 3, size=m).astype(float)  # ties, and values shared with u
        v[: m // 2] = rng.choice(u, size=m // 2)
        assert native.wasserstein_1(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-12)
    with pytest.raises(ValueError, match="both sides"):
        native.wasserstein_1(np.array([]), np.array([1.0]))

"""Profiles computed inside PostgreSQL equal the local profiler's, on real tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from driftline.config.errors import DataError
from driftline.data.ingest import log_predictions
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.data.windows import read_window
from driftline.monitoring.profilers.database import profile_relation, profile_window
from driftline.monitoring.profiles import (
    CategoricalProfile,
    NumericProfile,
    bounded,
    profile_frame,
)
from driftline.specs import ModelSpec

COLUMNS = {"x": "numerical", "d": "numerical", "empty": "numerical", "c": "categorical"}


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Skewed values with NULL, NaN and +/-inf; a discrete column; an all-missing column;
    categories with missing values and a long tail (some rare)."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n) * 10 - 5
    x[::17] = np.nan
    x[3::29] = np.inf
    x[5::31] = -np.inf
    tail = [f"v{i:03d}" for i in rng.zipf(1.6, n) % 400]
    c = np.where(rng.random(n) < 0.05, None, np.array(tail, dtype=object))
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "x": x,
            "d": rng.integers(0, 5, n).astype(float),
            "empty": np.full(n, np.nan),
            "c": c,
        }
    )


def assert_same(got: dict, want: dict) -> None:  # type: ignore[type-arg]
    assert list(got) == list(want)
    for name, w in want.items():
        g = got[name]
        assert type(g) is type(w), name
        if isinstance(w, NumericProfile):
            assert (g.count, g.missing, g.infinite, g.counts, g.values) == (
                w.count,
                w.missing,
                w.infinite,
                w.counts,
                w.values,
            ), name
            assert (g.min, g.max, g.edges, g.center) == (w.min, w.max, w.edges, w.center), name
            assert math.isclose(g.sum, w.sum, rel_tol=1e-9, abs_tol=1e-6), name
            assert math.isclose(g.sum_sq, w.sum_sq, rel_tol=1e-9), name
        else:
            assert isinstance(g, CategoricalProfile)
            assert g == w, name


@pytest.fixture
def pg_engine(pg_url: str):  # type: ignore[no-untyped-def]
    engine = sa.create_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_pushdown_profile_equals_the_local_profile(pg_engine: sa.Engine) -> None:
    reference = profile_frame(_frame(4000, 0), COLUMNS, bins=256)
    window = _frame(6000, 1)
    window.to_sql("events", pg_engine, index=False)
    with pg_engine.begin() as conn:  # NaN stored as NaN (to_sql writes NULL for NaN)
        conn.execute(sa.text("UPDATE events SET x = 'NaN'::float8 WHERE id % 101 = 7"))
    window.loc[window["id"] % 101 == 7, "x"] = np.nan

    got = profile_relation(pg_engine, "events", reference)
    assert_same(got, profile_frame(window, COLUMNS, reference))
    assert got["x"].infinite > 0 and got["x"].missing > 0 and got["c"].missing > 0

    part = window[window["id"] >= 2500]
    got = profile_relation(pg_engine, "events", reference, where="id >= :lo", params={"lo": 2500})
    assert_same(got, profile_frame(part.reset_index(drop=True), COLUMNS, reference))

    cut = profile_relation(pg_engine, "events", reference, max_categories=25)
    local = profile_frame(window, COLUMNS, reference)
    assert cut["c"] == bounded(local["c"], 25)
    assert cut["c"].other > 0


@pytest.mark.postgres
def test_pushdown_refuses_what_it_cannot_profile(pg_engine: sa.Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reference = profile_frame(_frame(500, 0), COLUMNS, bins=16)
    _frame(100, 1).drop(columns=["d"]).to_sql("events", pg_engine, index=False)
    with pytest.raises(DataError, match="'d'"):
        profile_relation(pg_engine, "events", reference)
    with pytest.raises(DataError, match="no numerical column 'x'"):
        profile_relation(pg_engine, "events", {}, columns={"x": "numerical"})
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(DataError, match="needs PostgreSQL"):
        profile_relation(sqlite, "events", reference)


@pytest.mark.postgres
def test_store_window_profiled_in_the_database(pg_url: str, spec: ModelSpec) -> None:
    from tests.simdata import scenario, window

    sim = scenario("stable")
    store = Store(pg_url)
    try:
        log_predictions(store, spec, window(sim, 0, 2), Pseudonymizer(b"k" * 32))
        start = pd.Timestamp(sim.predictions[spec.model.timestamp].min()).floor("D") + pd.Timedelta(
            days=1
        )
        end = start + pd.Timedelta(days=1)
        rows = read_window(store, spec, start, end)
        kinds = spec.column_types_with_prediction
        reference = profile_frame(window(sim, 0, 1), kinds, bins=128)
        got = profile_window(store, spec, reference, start, end)
        assert got[next(iter(kinds))].count == len(rows) > 0
        assert_same(got, profile_frame(rows, kinds, reference))
    finally:
        store.dispose()


@pytest.mark.postgres
def test_profile_commands_write_equal_profiles_locally_and_in_the_database(
    pg_url: str, spec: ModelSpec, home, tmp_path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """`driftline profile reference` then `profile window --on local|database`: the same
    profile from both; a bad reference file is exit 2 and writes nothing."""
    from driftline.monitoring.profiles import from_json
    from tests.conftest import SPECS_DIR, cli_runner
    from tests.simdata import scenario, window

    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", "k" * 32)
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", pg_url)
    cli = cli_runner(monkeypatch, capsys)
    sim = scenario("stable")
    window(sim, 0, 0).to_parquet(tmp_path / "ref.parquet", index=False)
    store = Store(pg_url)
    log_predictions(store, spec, window(sim, 1, 2), Pseudonymizer(b"k" * 32))
    store.dispose()
    end = (
        pd.Timestamp(sim.predictions[spec.model.timestamp].min()).floor("D") + pd.Timedelta(days=2)
    ).isoformat()
    ref, local, pushed = (tmp_path / n for n in ("ref.json", "local.json", "db.json"))
    name = spec.name
    code, out = cli(
        "profile", "reference", "-m", name, str(tmp_path / "ref.parquet"), "-o", str(ref)
    )
    assert code == 0, out
    for path, on in ((local, "local"), (pushed, "database")):
        code, out = cli(
            "profile", "window", "-m", name, "-r", str(ref), "-o", str(path),
            "--window-end", end, "--on", on,
        )  # fmt: skip
        assert code == 0, out
    got, want = from_json(pushed.read_text()), from_json(local.read_text())
    assert next(iter(want.values())).count > 0
    assert_same(got, want)

    (tmp_path / "bad.json").write_text('{"format": 99}')
    code, out = cli(
        "profile", "window", "-m", name, "-r", str(tmp_path / "bad.json"), "-o",
        str(tmp_path / "never.json"), "--window-end", end,
    )  # fmt: skip
    assert code == 2 and "not a driftline profile" in out
    assert not (tmp_path / "never.json").exists()


@pytest.mark.postgres
def test_a_window_profiled_in_the_database_feeds_a_monitor_run(
    pg_url: str, spec: ModelSpec
) -> None:
    """The pipeline bug's window profiled inside PostgreSQL on the baseline's reference
    bins and fed to run_monitor: the per-column verdicts of the row-based native run."""
    from driftline.data.windows import window_bounds
    from driftline.lifecycle.baseline import reference_profile
    from driftline.monitoring.engines import ENGINES
    from driftline.monitoring.monitor import run_monitor
    from driftline.monitoring.windowprofile import WindowProfile
    from tests.simdata import baseline_from, event_columns, event_start, scenario, window

    sim = scenario("pipeline_bug")
    day = event_start(sim)
    store = Store(pg_url)
    try:
        log_predictions(store, spec, window(sim, day - 1, day), Pseudonymizer(b"k" * 32))
        first = pd.Timestamp(sim.predictions[spec.model.timestamp].min()).floor("D")
        start, end = window_bounds(spec.monitoring, first + pd.Timedelta(days=day + 1))
        baseline = baseline_from(sim, spec)
        kinds = spec.column_types_with_prediction
        pushed = profile_window(store, spec, reference_profile(baseline, kinds), start, end)
        profile = WindowProfile(pushed, "postgres", model=spec.name, window=(start, end))
        fed = run_monitor(store, spec, baseline, profile=profile)
        rows = run_monitor(store, spec, baseline, end, engine=ENGINES.get("native"))
    finally:
        store.dispose()
    assert fed.error is None and rows.error is None and fed.rows == rows.rows > 0
    assert [(c.name, c.method, c.drifted) for c in fed.result.columns] == [
        (c.name, c.method, c.drifted) for c in rows.result.columns
    ]
    assert set(fed.decision.drifted_columns) == event_columns(sim)

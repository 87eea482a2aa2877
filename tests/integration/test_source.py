"""A model whose predictions live in the user's own table (``source:``), on a real SQLite
file and a real PostgreSQL schema: every window reads the same rows as driftline's store
would, a monitor run reads there and writes nothing there, and every mistake (variable,
table, column) is a clear error."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from driftline.config.errors import DataError, SourceError
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.source import TableSource, open_source, source_url
from driftline.data.store import ENTITY_KEY, Store
from driftline.data.windows import (
    data_clock,
    read_labelled,
    read_window,
    read_window_batches,
    usable_rows,
)
from driftline.devtools.simulate import Simulation, simulate
from driftline.monitoring.monitor import run_monitor
from driftline.monitoring.runs import list_runs
from driftline.specs import ModelSpec, parse_spec
from tests.simdata import baseline_from

ENV = "DL_TEST_SHOP_DB_URL"
PSEUDO = Pseudonymizer(b"source-test-key-0123456789")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate("stable", days=12, rows_per_day=300, seed=7)


def start_of(sim: Simulation) -> pd.Timestamp:
    return pd.Timestamp(sim.timeline["start"])


@dataclass
class Shop:
    """The user's database: ``scores`` (predictions, plus the label and when it became
    known), ``outcomes`` (the labels, one row per request)."""

    url: str
    dialect: str
    schema: str | None = None


def write_shop(
    url: str, sim: Simulation, schema: str | None = None, *, version: str | None = None
) -> None:
    """Create the user's tables the way a serving app would have (driftline not involved);
    ``version``: the model version the app logged with every score."""
    scores = sim.predictions.drop(columns=["churn_score"]).merge(
        sim.labels.rename(columns={"labelled_at": "label_known_at"}), on="request_id", how="left"
    )
    if version is not None:
        scores["model_version"] = version
    outcomes = sim.labels.rename(columns={"labelled_at": "known_at"})
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            scores.to_sql("scores", conn, schema=schema, index=False)
            outcomes.to_sql("outcomes", conn, schema=schema, index=False)
            conn.execute(sa.text("CREATE VIEW scores_view AS SELECT * FROM scores"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest, tmp_path: Path, sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> Shop:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.db'}"
        found = Shop(url, "sqlite")
    else:
        url = request.getfixturevalue("pg_url")
        found = Shop(url, "postgresql", schema=_search_path(url))
    write_shop(url, sim)
    monkeypatch.setenv(ENV, url)
    return found


def _search_path(url: str) -> str:
    match = re.search(r"search_path%3D(\w+)", url)
    assert match is not None
    return match.group(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """driftline's own store: a SQLite file, separate from the user's database."""
    st = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    yield st
    st.dispose()


def sourced(spec: ModelSpec, name: str = "pp_source", **source: Any) -> ModelSpec:
    """``spec`` reading from the shop's ``scores`` table (or what ``source`` says), with
    monitoring thresholds for the small simulation (300 visitors a day)."""
    data = spec.model_dump(mode="json")
    data["model"]["name"] = name
    data["source"] = {"url_env": ENV, "table": "scores", **source}
    data["monitoring"]["min_rows"] = 100
    data["monitoring"]["performance"]["min_labelled_rows"] = 200
    return parse_spec(data)


def renamed(spec: ModelSpec, name: str) -> ModelSpec:
    return spec.model_copy(update={"model": spec.model.model_copy(update={"name": name})})


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A window without the entity key (a pseudonym in the store, an in-memory hash from
    a source), with timestamps at the store's precision (microseconds), columns by name
    (their order is not part of a read's contract)."""
    out = frame.drop(columns=[ENTITY_KEY]).reset_index(drop=True)
    out = out[sorted(out.columns)]
    out["event_ts"] = out["event_ts"].dt.floor("us")
    return out


def _window(sim: Simulation, day: int) -> tuple[datetime, datetime]:
    start = start_of(sim) + day * DAY
    return start.to_pydatetime(), (start + DAY).to_pydatetime()


# -- every window reads what the store would ------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        {"table": "outcomes", "labelled_at": "known_at"},
        {
            "query": "SELECT request_id, purchased_7d, known_at FROM outcomes",
            "labelled_at": "known_at",
        },
        {"in_predictions": True, "labelled_at": "label_known_at"},
        None,  # labels ingested into driftline's store
    ],
    ids=["labels-table", "labels-query", "labels-in-predictions", "labels-in-store"],
)
def test_windows_read_the_same_rows_as_the_store(
    shop: Shop, store: Store, spec: ModelSpec, sim: Simulation, labels: dict[str, Any] | None
) -> None:
    stored = renamed(spec, "pp_stored")
    ingest.log_predictions(store, stored, sim.predictions, PSEUDO)
    ingest.log_labels(store, stored, sim.labels)
    source = sourced(spec, labels=labels)
    if labels is None:
        ingest.log_labels(store, source, sim.labels)
        assert "dl_pred_pp_source" not in sa.inspect(store.engine).get_table_names()

    start, end = _window(sim, 4)
    expected = read_window(store, stored, start, end)
    got = read_window(store, source, start, end)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(_comparable(got), _comparable(expected))
    assert got[ENTITY_KEY].nunique() == expected[ENTITY_KEY].nunique()  # repeat visitors kept
    # in batches (a source table comes whole, in one): the same rows of the asked columns
    columns = ["recency_days", "channel", spec.model.prediction]
    for model in (source, stored):
        batches = pd.concat(read_window_batches(store, model, start, end, columns))
        pd.testing.assert_frame_equal(
            batches.sort_values(columns).reset_index(drop=True),
            expected[columns].sort_values(columns).reset_index(drop=True),
        )

    as_of = start_of(sim) + 12 * DAY  # labels of days 0-4 have all arrived by then
    early = start_of(sim) + 8 * DAY  # only some have
    for known_by in (as_of, early):
        pd.testing.assert_frame_equal(
            read_labelled(store, source, start, end, as_of=known_by),
            read_labelled(store, stored, start, end, as_of=known_by),
        )
    # without the segment columns (a monitor run that does not slice by segment): the
    # same rows and the other columns as they were
    full = read_labelled(store, stored, start, end, as_of=as_of)
    assert set(spec.model.segments) <= set(full.columns)
    for model in (source, stored):
        lean = read_labelled(store, model, start, end, as_of=as_of, segments=False)
        assert not set(spec.model.segments) & set(lean.columns)
        pd.testing.assert_frame_equal(lean, full.drop(columns=list(spec.model.segments)))

    frame, counts = usable_rows(store, source, start_of(sim), start_of(sim) + 5 * DAY)
    expected_frame, expected_counts = usable_rows(
        store, stored, start_of(sim), start_of(sim) + 5 * DAY
    )
    assert counts == expected_counts
    pd.testing.assert_frame_equal(_comparable(frame), _comparable(expected_frame))
    assert data_clock(store, source) == data_clock(store, stored)

    with open_source(store, source) as reader:
        summary = reader.summarize(source)
    assert (summary.predictions, summary.consenting, summary.labels) == (
        len(sim.predictions),
        int(sim.predictions["consent_analytics"].sum()),
        len(sim.labels),
    )


def test_a_view_and_a_schema_qualified_table(
    shop: Shop, store: Store, spec: ModelSpec, sim: Simulation
) -> None:
    start, end = _window(sim, 2)
    plain = read_window(store, sourced(spec), start, end)
    view = read_window(store, sourced(spec, table="scores_view"), start, end)
    pd.testing.assert_frame_equal(view, plain)
    if shop.schema is not None:
        qualified = sourced(spec, table=f"{shop.schema}.scores")
        pd.testing.assert_frame_equal(read_window(store, qualified, start, end), plain)


def test_a_query_source_is_bound_to_the_window(
    shop: Shop, store: Store, spec: ModelSpec, sim: Simulation
) -> None:
    """``:start`` and ``:end`` are the window; rows outside it never reach driftline even
    when the query forgets to filter."""
    ts = "event_ts" if shop.dialect == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f', event_ts)"
    query = f"SELECT * FROM scores WHERE {ts} >= :start AND {ts} < :end"
    bound: list[Any] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM scores WHERE" in statement:
            bound.append(parameters)

    start, end = _window(sim, 3)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        got = read_window(store, sourced(spec, table=None, query=query), start, end)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    expected = read_window(store, sourced(spec), start, end)
    pd.testing.assert_frame_equal(got, expected)
    values = [str(v) for params in bound for v in _values(params)]
    assert any(v.startswith(f"{pd.Timestamp(start):%Y-%m-%d %H:%M:%S}") for v in values), values
    assert any(v.startswith(f"{pd.Timestamp(end):%Y-%m-%d %H:%M:%S}") for v in values), values

    unfiltered = sourced(spec, table=None, query="SELECT * FROM scores")
    pd.testing.assert_frame_equal(read_window(store, unfiltered, start, end), expected)


def _values(params: Any) -> list[Any]:
    return list(params.values()) if isinstance(params, dict) else list(params)


# -- a monitor run reads there and writes nothing there ----------------------------------


@pytest.fixture
def reader_url(pg_url: str, sim: Simulation) -> Iterator[str]:
    """The shop's tables in a PostgreSQL schema, and the URL of a role that may only
    SELECT from them."""
    write_shop(pg_url, sim)
    schema = _search_path(pg_url)
    role = f"dl_reader_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
        conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"))
    try:
        yield sa.engine.make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}"))
            conn.execute(sa.text(f"REVOKE ALL ON SCHEMA {schema} FROM {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


def _fingerprint(url: str) -> dict[str, Any]:
    """Tables, views and each table's row count and content hash in the search path."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            tables = sorted(inspector.get_table_names())
            found: dict[str, Any] = {"views": sorted(inspector.get_view_names())}
            for table in tables:
                found[table] = conn.execute(
                    sa.text(
                        "SELECT COUNT(*), md5(string_agg(t::text, '' ORDER BY t::text)) "
                        f"FROM {table} t"
                    )
                ).one()
            return found
    finally:
        engine.dispose()


_WRITES = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|COPY|GRANT|REVOKE|COMMENT)\b",
    re.IGNORECASE,
)


def test_a_monitor_run_reads_postgresql_and_writes_nothing_there(
    reader_url: str,
    pg_url: str,
    store: Store,
    spec: ModelSpec,
    sim: Simulation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The source is read by a role that may only SELECT, through read-only transactions;
    every statement sent to PostgreSQL is captured, and the tables are fingerprinted
    before and after. The run itself is stored in driftline's store (SQLite here)."""
    monkeypatch.setenv(ENV, reader_url)
    model = sourced(spec, labels={"table": "outcomes", "labelled_at": "known_at"})
    before = _fingerprint(pg_url)
    sent: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if conn.engine.dialect.name == "postgresql":
            sent.append(statement)

    window_end = (start_of(sim) + 11 * DAY).to_pydatetime()
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        run = run_monitor(store, model, baseline_from(sim, model, 0, 2), window_end)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)

    assert run.error is None, run.error
    assert run.rows == int(
        (
            (sim.predictions["event_ts"] >= window_end - DAY)
            & (sim.predictions["event_ts"] < window_end)
            & sim.predictions["consent_analytics"]
        ).sum()
    )
    assert run.result is not None and run.result.performance is not None
    assert run.result.performance.labelled_rows > 0  # labels read from the outcomes table
    assert [r.id for r in list_runs(store, model.name)] == [run.run_id]  # kept in driftline's store
    assert sent and not [s for s in sent if _WRITES.match(s)]
    assert "SET TRANSACTION READ ONLY" in sent
    assert _fingerprint(pg_url) == before


def test_the_source_database_refuses_writes(shop: Shop, spec: ModelSpec) -> None:
    """Read-only by construction: even a statement driftline never sends would fail."""
    model = sourced(spec)
    from driftline.data.source import connect_source

    engine = connect_source(model)
    try:
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"read-?only"),
            engine.begin() as conn,
        ):
            conn.execute(sa.text("DELETE FROM scores"))
    finally:
        engine.dispose()


# -- clear errors --------------------------------------------------------------------------


def test_an_unset_variable_names_it(
    store: Store, spec: ModelSpec, sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    model = sourced(spec)
    with pytest.raises(
        SourceError, match=f"names the environment variable {ENV}, which is not set"
    ):
        read_window(store, model, *_window(sim, 1))
    run = run_monitor(store, model, baseline_from(sim, model, 0, 2), _window(sim, 1)[1])
    assert run.status == "failed" and run.error is not None and ENV in run.error
    assert source_url(model, {ENV: " postgresql://x@h/db "}) == "postgresql://x@h/db"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not a url", "does not hold a SQLAlchemy URL"),
        ("mysql+pymysql://reader:s3cret@db/shop", "reads PostgreSQL and SQLite databases"),
        ("sqlite://", "in-memory SQLite"),
    ],
)
def test_an_unusable_url_is_named_by_its_variable_never_shown(
    store: Store,
    spec: ModelSpec,
    sim: Simulation,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(SourceError) as err:
        read_window(store, sourced(spec), *_window(sim, 1))
    assert expected in str(err.value) and ENV in str(err.value)
    assert "s3cret" not in str(err.value)


def test_a_missing_sqlite_file_is_not_created(
    store: Store, spec: ModelSpec, sim: Simulation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"sqlite:///{tmp_path / 'nowhere.db'}")
    with pytest.raises(SourceError, match=f"cannot read the source table scores .\\${ENV}."):
        read_window(store, sourced(spec), *_window(sim, 1))
    assert not (tmp_path / "nowhere.db").exists()


def test_a_missing_table_or_column_says_what_to_fix(
    shop: Shop, store: Store, spec: ModelSpec, sim: Simulation
) -> None:
    window = _window(sim, 1)
    with pytest.raises(SourceError, match=r"there is no table or view nope in the database of"):
        read_window(store, sourced(spec, table="nope"), *window)

    data = spec.model_dump(mode="json")
    data["model"]["features"]["numerical"].append("basket_size")
    data["source"] = {"url_env": ENV, "table": "scores"}
    with pytest.raises(SourceError) as err:
        read_window(store, parse_spec(data), *window)
    message = " ".join(str(err.value).split())
    assert "the source table scores" in message and "has no column basket_size" in message
    assert "(it has avg_order_value, cart_adds_7d," in message
    assert "rename them in a view or a source query" in message

    broken = sourced(spec, table=None, query="SELECT request_id FROM scores")
    with pytest.raises(SourceError, match="has no column customer_id, event_ts"):
        read_window(store, broken, *window)
    bad_labels = sourced(spec, labels={"table": "outcomes", "labelled_at": "label_known_at"})
    with pytest.raises(
        SourceError, match=r"labels table outcomes of the source .* has no column label_known_at"
    ):
        usable_rows(store, bad_labels, *window)


def test_a_failing_query_and_repeated_labels(
    shop: Shop, store: Store, spec: ModelSpec, sim: Simulation
) -> None:
    window = _window(sim, 1)
    with pytest.raises(SourceError, match=r"reading the source query .* failed"):
        read_window(store, sourced(spec, table=None, query="SELECT * FROM missing_table"), *window)
    twice = (
        "SELECT request_id, purchased_7d FROM outcomes "
        "UNION ALL SELECT request_id, 1 - purchased_7d FROM outcomes"
    )
    with pytest.raises(DataError, match="appear more than once after their labels are joined"):
        usable_rows(store, sourced(spec, labels={"query": twice}), *window)


# -- driftline keeps no copy ---------------------------------------------------------------


def test_ingesting_into_a_source_model_is_refused(
    store: Store, spec: ModelSpec, sim: Simulation
) -> None:
    model = sourced(spec, labels={"table": "outcomes"})
    with pytest.raises(
        DataError, match=r"reads its predictions from table scores .* cannot ingest predictions"
    ):
        ingest.log_predictions(store, model, sim.predictions, PSEUDO)
    with pytest.raises(
        DataError, match=r"reads its labels from table scores .* cannot ingest labels"
    ):
        ingest.log_labels(store, model, sim.labels)
    assert "dl_pred_pp_source" not in sa.inspect(store.engine).get_table_names()


def test_timestamps_in_sqlite_text_of_any_iso_form(
    tmp_path: Path, store: Store, spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite has no time type: ISO-8601 text with a space or a T, with or without
    fractions, Z or an offset, is compared in UTC."""
    url = f"sqlite:///{tmp_path / 'times.db'}"
    row = {c: 1.0 for c in spec.model.features.numerical}
    row.update({c: "x" for c in spec.model.features.categorical})
    row.update(customer_id="c", score=0.5, consent_analytics=1)
    times = [
        ("a", "2026-10-01 23:59:59.999"),  # the day before
        ("b", "2026-10-02T00:00:00Z"),
        ("c", "2026-10-02 01:00:00+01:00"),  # midnight UTC
        ("d", "2026-10-02T12:30:00.5"),
        ("e", "2026-10-03T01:59:59+02:00"),  # 23:59:59 UTC
        ("f", "2026-10-03 00:00:00"),  # the next day
    ]
    frame = pd.DataFrame([{**row, "request_id": r, "event_ts": t} for r, t in times])
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        frame.to_sql("scores", conn, index=False)
    engine.dispose()
    monkeypatch.setenv(ENV, url)
    got = read_window(
        store,
        sourced(spec),
        datetime.fromisoformat("2026-10-02T00:00:00+00:00"),
        datetime.fromisoformat("2026-10-03T00:00:00+00:00"),
    )
    assert list(got["request_id"]) == ["b", "c", "d", "e"]
    assert str(got["event_ts"].dt.tz) == "UTC"
    assert got["event_ts"].iloc[1] == pd.Timestamp("2026-10-02T00:00:00Z")


def test_table_source_needs_a_source_section(spec: ModelSpec) -> None:
    with pytest.raises(ValueError, match="has no source: section"):
        TableSource(spec, sa.create_engine("sqlite://"))

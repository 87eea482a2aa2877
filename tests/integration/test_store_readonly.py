"""A store opened read-only (what the commands that only look use) creates nothing,
writes nothing, and says when the store has no driftline tables yet; on a real SQLite
file and a real PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from driftline.config.errors import StoreError
from driftline.config.settings import Settings
from driftline.data.readonly import create_read_only_engine, read_only_url
from driftline.data.store import Store
from driftline.specs import ModelSpec


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file that does not exist yet, or a fresh
    PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'driftline.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_a_fresh_database_is_reported_not_created(url: str, tmp_path: Path) -> None:
    store = Store(url, read_only=True)
    try:
        problem = store.schema_problem()
        assert problem is not None
        assert "no driftline tables at" in problem and "driftline db upgrade" in problem
        with pytest.raises(StoreError, match="no driftline tables at"):
            store.require_schema()
        with pytest.raises(StoreError, match="opened read-only: it cannot be migrated"):
            store.upgrade()
    finally:
        store.dispose()
    if url.startswith("sqlite"):
        assert not (tmp_path / "fresh").exists()  # not even the folder
    else:
        assert _tables(url) == set()


def test_a_migrated_store_is_read_but_never_written(url: str, spec: ModelSpec) -> None:
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    Store(url).dispose()  # migrated by a writer
    before = _tables(url)
    store = Store(url, read_only=True)
    try:
        assert store.schema_problem() is None
        assert store.registered_models() == []
        summary = store.summarize(spec)  # creates no inference log for the model
        assert (summary.predictions, summary.labels, summary.last_ts) == (0, 0, None)
        with pytest.raises(sa.exc.DBAPIError, match=r"read-?only"), store.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE intruder (a INTEGER)"))
    finally:
        store.dispose()
    assert _tables(url) == before


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        ("0001", "is at revision 0001, this driftline needs"),
        ("9999", "was migrated by a newer driftline (revision 9999): upgrade driftline"),
    ],
)
def test_a_store_at_another_revision_says_what_to_do(
    tmp_path: Path, revision: str, expected: str
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store(url).dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    engine.dispose()
    store = Store(url, read_only=True)
    try:
        problem = store.schema_problem() or ""
    finally:
        store.dispose()
    assert expected in problem


def test_read_only_settings_do_not_create_the_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "nowhere")
    store = Store.from_settings(settings, read_only=True)
    try:
        assert store.schema_problem() is not None
    finally:
        store.dispose()
    assert not (tmp_path / "nowhere").exists()


def test_read_only_urls() -> None:
    ro = read_only_url(sa.engine.make_url("sqlite:////data/my shop.db"))
    assert ro.database == "file:/data/my%20shop.db" and ro.query == {"mode": "ro", "uri": "true"}
    pg = sa.engine.make_url("postgresql+psycopg://u:p@h/db")
    assert read_only_url(pg) is pg
    with pytest.raises(ValueError, match="in-memory SQLite"):
        create_read_only_engine("sqlite://")
    with pytest.raises(ValueError, match="not 'mysql'"):
        create_read_only_engine("mysql+pymysql://u@h/db")

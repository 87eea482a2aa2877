"""The prediction store on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from driftline.config.errors import DataError, StoreError
from driftline.data.ingest import log_labels, log_predictions
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store, prediction_types
from driftline.devtools.simulate import simulate
from driftline.specs import ModelSpec, parse_spec

PSEUDO = Pseudonymizer(b"test-key-0123456789abcdef")


@pytest.fixture(scope="module")
def traffic() -> tuple[pd.DataFrame, pd.DataFrame]:
    sim = simulate("stable", days=3, rows_per_day=400, seed=5)
    return sim.predictions, sim.labels


def _count(store: Store, table: str) -> int:
    """Rows in ``table``; a table that was never created holds none."""
    with store.engine.connect() as conn:
        if not sa.inspect(conn).has_table(table):
            return 0
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_ingest_and_read_back(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    preds, labels = traffic
    result = log_predictions(store, spec, preds, PSEUDO)
    assert (result.received, result.inserted, result.duplicates_in_batch) == (
        len(preds),
        len(preds),
        0,
    )
    assert log_labels(store, spec, labels).inserted == len(labels)

    window = store.read_predictions(spec, with_labels=True)
    assert len(window) == len(preds)
    assert list(window["request_id"]) == list(preds["request_id"])  # ordered by time
    pd.testing.assert_series_equal(
        window["recency_days"], preds["recency_days"].reset_index(drop=True)
    )
    assert list(window["channel"]) == list(preds["channel"])
    assert window["event_ts"].dt.tz is not None
    assert (window["event_ts"] == preds["event_ts"].dt.floor("us").reset_index(drop=True)).all()
    assert window["purchased_7d"].sum() == labels["purchased_7d"].sum()
    assert list(window["consent_analytics"]) == list(preds["consent_analytics"])


def test_window_bounds_and_consent_filter(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    preds, _ = traffic
    log_predictions(store, spec, preds, PSEUDO)
    start = preds["event_ts"].min().floor("D") + pd.Timedelta(days=1)
    end = start + pd.Timedelta(days=1)
    window = store.read_predictions(spec, start, end)
    expected = preds[(preds["event_ts"] >= start) & (preds["event_ts"] < end)]
    assert len(window) == len(expected) > 0
    consenting = store.read_predictions(spec, consented_only=True)
    assert len(consenting) == int(preds["consent_analytics"].sum())

    # the same window in batches: the same rows (in no particular order), typed alike
    columns = ["recency_days", "channel", "score"]
    read = store.read_prediction_batches(spec, start, end, columns, consented_only=True, rows=97)
    batches = list(read)
    assert len(batches) > 1 or store.dialect == "postgresql"  # ADBC's batches come whole
    whole = store.read_predictions(spec, start, end, consented_only=True)[columns]
    pd.testing.assert_frame_equal(
        pd.concat(batches).sort_values(columns).reset_index(drop=True),
        whole.sort_values(columns).reset_index(drop=True),
    )
    assert list(store.read_prediction_batches(spec, end, end, columns)) == []
    if store.dialect == "postgresql":  # parameters go into the SQL: numbers, never text
        with pytest.raises(TypeError, match="only integers and booleans"):
            list(store.query_batches("SELECT ? AS x", ["1; DROP TABLE x"], {"x": "text"}))
    with pytest.raises(DataError, match="no columns \\['basket'\\]"):
        list(store.read_prediction_batches(spec, start, end, ["basket"]))


def test_reingesting_the_same_batch_stores_each_request_once(
    store: Store, spec: ModelSpec, traffic
) -> None:  # type: ignore[no-untyped-def]
    preds, labels = traffic
    log_predictions(store, spec, preds, PSEUDO)
    again = log_predictions(store, spec, preds, PSEUDO)
    assert again.inserted == 0 and again.already_stored == len(preds)
    doubled = pd.concat([preds.head(50), preds.head(50)])
    result = log_predictions(store, spec, doubled, PSEUDO)
    assert result.duplicates_in_batch == 50 and result.inserted == 0
    log_labels(store, spec, labels)
    assert log_labels(store, spec, labels).inserted == 0
    assert _count(store, "dl_pred_purchase_propensity") == len(preds)
    assert _count(store, "dl_labels") == len(labels)


def test_bad_batch_names_rows_and_columns_and_writes_nothing(
    store: Store, spec: ModelSpec, traffic
) -> None:  # type: ignore[no-untyped-def]
    preds, _ = traffic
    bad = preds.head(100).copy().astype({"recency_days": object})
    bad.loc[bad.index[3], "recency_days"] = "yesterday"
    bad.loc[bad.index[7], "score"] = 1.7
    bad.loc[bad.index[[1, 2]], "event_ts"] = "not a time"
    with pytest.raises(DataError) as err:
        log_predictions(store, spec, bad, PSEUDO, source="batch.csv")
    message = str(err.value)
    assert "batch.csv: batch rejected, nothing was written" in message
    assert "'recency_days': 1 rows are not numbers (rows 4)" in message
    assert "'score': 1 rows are outside [0, 1] (rows 8)" in message
    assert "'event_ts': 2 rows are not timestamps (rows 2, 3)" in message
    assert _count(store, "dl_pred_purchase_propensity") == 0


def test_missing_columns_are_named(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    preds, _ = traffic
    with pytest.raises(DataError, match=r"missing columns \['score', 'device'\]"):
        log_predictions(store, spec, preds.drop(columns=["device", "score"]), PSEUDO)


def test_failure_inside_the_write_rolls_back(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    """A row the database refuses (here a NULL entity key, past validation) aborts the
    whole batch: the rows before it are not kept either."""
    from driftline.data.ingest import prepare_predictions

    preds, _ = traffic
    frame = prepare_predictions(spec, preds.head(50), "batch")
    frame.loc[49, "entity_key"] = None
    table = store.ensure_model(spec)
    with pytest.raises(StoreError, match="nothing was written"):
        store.insert_ignore(table.name, frame, ["request_id"], prediction_types(spec))
    assert _count(store, "dl_pred_purchase_propensity") == 0


def test_overlong_request_id_is_rejected_up_front(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    preds, _ = traffic
    batch = preds.head(20).copy()
    batch.loc[batch.index[-1], "request_id"] = "x" * 300
    with pytest.raises(DataError, match="'request_id': 1 rows are longer than 128 characters"):
        log_predictions(store, spec, batch, PSEUDO)


def test_bad_labels_rejected(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    _, labels = traffic
    bad = labels.head(10).copy()
    bad.loc[bad.index[4], "purchased_7d"] = 3
    with pytest.raises(DataError, match=r"'purchased_7d': 1 rows are not 0 or 1 \(rows 5\)"):
        log_labels(store, spec, bad)
    assert _count(store, "dl_labels") == 0


def test_no_raw_entity_id_is_stored(store: Store, spec: ModelSpec, traffic, home: Path) -> None:  # type: ignore[no-untyped-def]
    preds, _ = traffic
    log_predictions(store, spec, preds, PSEUDO)
    raw_ids = set(preds["customer_id"])
    with store.engine.connect() as conn:
        keys = set(
            conn.execute(sa.text("SELECT entity_key FROM dl_pred_purchase_propensity")).scalars()
        )
        columns = [c["name"] for c in sa.inspect(conn).get_columns("dl_pred_purchase_propensity")]
    assert "customer_id" not in columns
    assert keys.isdisjoint(raw_ids)
    assert PSEUDO.pseudonymise(preds["customer_id"].iloc[0]) in keys
    if store.dialect == "sqlite":
        store.dispose()  # flush WAL into the file, then look at every byte
        blob = b"".join(p.read_bytes() for p in home.glob("driftline.db*"))
        sample = list(raw_ids)[:200]
        assert not [i for i in sample if i.encode() in blob]


def test_forget_erases_predictions_and_labels(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    preds, labels = traffic
    log_predictions(store, spec, preds, PSEUDO)
    log_labels(store, spec, labels)
    customer = preds["customer_id"].value_counts().index[0]
    expected = int((preds["customer_id"] == customer).sum())
    result = store.forget(spec, PSEUDO.pseudonymise(customer))
    assert (result.predictions_deleted, result.labels_deleted) == (expected, expected)
    assert _count(store, "dl_pred_purchase_propensity") == len(preds) - expected
    assert _count(store, "dl_labels") == len(labels) - expected
    assert store.forget(spec, PSEUDO.pseudonymise(customer)).predictions_deleted == 0


def test_new_feature_column_is_added(store: Store, spec: ModelSpec, traffic) -> None:  # type: ignore[no-untyped-def]
    preds, _ = traffic
    log_predictions(store, spec, preds.head(10), PSEUDO)
    data = spec.model_dump(exclude={"source"})
    data["model"]["features"]["numerical"].append("basket_items")
    wider = parse_spec(data)
    batch = preds.iloc[10:20].assign(basket_items=3.0)
    assert log_predictions(store, wider, batch, PSEUDO).inserted == 10
    window = store.read_predictions(wider)
    assert window["basket_items"].isna().sum() == 10
    assert (window["basket_items"] == 3.0).sum() == 10


def test_changed_column_type_is_refused(store: Store, spec: ModelSpec) -> None:
    store.ensure_model(spec)
    data = spec.model_dump(exclude={"source"})
    data["model"]["features"]["numerical"].remove("recency_days")
    data["model"]["features"]["categorical"].append("recency_days")
    with pytest.raises(StoreError, match="recency_days: stored float, spec says text"):
        store.ensure_model(parse_spec(data))


def test_migrations_are_idempotent(store: Store) -> None:
    store.upgrade()
    with store.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        if store.dialect == "sqlite":  # a new store file gets 16 KiB pages
            assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == 16384
    assert {"dl_models", "dl_labels", "alembic_version"} <= tables


def test_unreachable_database_gives_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot reach the store"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/nowhere?connect_timeout=2")


def test_labels_matching_no_prediction_are_reported_and_refused_above_the_spec_share(
    store: Store, spec: ModelSpec, traffic
) -> None:  # type: ignore[no-untyped-def]
    preds, labels = traffic
    log_predictions(store, spec, preds, Pseudonymizer(b"k" * 32))
    orphans = labels.head(100).copy()
    orphans["request_id"] = [f"nobody-{i:03d}" for i in range(100)]
    some = pd.concat([labels.head(400), orphans])
    result = log_labels(store, spec, some)
    assert (result.inserted, result.unmatched) == (500, 100)  # 20%: stored, and reported
    assert result.unmatched_examples == tuple(f"nobody-{i:03d}" for i in range(5))
    before = _count(store, "dl_labels")
    mostly = pd.concat([labels.iloc[400:450], orphans.assign(request_id=orphans.request_id + "x")])
    with pytest.raises(DataError) as err:  # 67% > max_unmatched_label_share 50%
        log_labels(store, spec, mostly)
    message = str(err.value)
    assert "100 of 150 labels (67%) match no stored prediction" in message
    assert "first request ids: nobody-000x, nobody-001x" in message
    assert "model.max_unmatched_label_share (50%)" in message
    assert _count(store, "dl_labels") == before  # nothing stored


def test_bulk_paths_keep_repeats_and_stored_keys_idempotent(
    store: Store, spec: ModelSpec, traffic
) -> None:  # type: ignore[no-untyped-def]
    """A batch of new keys takes the direct path (PostgreSQL: COPY into the table); one
    that repeats a key, or mixes stored and new keys, falls back to skipping the stored
    ones: every key stored once, with the values and ingestion time of its first write."""
    from driftline.data.ingest import prepare_predictions

    preds, _ = traffic
    frame = prepare_predictions(spec, preds.head(60), "batch")
    frame["entity_key"] = PSEUDO.pseudonymise_series(frame["entity_key"])
    table = store.ensure_model(spec).name
    types = prediction_types(spec)
    assert store.insert_ignore(table, frame.head(20), ["request_id"], types) == 20
    repeated = pd.concat([frame.iloc[20:40], frame.iloc[30:40]], ignore_index=True)
    assert store.insert_ignore(table, repeated, ["request_id"], types) == 20
    assert store.insert_ignore(table, frame, ["request_id"], types) == 20
    assert _count(store, table) == 60
    back = store.read_predictions(spec).set_index(spec.model.request_id)
    want = frame.set_index("request_id")
    assert back.loc[want.index, "score"].tolist() == want["score"].tolist()
    with store.engine.connect() as conn:
        stamped = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM {table} WHERE ingested_at IS NOT NULL")
        ).scalar_one()
    assert stamped == 60


def test_a_new_batch_written_in_chunks_falls_back_whole_when_its_last_chunk_holds_a_stored_key(
    store: Store, spec: ModelSpec, traffic, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL copies a batch of new keys in chunks, each pseudonymised while the one
    before is copied. A key stored already in the last chunk fails that COPY: the chunks
    copied before it are rolled back and the batch is written by the path that skips
    stored keys. Every request stored once, with its pseudonym computed once; a stored
    request sent back with another value rejects the whole batch (nothing written)."""
    from driftline.data import store as store_module

    monkeypatch.setattr(store_module, "COPY_ROWS", 7)
    preds = traffic[0].head(50).reset_index(drop=True)
    m = spec.model
    assert log_predictions(store, spec, preds.iloc[[49]], PSEUDO).inserted == 1
    table = store.predictions_table_name(spec)

    changed = preds.copy()
    changed.loc[49, "score"] = 1 - changed.loc[49, "score"]
    stored_id = preds.loc[49, spec.model.request_id]
    with pytest.raises(DataError, match=rf"other values of 'score' \('{stored_id}'\).*\(rows 50\)"):
        log_predictions(store, spec, changed, PSEUDO)
    assert _count(store, table) == 1

    result = log_predictions(store, spec, preds, PSEUDO)
    assert (result.inserted, result.already_stored) == (49, 1)
    with store.engine.connect() as conn:
        stored = dict(conn.execute(sa.text(f"SELECT request_id, entity_key FROM {table}")).all())
    want = dict(
        zip(preds[m.request_id], PSEUDO.pseudonymise_series(preds[m.entity_id]), strict=True)
    )
    assert stored == want


def test_postgresql_indexes_entity_keys_by_hash_and_upgrades_an_older_btree(
    pg_url: str, spec: ModelSpec, traffic
) -> None:  # type: ignore[no-untyped-def]
    """Pseudonyms are looked up by equality only, so PostgreSQL keeps them in a hash index
    (cheaper to keep up as random keys arrive). A store made before keeps its B-tree until
    it is opened for writing: the migration then rebuilds it as a hash index, and erasure
    finds a customer's rows through it."""
    store = Store(pg_url)
    try:
        log_predictions(store, spec, traffic[0].head(40), PSEUDO)
        table = store.predictions_table_name(spec)

        def entity_indexes() -> list[str]:
            with store.engine.connect() as conn:
                return list(
                    conn.execute(
                        sa.text(
                            "SELECT indexdef FROM pg_indexes WHERE tablename = :t "
                            "AND schemaname = current_schema() AND indexdef LIKE '%entity_key%'"
                        ),
                        {"t": table},
                    ).scalars()
                )

        (index,) = entity_indexes()
        assert f"ix_{spec.name}_entity" in index and "USING hash" in index
        with store.engine.begin() as conn:  # the store as an older driftline left it
            conn.execute(sa.text(f"DROP INDEX ix_{spec.name}_entity"))
            conn.execute(sa.text(f"CREATE INDEX ix_{table}_entity_key ON {table} (entity_key)"))
            conn.execute(
                sa.text("DELETE FROM alembic_version WHERE version_num = '0008_entity_hash_index'")
            )
        assert "USING btree" in entity_indexes()[0]
    finally:
        store.dispose()
    assert "db upgrade" in (Store(pg_url, migrate=False).schema_problem() or "")

    store = Store(pg_url)  # opened for writing: migrated
    try:
        (index,) = entity_indexes()
        assert f"ix_{spec.name}_entity" in index and "USING hash" in index
        key = PSEUDO.pseudonymise(str(traffic[0][spec.model.entity_id].iloc[0]))
        with store.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                conn.execute(
                    sa.text(f"EXPLAIN DELETE FROM {table} WHERE entity_key = :k"), {"k": key}
                ).scalars()
            )
        assert f"ix_{spec.name}_entity" in plan
        assert store.forget(spec, key).predictions_deleted >= 1
    finally:
        store.dispose()


def test_postgresql_writers_opening_a_store_together_migrate_it_one_at_a_time(
    pg_url: str,
) -> None:
    """Writers migrate the store they open. On PostgreSQL a writer holds an advisory lock
    while it migrates, so one that opens the store meanwhile waits, then finds the
    migrations done (before, the second crashed on alembic's version table)."""
    import threading

    from driftline.data.store import MIGRATION_LOCK

    holder = Store(pg_url)
    with holder.engine.connect() as conn:  # the store as an older driftline left it
        conn.execute(
            sa.text("DELETE FROM alembic_version WHERE version_num = '0008_entity_hash_index'")
        )
        conn.commit()
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        outcome: list[object] = []

        def open_for_writing() -> None:
            try:
                Store(pg_url).dispose()
                outcome.append("opened")
            except Exception as exc:  # the test reports what was raised
                outcome.append(exc)

        writer = threading.Thread(target=open_for_writing)
        writer.start()
        writer.join(timeout=2)
        assert writer.is_alive() and not outcome  # waiting for the lock's holder
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        writer.join(timeout=60)
    holder.dispose()
    assert outcome == ["opened"]
    assert Store(pg_url, migrate=False).schema_problem() is None

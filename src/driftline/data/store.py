"""The prediction store: SQL tables and the queries on them.

Fixed tables come from Alembic migrations (``driftline/data/migrations``), applied by
:meth:`Store.upgrade` (``driftline db upgrade``, and automatically when a store opens for
writing). A store opened ``read_only`` (the commands that only look) never migrates and
cannot write: :meth:`Store.schema_problem` says when its tables are missing or behind.
Each model's inference log is a typed table ``dl_pred_<model>`` built from its spec:
one column per feature, so a window is a plain indexed range scan.

Each row may carry the registry version of the model that made it (``model_version``,
text, indexed; NULL when the batch did not say): monitoring measures realized performance
per version (see :mod:`driftline.monitoring.attribution`).

Bulk paths: on PostgreSQL a batch goes to the ADBC driver as Arrow (binary COPY),
straight into the table in chunks, the next chunk prepared while one is copied. When some
key is stored already that COPY fails at its row and is rolled back; the batch then goes
into a temporary table, then ``INSERT ... ON CONFLICT (key) DO NOTHING``. On SQLite one
``executemany`` of the same INSERT, with a page cache large enough for the indexes it
updates (a new SQLite file has 16 KiB pages). Either way one transaction per batch, so a
batch is idempotent by request id and all-or-nothing.
PostgreSQL windows are read back as Arrow.
"""

from __future__ import annotations

import gc
import json
import logging
import numbers
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from driftline.config.errors import ConflictError, DataError, StoreError
from driftline.config.secrets import scrub
from driftline.config.settings import Settings
from driftline.config.times import from_ts_us, ts_us, utc_now
from driftline.data.readonly import create_read_only_engine
from driftline.specs import ModelSpec

log = logging.getLogger(__name__)

LABELS_TABLE = "dl_labels"
#: Rows per frame of a batched read (:meth:`Store.query_batches`).
BATCH_ROWS = 250_000
#: PostgreSQL advisory lock key held while migrating (:meth:`Store.upgrade`).
MIGRATION_LOCK = 0x64726966746C696E  # "driftlin"
#: Rows per ``COPY`` of a new batch on PostgreSQL (:meth:`Store.insert_applying`).
COPY_ROWS = 131_072
MODELS_TABLE = "dl_models"
# Store-side names of the fixed columns of an inference log.
REQUEST_ID, ENTITY_KEY, TS_US, CONSENT = "request_id", "entity_key", "ts_us", "consent"
MODEL_VERSION = "model_version"
#: SQLite page cache (KiB) while a batch is written (the default is 2 MiB).
_BULK_CACHE_KIB = 256 * 1024
#: Page size of a new SQLite store (SQLite's default is 4096).
_PAGE_BYTES = 16384


@dataclass(frozen=True)
class IngestResult:
    """What one ingested batch did."""

    model: str
    kind: str
    received: int
    inserted: int
    duplicates_in_batch: int

    unmatched: int = 0
    unmatched_examples: tuple[str, ...] = ()
    #: Rows stored before this batch whose consent flag the batch changed.
    consent_changed: int = 0

    @property
    def already_stored(self) -> int:
        return self.received - self.duplicates_in_batch - self.inserted


@dataclass(frozen=True)
class ErasureResult:
    model: str
    predictions_deleted: int
    labels_deleted: int


@dataclass(frozen=True)
class ModelSummary:
    model: str
    predictions: int
    first_ts: pd.Timestamp | None
    last_ts: pd.Timestamp | None
    consenting: int
    labels: int


def _column_types(spec: ModelSpec) -> dict[str, str]:
    """Store column -> type name ('float', 'text'), for features and the prediction columns."""
    return {
        c: "float" if kind == "numerical" else "text"
        for c, kind in spec.column_types_with_prediction.items()
    }


def _tracked_types(spec: ModelSpec) -> dict[str, str]:
    """The columns ``dl_models`` records for a model's table, which :meth:`Store.ensure_model`
    adds to an older table when missing: the spec's columns and ``model_version``."""
    return {**_column_types(spec), MODEL_VERSION: "text"}


def prediction_types(spec: ModelSpec) -> dict[str, str]:
    """Every column of a model's inference log (as written by ingestion) -> kind."""
    return {
        REQUEST_ID: "text",
        ENTITY_KEY: "text",
        TS_US: "int",
        CONSENT: "bool",
        MODEL_VERSION: "text",
        **_column_types(spec),
    }


def version_index_name(spec: ModelSpec) -> str:
    """The index on a model's ``model_version`` column (within PostgreSQL's 63 characters:
    model names have at most 48)."""
    return f"ix_{spec.name}_version"


def entity_index_name(table: str) -> str:
    """The index on the ``entity_key`` column of the inference log ``table``
    (``dl_pred_<model>``): ``ix_<model>_entity``, within PostgreSQL's 63 characters."""
    return f"ix_{table.removeprefix('dl_pred_')}_entity"


LABEL_TYPES = {"model": "text", REQUEST_ID: "text", "label": "float", "labelled_ts_us": "int"}


def _sa_type(kind: str) -> sa.types.TypeEngine[Any]:
    return sa.Float() if kind == "float" else sa.Text()


class Store:
    """A connection to the prediction store (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, migrate: bool = True, read_only: bool = False) -> None:
        """Connect to the store at ``url`` (a secret: never logged) and, when ``migrate``,
        apply pending migrations. ``read_only`` connects so that nothing can be written
        or created (SQLite ``mode=ro``, PostgreSQL read-only transactions) and never
        migrates: for commands that only look. StoreError for a bad URL or database."""
        self.read_only = read_only
        try:
            parsed = sa.engine.make_url(url)
            self._display = parsed.render_as_string(hide_password=True)
            self._file = parsed.database if parsed.get_backend_name() == "sqlite" else None
            if read_only:
                self.engine: Engine = create_read_only_engine(parsed, future=True)
            else:
                self.engine = sa.create_engine(parsed, future=True)
        except Exception as exc:  # bad URL, missing driver, unsupported database
            raise StoreError(
                f"cannot use the store URL ({type(exc).__name__}: {scrub(str(exc))}); check "
                "DRIFTLINE_DATABASE_URL (e.g. postgresql+psycopg://user@host/db)"
            ) from None
        if self.dialect == "sqlite":
            if not read_only:
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.dialect != "postgresql":
            raise StoreError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
        self.metadata = sa.MetaData()
        self._reflecting = threading.RLock()
        if migrate and not read_only:
            self.upgrade()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, migrate: bool = True, read_only: bool = False
    ) -> Store:
        """The store named by ``settings``; ``read_only`` creates nothing, not even the home
        folder of the default SQLite file."""
        url = settings.store_url(create_home=not read_only)
        return cls(url, migrate=migrate, read_only=read_only)

    def __repr__(self) -> str:
        return f"Store({self._display})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -----------------------------------------------------------------------

    @staticmethod
    def _alembic_config() -> Config:
        cfg = Config()
        cfg.set_main_option(
            "script_location", str(resources.files("driftline.data") / "migrations")
        )
        return cfg

    def upgrade(self) -> None:
        """Apply every pending Alembic migration (all branches). On PostgreSQL one process
        at a time (a transaction-scoped advisory lock): writers that open the store
        together after an upgrade wait for the first one's migration, then find it done."""
        if self.read_only:
            raise StoreError(f"{self!r} was opened read-only: it cannot be migrated")
        cfg = self._alembic_config()
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot reach the store at {self!r}: {scrub(str(exc.orig))}. Is the "
                "database running and DRIFTLINE_DATABASE_URL right?"
            ) from None

    def revisions(self) -> set[str]:
        """The Alembic revisions this store is at (one per branch head; empty when it has
        no driftline tables). Reads only. StoreError when the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                return set(MigrationContext.configure(conn).get_current_heads())
        except sa.exc.OperationalError as exc:
            missing = self._file is not None and not Path(self._file).exists()
            if self.dialect == "sqlite" and missing and "unable to open" in str(exc.orig):
                return set()  # read-only: the file is not created
            raise StoreError(
                f"cannot reach the store at {self!r}: {scrub(str(exc.orig))}. Is the "
                "database running and DRIFTLINE_DATABASE_URL right?"
            ) from None

    def migrations_since(self, revisions: set[str]) -> list[str]:
        """The migrations applied after ``revisions`` (an earlier :meth:`revisions`), each
        as ``<revision>: <first line of its description>``, in revision order."""
        script = ScriptDirectory.from_config(self._alembic_config())

        def lineage(heads: set[str]) -> dict[str, Any]:
            return {r.revision: r for h in heads for r in script.iterate_revisions(h, "base")}

        before = lineage(revisions)
        return [
            f"{name}: {(rev.doc or '').splitlines()[0].replace('``', '')}".rstrip(": ")
            for name, rev in sorted(lineage(self.revisions()).items())
            if name not in before
        ]

    def schema_problem(self) -> str | None:
        """Why this store cannot be used as it is, and what to do: no driftline tables
        yet, or migrations pending (or applied by a newer driftline); None when it is up
        to date. Reads only: creates nothing, not even a missing SQLite file.
        StoreError when the database cannot be reached."""
        script = ScriptDirectory.from_config(self._alembic_config())
        current = self.revisions()
        if not current:
            return (
                f"no driftline tables at {self._display} yet: `driftline db upgrade` creates "
                "them (ingesting predictions does too)"
            )
        known = {rev.revision for rev in script.walk_revisions()}
        if current - known:
            return (
                f"the store at {self._display} was migrated by a newer driftline "
                f"(revision {', '.join(sorted(current - known))}): upgrade driftline"
            )
        heads = set(script.get_heads())
        if current != heads:
            return (
                f"the store at {self._display} is at revision {', '.join(sorted(current))}, "
                f"this driftline needs {', '.join(sorted(heads))}: run `driftline db upgrade`"
            )
        return None

    def require_schema(self) -> None:
        """Raise StoreError (saying what to run) unless the store's tables are up to date."""
        problem = self.schema_problem()
        if problem is not None:
            raise StoreError(problem)

    def table(self, name: str) -> sa.Table:
        """A fixed table, reflected once (under a lock: threads may share a store, and a
        table half-reflected by one must never be seen by another)."""
        with self._reflecting:
            if name not in self.metadata.tables:
                return sa.Table(name, self.metadata, autoload_with=self.engine)
            return self.metadata.tables[name]

    @staticmethod
    def predictions_table_name(spec: ModelSpec) -> str:
        return f"dl_pred_{spec.name}"

    def ensure_model(self, spec: ModelSpec) -> sa.Table:
        """Create (or extend with new columns) the model's inference log.

        A table created before ``model_version`` existed gets the column and its index
        here, once (``CREATE INDEX IF NOT EXISTS``: safe to repeat on SQLite and PostgreSQL).
        Raises StoreError when a column's type in the spec differs from the stored one.
        """
        name = self.predictions_table_name(spec)
        wanted = _tracked_types(spec)
        models = self.table(MODELS_TABLE)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(models.c.columns_json).where(models.c.name == spec.name)
            ).first()
            if row is None:
                table = self._define_predictions(name, wanted)
                table.create(conn, checkfirst=True)
                self._index_versions(conn, spec)
                conn.execute(
                    models.insert().values(
                        name=spec.name,
                        table_name=name,
                        columns_json=json.dumps(wanted, sort_keys=True),
                        created_at=utc_now(),
                    )
                )
                return table
            stored: dict[str, str] = json.loads(row.columns_json)
            changed = {
                c: (stored[c], t) for c, t in wanted.items() if c in stored and stored[c] != t
            }
            if changed:
                detail = ", ".join(
                    f"{c}: stored {a}, spec says {b}" for c, (a, b) in changed.items()
                )
                raise StoreError(
                    f"model {spec.name!r}: column types in the spec differ from the store "
                    f"({detail}). Rename the column in the spec, or erase the model's table."
                )
            added = {c: t for c, t in wanted.items() if c not in stored}
            for column, kind in added.items():
                col_type = _sa_type(kind).compile(dialect=self.engine.dialect)
                conn.execute(sa.text(f'ALTER TABLE {name} ADD COLUMN "{column}" {col_type}'))
            if MODEL_VERSION in added:
                self._index_versions(conn, spec)
            if added:
                merged = {**stored, **added}
                conn.execute(
                    models.update()
                    .where(models.c.name == spec.name)
                    .values(columns_json=json.dumps(merged, sort_keys=True))
                )
                log.info("model %s: added columns %s", spec.name, sorted(added))
                self.metadata.remove(
                    self.metadata.tables[name]
                ) if name in self.metadata.tables else None
                return self._define_predictions(name, merged)
            return self._define_predictions(name, stored)

    def _index_versions(self, conn: sa.Connection, spec: ModelSpec) -> None:
        """Index ``model_version`` (idempotent: a table created with the index keeps it)."""
        table = self.predictions_table_name(spec)
        conn.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS {version_index_name(spec)} "
                f'ON {table} ("{MODEL_VERSION}")'
            )
        )

    def _define_predictions(self, name: str, columns: dict[str, str]) -> sa.Table:
        if name in self.metadata.tables:
            existing = self.metadata.tables[name]
            if set(columns) <= set(existing.c.keys()):
                return existing
            self.metadata.remove(existing)
        return sa.Table(
            name,
            self.metadata,
            sa.Column(REQUEST_ID, sa.String(128), primary_key=True),
            sa.Column(ENTITY_KEY, sa.String(64), nullable=False),
            sa.Column(TS_US, sa.BigInteger, nullable=False, index=True),
            sa.Column(CONSENT, sa.Boolean, nullable=True),
            *(sa.Column(c, _sa_type(t), nullable=True) for c, t in columns.items()),
            sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
            # Looked up by equality only (erasure, consent, a re-sent consent flag): on
            # PostgreSQL a hash index, whose 4-byte entries cost a third of the B-tree's
            # upkeep for keys that arrive in random order (see bench/ingest.py).
            sa.Index(entity_index_name(name), ENTITY_KEY, postgresql_using="hash"),
        )

    def registered_models(self) -> list[str]:
        models = self.table(MODELS_TABLE)
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(models.c.name).order_by(models.c.name)).scalars())

    # -- bulk paths ---------------------------------------------------------------------
    # PostgreSQL: ADBC (Arrow Database Connectivity), which speaks COPY in binary both
    # ways. SQLite: the standard library's sqlite3 through SQLAlchemy's own pool. Not
    # ADBC there: its driver links a second copy of the SQLite library, and two copies
    # in one process break each other's file locks and can corrupt the database.

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A raw DBAPI connection (sqlite3 or ADBC) in one transaction: committed when
        the block ends, rolled back (nothing written) when it raises."""
        if self.dialect == "sqlite":
            conn = self.engine.raw_connection()
        else:
            import adbc_driver_postgresql.dbapi as adbc_pg

            url = self.engine.url.set(drivername="postgresql")
            conn = adbc_pg.connect(url.render_as_string(hide_password=False))
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _driver_errors(self) -> tuple[type[Exception], ...]:
        if self.dialect == "sqlite":
            import sqlite3

            return (sqlite3.Error,)
        import adbc_driver_manager

        return (adbc_driver_manager.Error,)

    def insert_ignore(
        self,
        table: str,
        frame: pd.DataFrame,
        conflict: Sequence[str],
        types: dict[str, str],
        *,
        unchanged: Sequence[str] = (),
    ) -> int:
        """Insert every row of ``frame`` whose key is not stored yet, in one transaction
        (:meth:`insert_applying` without anything to apply); returns rows inserted."""
        return self.insert_applying(table, frame, conflict, types, unchanged=unchanged)[0]

    def insert_applying(
        self,
        table: str,
        frame: pd.DataFrame,
        conflict: Sequence[str],
        types: dict[str, str],
        *,
        unchanged: Sequence[str] = (),
        apply: tuple[str, str, str] | None = None,
        finish: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    ) -> tuple[int, int]:
        """Insert every row of ``frame`` whose key is not stored yet, in one transaction.

        ``types`` gives each column's kind ('text', 'float', 'int', 'bool'). Rows whose
        key is stored already are skipped (``ON CONFLICT (key) DO NOTHING``) when they
        hold the same values in the ``unchanged`` columns as the stored row; a row that
        would change one raises ConflictError with the keys at fault, and nothing is
        written. Any other failure rolls the whole batch back and raises StoreError.

        ``apply=(group, value, order)``: a stored row sent again with another ``value``
        (e.g. the consent flag, left out of ``unchanged``) changes that value for its whole
        ``group`` (e.g. the entity key): in the same transaction, every row of the group
        stored before the batch gets the value of the newest such row by ``order`` (e.g. the
        time); the batch's new rows keep the value they carry.

        ``finish``: a last row-by-row step (e.g. pseudonymisation) applied to ``frame``
        before it is written, returning a frame of the same rows and columns; on
        PostgreSQL it runs on each chunk while the previous chunk is being copied.
        ``conflict`` columns must not change in it. Returns (rows inserted, rows whose
        ``value`` changed).
        """
        if frame.empty:
            return 0, 0
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        keys = ", ".join(f'"{c}"' for c in conflict)
        stage = f"dl_stage_{uuid.uuid4().hex[:12]}"
        finish = finish or (lambda chunk: chunk)
        if self.dialect == "postgresql":
            schema = pa.schema([(c, _ARROW[types[c]]) for c in frame.columns])
            try:
                with _no_gc(), self._transaction() as conn:
                    return self._copy_new(conn.cursor(), table, frame, schema, finish), 0
            except self._driver_errors():
                # Nothing was written (rolled back): some key of the batch is stored
                # already (a re-sent batch), or a writer stored it meanwhile. The path
                # below skips stored keys and says which rows would change one.
                pass
            arrow = pa.Table.from_pandas(finish(frame), schema=schema, preserve_index=False)
        else:
            frame = finish(frame)
        try:
            with _no_gc(), self._transaction() as conn:
                if self.dialect == "sqlite":
                    return self._insert_sqlite(
                        conn, table, frame, conflict, unchanged, stage, cols, keys, apply
                    )
                cur = conn.cursor()
                cur.adbc_ingest(stage, arrow, mode="create", temporary=True)
                if unchanged:
                    self._refuse_changes(cur, table, stage, conflict, unchanged)
                changed = 0
                if apply is not None:  # before the insert: to the rows stored before only
                    changed = self._apply_resent(cur, table, stage, conflict, apply)
                cur.execute(
                    f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
                    f"ON CONFLICT ({keys}) DO NOTHING"
                )
                inserted = int(cur.rowcount)
                cur.execute(f"DROP TABLE {stage}")
                return inserted, changed
        except self._driver_errors() as exc:
            raise StoreError(
                f"writing {len(frame):,} rows to {table} failed, nothing was written: "
                f"{str(exc).splitlines()[0]}"
            ) from None

    def _copy_new(
        self,
        cur: Any,
        table: str,
        frame: pd.DataFrame,
        schema: pa.Schema,
        finish: Callable[[pd.DataFrame], pd.DataFrame],
    ) -> int:
        """PostgreSQL, betting that no key of the batch is stored yet: binary ``COPY``
        straight into ``table`` (no staging copy, no ``INSERT ... SELECT``), in chunks of
        :data:`COPY_ROWS`. Each chunk is finished and turned into Arrow while the one
        before is copied on a worker thread (the ADBC driver releases the GIL while it
        copies), so the client's work hides behind the server's. A stored key fails the
        ``COPY`` at its row with a unique violation (the driver's error, raised here);
        the caller's transaction then writes nothing. Returns the rows copied."""
        with ThreadPoolExecutor(1, thread_name_prefix="driftline-copy") as pool:
            copying: Future[Any] | None = None
            for start in range(0, len(frame), COPY_ROWS):
                chunk = finish(frame.iloc[start : start + COPY_ROWS])
                arrow = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
                if copying is not None:
                    copying.result()
                copying = pool.submit(cur.adbc_ingest, table, arrow, mode="append")
            if copying is not None:
                copying.result()
        return len(frame)

    def _insert_sqlite(
        self,
        conn: Any,
        table: str,
        frame: pd.DataFrame,
        conflict: Sequence[str],
        unchanged: Sequence[str],
        stage: str,
        cols: str,
        keys: str,
        apply: tuple[str, str, str] | None = None,
    ) -> tuple[int, int]:
        """SQLite: one ``executemany`` into the table; only when some keys were stored
        already, the batch is staged in a temporary table to compare them (so a batch of
        new rows costs one pass). Runs inside the caller's transaction."""
        cur = conn.cursor()
        marks = ", ".join("?" for _ in frame.columns)
        values = [_python_values(frame[c]) for c in frame.columns]

        def rows() -> Iterator[tuple[Any, ...]]:
            return zip(*values, strict=True)

        # A large batch updates the request-id, entity and time indexes at places spread
        # over the whole index: a page cache that holds them (pages are allocated only as
        # used) saves re-reading them for every few rows. Back to the default afterwards.
        (cache,) = cur.execute("PRAGMA cache_size").fetchone()
        cur.execute(f"PRAGMA cache_size={-_BULK_CACHE_KIB}")
        try:
            if apply is not None:  # the rows a re-sent value may change end here
                (stored_up_to,) = cur.execute(
                    f"SELECT COALESCE(MAX(rowid), 0) FROM {table}"
                ).fetchone()
            before = conn.total_changes
            cur.executemany(
                f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({keys}) DO NOTHING",
                rows(),
            )
            inserted = int(conn.total_changes - before)
            changed = 0
            if (unchanged or apply) and inserted < len(frame):  # rows that were stored already
                cur.execute(f"CREATE TEMP TABLE {stage} AS SELECT {cols} FROM {table} WHERE 0")
                cur.executemany(f"INSERT INTO {stage} ({cols}) VALUES ({marks})", rows())
                if unchanged:
                    self._refuse_changes(cur, table, stage, conflict, unchanged)
                if apply is not None:  # to the rows stored before this batch only
                    only = f"{table}.rowid <= {int(stored_up_to)}"
                    changed = self._apply_resent(cur, table, stage, conflict, apply, only)
                cur.execute(f"DROP TABLE {stage}")
        finally:
            cur.execute(f"PRAGMA cache_size={int(cache)}")
        return inserted, changed

    def _apply_resent(
        self,
        cur: Any,
        table: str,
        stage: str,
        key: Sequence[str],
        apply: tuple[str, str, str],
        only: str = "TRUE",
    ) -> int:
        """The ``apply`` step of :meth:`insert_applying`, inside its transaction, in one
        statement: the staged rows stored already with another ``value``, the newest of
        each group, give the group's stored rows (those meeting the SQL condition ``only``:
        not the batch's new rows, which keep the value they carry) their value. Returns
        the rows changed."""
        group, value, order = apply
        same = "IS" if self.dialect == "sqlite" else "IS NOT DISTINCT FROM"
        join = " AND ".join(f's."{c}" = t."{c}"' for c in key)
        newest = (
            f'SELECT g, v FROM (SELECT s."{group}" AS g, s."{value}" AS v, ROW_NUMBER() OVER '
            f'(PARTITION BY s."{group}" ORDER BY s."{order}" DESC) AS n FROM {stage} s '
            f'JOIN {table} t ON {join} WHERE NOT (s."{value}" {same} t."{value}")) r '
            "WHERE n = 1"
        )
        update = (
            f'UPDATE {table} SET "{value}" = c.v FROM ({newest}) c '
            f'WHERE {table}."{group}" = c.g AND NOT ({table}."{value}" {same} c.v) AND {only}'
        )
        if self.dialect == "sqlite":
            cur.execute(update)
            return int(cur.rowcount)
        # ADBC gives no row count for an UPDATE: count what it returns.
        cur.execute(f"WITH u AS ({update} RETURNING 1) SELECT COUNT(*) FROM u")
        return int(cur.fetchone()[0])

    def _refuse_changes(
        self, cur: Any, table: str, stage: str, key: Sequence[str], columns: Sequence[str]
    ) -> None:
        """ConflictError when a staged row's key is stored with other values in ``columns``
        (compared null-safely: NULL equals NULL)."""
        same = "IS" if self.dialect == "sqlite" else "IS NOT DISTINCT FROM"
        join = " AND ".join(f's."{c}" = t."{c}"' for c in key)
        differs = " OR ".join(f'NOT (s."{c}" {same} t."{c}")' for c in columns)
        picked = ", ".join(f's."{c}"' for c in key)
        flags = ", ".join(
            f'CASE WHEN NOT (s."{c}" {same} t."{c}") THEN 1 ELSE 0 END' for c in columns
        )
        cur.execute(
            f"SELECT {picked}, {flags} FROM {stage} s JOIN {table} t ON {join} WHERE {differs}"
        )
        rows = cur.fetchall()
        if rows:
            changed = [c for i, c in enumerate(columns) if any(r[len(key) + i] for r in rows)]
            raise ConflictError(
                f"{len(rows)} rows of the batch have keys stored already with other values "
                f"of {', '.join(changed)}",
                [tuple(r[: len(key)]) for r in rows],
                changed,
            )

    def query_frame(self, sql: str, params: Sequence[Any], types: dict[str, str]) -> pd.DataFrame:
        """Run a SELECT (``?`` placeholders) into a frame with the given column kinds
        ('float', 'text', 'int', 'bool'), by the fastest path of the database."""
        with _no_gc(), self._transaction() as conn:
            cur = conn.cursor()
            if self.dialect == "sqlite":
                cur.execute(sql, tuple(params))
                frame = pd.DataFrame(cur.fetchall(), columns=list(types))
            else:
                cur.execute(_numbered(sql), tuple(params) if params else None)
                frame = cur.fetch_arrow_table().rename_columns(list(types)).to_pandas()
        return _typed(frame, types)

    def query_batches(
        self, sql: str, params: Sequence[Any], types: dict[str, str], rows: int = BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """:meth:`query_frame` in frames of about ``rows`` rows (the last one fewer; none
        for no rows), so memory holds one batch, never the whole result. PostgreSQL:
        ADBC's Arrow record batches of a ``COPY``, gathered to ``rows``; ADBC copies only
        a query without bind parameters (with them libpq holds the whole result), so
        ``params`` must be integers or booleans, written into the SQL (TypeError
        otherwise). SQLite: ``fetchmany``. The read is one transaction, held open until
        the iterator is exhausted or closed."""
        with self._transaction() as conn:
            cur = conn.cursor()
            if self.dialect == "sqlite":
                cur.execute(sql, tuple(params))
                while True:
                    with _no_gc():
                        found = cur.fetchmany(rows)
                        if not found:
                            return
                        frame = pd.DataFrame(found, columns=list(types))
                    yield _typed(frame, types)
            cur.execute(_inlined(sql, params))
            pending: list[pa.RecordBatch] = []
            for batch in cur.fetch_record_batch():
                pending.append(batch)
                if sum(b.num_rows for b in pending) >= rows:
                    yield _arrow_frame(pending, types)
                    pending = []
            if pending:
                yield _arrow_frame(pending, types)

    def read_predictions(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp | None = None,
        end: datetime | pd.Timestamp | None = None,
        *,
        with_labels: bool = False,
        consented_only: bool = False,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The inference log in ``[start, end)``, ordered by time, with spec column names
        (the model version as logged, None where the batch gave none, under
        ``model.model_version``).

        ``with_labels`` adds the target column (NaN where no label has arrived);
        ``consented_only`` drops rows whose consent flag is false or missing.
        """
        self.ensure_model(spec)
        m = spec.model
        table = self.predictions_table_name(spec)
        types = prediction_types(spec)
        select = [f'p."{c}"' for c in types]
        joins, where = "", []
        params: list[Any] = []
        if with_labels:
            select.append("l.label")
            types["__label"] = "float"
            joins = f" LEFT JOIN {LABELS_TABLE} l ON l.model = ? AND l.request_id = p.request_id"
            params.append(spec.name)
        if start is not None:
            where.append("p.ts_us >= ?")
            params.append(ts_us(start))
        if end is not None:
            where.append("p.ts_us < ?")
            params.append(ts_us(end))
        if consented_only:
            where.append("p.consent = ?")
            params.append(True)
        sql = f"SELECT {', '.join(select)} FROM {table} p{joins}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY p.ts_us"  # index order: no sort step
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        frame = self.query_frame(sql, params, types)
        frame.insert(2, m.timestamp, from_ts_us(frame.pop(TS_US)))
        rename = {REQUEST_ID: m.request_id, MODEL_VERSION: m.model_version}
        if m.consent:
            rename[CONSENT] = m.consent
        else:
            frame = frame.drop(columns=[CONSENT])
        if with_labels:
            rename["__label"] = m.target
        return frame.rename(columns=rename)

    def read_prediction_batches(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        columns: Sequence[str],
        *,
        consented_only: bool = False,
        rows: int = BATCH_ROWS,
    ) -> Iterator[pd.DataFrame]:
        """``columns`` (features and prediction columns of the spec) of the inference log
        in ``[start, end)``, in frames of about ``rows`` rows (:meth:`query_batches`) and
        in no particular order: for summaries of a window too large to hold, such as its
        column profiles. ``consented_only`` drops rows whose consent flag is false or
        missing. DataError naming a column the model's table does not log."""
        self.ensure_model(spec)
        logged = _column_types(spec)
        unknown = [c for c in columns if c not in logged]
        if unknown:
            raise DataError(
                f"{spec.name}'s predictions have no columns {unknown} (they log "
                f"{sorted(logged)}): read the spec's features and prediction columns"
            )
        where, params = [f"{TS_US} >= ?", f"{TS_US} < ?"], [ts_us(start), ts_us(end)]
        if consented_only:
            where.append(f"{CONSENT} = ?")
            params.append(True)
        selected = ", ".join(f'"{c}"' for c in columns)
        table = self.predictions_table_name(spec)
        sql = f"SELECT {selected} FROM {table} WHERE {' AND '.join(where)}"
        yield from self.query_batches(sql, params, {c: logged[c] for c in columns}, rows)

    def read_labelled(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        *,
        as_of: datetime | pd.Timestamp,
        segments: bool = True,
    ) -> pd.DataFrame:
        """Prediction columns (the score; a multiclass model's predicted class and
        probabilities), the segment columns (``model.segments``; left out when ``segments``
        is false), label, prediction time and logged model version (None where none was
        logged) of the predictions in ``[start, end)`` whose label arrived by ``as_of`` (so a
        backfill sees only what was known then), under the spec's column names; consenting
        rows only when the spec has a consent column.

        The window's predictions are the outer loop (by the time index), each one's label
        is found by its key: the read costs the window's rows, never every label of the
        model. (``CROSS JOIN`` keeps that order on SQLite, whose planner would otherwise
        scan the model's labels first: sqlite.org/optoverview.html, "Manual control of
        query plans using CROSS JOIN"; PostgreSQL plans it as any inner join.)"""
        m = spec.model
        self.ensure_model(spec)
        table = self.predictions_table_name(spec)
        predictions = {
            c: kind for c, kind in _column_types(spec).items() if c in spec.prediction_types
        }
        # segment columns too, so realized performance can be shown per segment
        wanted = [c for c in m.segments if c not in predictions] if segments else []
        selected = ", ".join(f'p."{c}"' for c in [*predictions, *wanted])
        sql = (
            f"SELECT {selected}, l.label, p.{TS_US}, p.{MODEL_VERSION} FROM {table} p "
            f"CROSS JOIN {LABELS_TABLE} l WHERE l.model = ? AND l.request_id = p.request_id "
            "AND p.ts_us >= ? AND p.ts_us < ? AND l.labelled_ts_us <= ?"
        )
        params: list[Any] = [spec.name, *(ts_us(t) for t in (start, end, as_of))]
        if m.consent:
            sql += " AND p.consent = ?"
            params.append(True)
        types = {**predictions, **dict.fromkeys(wanted, "text")}
        types.update({m.target: "float", TS_US: "int", m.model_version: "text"})
        frame = self.query_frame(sql, params, types)
        stamps = from_ts_us(frame.pop(TS_US))
        frame[m.timestamp] = stamps.set_axis(frame.index)
        return frame

    def newest_prediction(
        self, spec: ModelSpec, *, not_after: datetime | pd.Timestamp | None = None
    ) -> pd.Timestamp | None:
        """Time of the model's newest stored prediction dated at or before ``not_after``
        (any, when None); None when there is none. Reads only (an index lookup)."""
        table = self.predictions_table_name(spec)
        sql, params = f"SELECT MAX(ts_us) FROM {table}", {}
        if not_after is not None:
            sql, params = sql + " WHERE ts_us <= :bound", {"bound": ts_us(not_after)}
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return None
            newest = conn.execute(sa.text(sql), params).scalar_one()
        return from_ts_us([newest]).iloc[0] if newest is not None else None

    # -- privacy --------------------------------------------------------------------------

    def forget(self, spec: ModelSpec, entity_key: str) -> ErasureResult:
        """Delete every stored row of one pseudonymous entity (predictions and their labels).
        On SQLite the deleted content is zeroed in the file (``secure_delete``) and the
        write-ahead log is checkpointed and truncated, so no copy stays in either file;
        PostgreSQL keeps dead rows in its files until they are vacuumed."""
        table = self.predictions_table_name(spec)
        with self.engine.begin() as conn:
            labels = conn.execute(
                sa.text(
                    f"DELETE FROM {LABELS_TABLE} WHERE model = :m AND request_id IN "
                    f"(SELECT request_id FROM {table} WHERE entity_key = :k)"
                ),
                {"m": spec.name, "k": entity_key},
            ).rowcount
            predictions = conn.execute(
                sa.text(f"DELETE FROM {table} WHERE entity_key = :k"), {"k": entity_key}
            ).rowcount
        if self.dialect == "sqlite":  # the write-ahead log still holds the old pages
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return ErasureResult(spec.name, int(predictions), int(labels))

    def entity_times(self, spec: ModelSpec, entity_key: str) -> pd.Series:
        """Prediction times (UTC) of every stored row of one pseudonymous entity, oldest
        first: which windows their rows were in. Empty when the model has no table."""
        table = self.predictions_table_name(spec)
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return from_ts_us(pd.Series([], dtype="int64"))
            stamps = conn.execute(
                sa.text(f"SELECT ts_us FROM {table} WHERE entity_key = :k ORDER BY ts_us"),
                {"k": entity_key},
            ).scalars()
            return from_ts_us(pd.Series(list(stamps), dtype="int64"))

    def set_consent(self, spec: ModelSpec, entity_key: str, consent: bool) -> int:
        """Set the consent flag of every stored row of one pseudonymous entity; returns the
        rows whose flag changed. Windows, training sets and new baselines read consenting
        rows only, so a withdrawn entity leaves them from the next read on."""
        table = self.predictions_table_name(spec)
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    sa.text(
                        f"UPDATE {table} SET consent = :c "
                        "WHERE entity_key = :k AND (consent IS NULL OR consent <> :c)"
                    ),
                    {"c": consent, "k": entity_key},
                ).rowcount
            )

    def rekey(self, new_key_of: Callable[[str], str]) -> dict[str, int]:
        """Replace every stored entity key by ``new_key_of(key)``, in every table that holds
        one (each model's inference log), in one transaction: all or nothing. Returns the
        rows changed per table. Stop ingestion while it runs: a batch pseudonymised under
        the old key and written after the commit would keep old pseudonyms."""
        models = self.table(MODELS_TABLE)
        with self.engine.begin() as conn:
            tables = list(conn.execute(sa.select(models.c.table_name)).scalars())
            tables = [t for t in tables if sa.inspect(conn).has_table(t)]
            keys: set[str] = set()
            for table in tables:
                keys.update(
                    conn.execute(sa.text(f"SELECT DISTINCT {ENTITY_KEY} FROM {table}")).scalars()
                )
            changed: dict[str, int] = dict.fromkeys(tables, 0)
            if not keys:
                return changed
            conn.execute(
                sa.text(
                    "CREATE TEMPORARY TABLE dl_rekey "
                    "(old_key VARCHAR(64) PRIMARY KEY, new_key VARCHAR(64) NOT NULL)"
                )
            )
            conn.execute(
                sa.text("INSERT INTO dl_rekey (old_key, new_key) VALUES (:o, :n)"),
                [{"o": k, "n": new_key_of(k)} for k in sorted(keys)],
            )
            for table in tables:
                changed[table] = int(
                    conn.execute(
                        sa.text(
                            f"UPDATE {table} SET {ENTITY_KEY} = r.new_key FROM dl_rekey r "
                            f"WHERE {table}.{ENTITY_KEY} = r.old_key"
                        )
                    ).rowcount
                )
            conn.execute(sa.text("DROP TABLE dl_rekey"))
        return changed

    # -- overview -------------------------------------------------------------------------

    def summarize(self, spec: ModelSpec) -> ModelSummary:
        """How many predictions (and consenting ones) and labels the store holds for a
        model, and the first and last prediction time; zeros when none were ingested.
        Reads only: creates nothing (a read-only store can answer)."""
        table = self.predictions_table_name(spec)
        with self.engine.connect() as conn:
            labels = conn.execute(
                sa.text(f"SELECT COUNT(*) FROM {LABELS_TABLE} WHERE model = :m"),
                {"m": spec.name},
            ).scalar_one()
            if not sa.inspect(conn).has_table(table):
                return ModelSummary(spec.name, 0, None, None, 0, int(labels))
            row = conn.execute(
                sa.text(
                    f"SELECT COUNT(*) AS n, MIN(ts_us) AS lo, MAX(ts_us) AS hi, "
                    f"SUM(CASE WHEN consent THEN 1 ELSE 0 END) AS c FROM {table}"
                )
            ).one()
        lo = from_ts_us([row.lo]).iloc[0] if row.lo is not None else None
        hi = from_ts_us([row.hi]).iloc[0] if row.hi is not None else None
        return ModelSummary(spec.name, int(row.n), lo, hi, int(row.c or 0), int(labels))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # A new store file gets 16 KiB pages instead of 4 KiB: a 1M-row batch costs ~10% less
    # CPU (fewer B-tree pages and WAL frames to write; bench/ingest.py). Only a file that
    # has no table yet takes it; an existing store keeps its page size.
    cur.execute(f"PRAGMA page_size={_PAGE_BYTES}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # Deleted and overwritten content is zeroed in the file, not left in free pages, so
    # an erased customer cannot be read back from the database file or a copy of it.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of short-lived row tuples are
    made: they hold no cycles, and collections triggered by their count cost ~35% of a
    1M-row SQLite read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _python_values(column: pd.Series) -> list[Any]:
    """Column values as Python objects for sqlite3, with missing values as None. A float
    column's NaN stays NaN: SQLite binds a NaN double as NULL
    (``sqlite3VdbeMemSetDouble``), so it needs no pass in Python."""
    if column.dtype.kind == "f":
        return column.to_numpy(dtype="float64").tolist()
    if column.hasnans:
        values = column.to_numpy(dtype=object, copy=True)
        values[column.isna().to_numpy()] = None
        return values.tolist()
    return column.tolist()


_ARROW = {"text": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))


def _inlined(sql: str, params: Sequence[Any]) -> str:
    """``?`` placeholders replaced by ``params``, integers and booleans only (TypeError
    for anything else: no text is ever written into SQL)."""
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise TypeError(f"{len(parts) - 1} placeholders for {len(params)} parameters")
    literals = []
    for value in params:
        if isinstance(value, bool):
            literals.append("true" if value else "false")
        elif isinstance(value, numbers.Integral):
            literals.append(str(int(value)))
        else:
            raise TypeError(f"only integers and booleans are written into SQL, not {value!r}")
    return parts[0] + "".join(v + p for v, p in zip(literals, parts[1:], strict=True))


def _typed(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    for name, kind in types.items():
        frame[name] = _as_kind(frame[name], kind)
    return frame


def _arrow_frame(batches: list[pa.RecordBatch], types: dict[str, str]) -> pd.DataFrame:
    table = pa.Table.from_batches(batches).rename_columns(list(types))
    return _typed(table.to_pandas(), types)


def _as_kind(column: pd.Series, kind: str) -> pd.Series:
    """A column read back from the driver, in the dtype driftline uses for its kind."""
    if kind == "float":
        return column.astype("float64")
    if kind == "int":
        return column.astype("int64")
    if kind == "bool":
        return column.astype("boolean")
    return column.astype(object).where(column.notna(), None)

"""Where a model's predictions are read from: driftline's store, or a table the user has.

Every window driftline reads (monitored, labelled, training, benchmark: see
:mod:`driftline.data.windows`) comes from the model's :class:`PredictionSource`, picked
from the spec in one place, :func:`open_source`:

- :class:`StoreSource` (no ``source:`` in the spec): the inference log driftline ingested
  into its own store, and the labels ingested next to it.
- :class:`TableSource` (``source:``): a table, view or query in the user's database, read
  through a read-only connection (:mod:`driftline.data.readonly`); labels from a labels
  table or query joined by request id, from a target column of the predictions, or from
  driftline's store. Nothing is ever written to that database.

Both hand back frames in the same shape (the columns of :meth:`Store.read_predictions`),
so the monitor, training and the benchmark never know which one they read.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from driftline.config.errors import DataError, SourceError
from driftline.config.secrets import scrub
from driftline.config.times import ts_us, utc
from driftline.data.readonly import create_read_only_engine
from driftline.data.store import ENTITY_KEY, LABELS_TABLE, ModelSummary, Store
from driftline.data.values import as_text
from driftline.specs import ModelSpec, SourceSection
from driftline.specs.source import query_parameters, split_relation
from driftline.tasks import task_for

log = logging.getLogger(__name__)

#: Request ids per query when labels ingested into driftline's store are joined to rows
#: read from a source table (a bound ``IN`` list; SQLite allows 32,766 parameters).
LABEL_CHUNK = 5_000
# The widest window a query source is asked for when its newest prediction is needed.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC)
_LABEL, _LABELLED_AT, _ENTITY = "__label", "__labelled_at", "__entity"


class PredictionSource(ABC):
    """Reads one model's predictions and labels for windows (``[start, end)``, UTC);
    never writes. Frames have the columns of :meth:`Store.read_predictions`."""

    #: Where the rows come from, for messages (never a URL).
    description: str

    @abstractmethod
    def read_predictions(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        *,
        with_labels: bool = False,
        consented_only: bool = False,
    ) -> pd.DataFrame:
        """Predictions made in ``[start, end)``, oldest first: ``model.request_id``,
        ``entity_key`` (a pseudonym or in-memory hash, never the raw id),
        ``model.timestamp`` (UTC), the features, ``model.prediction``, ``model.consent``
        (if the spec has one) and, with ``with_labels``, ``model.target`` (NaN where no
        label is known). ``consented_only`` keeps rows whose consent flag is true."""

    def read_prediction_batches(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        columns: Sequence[str],
        *,
        consented_only: bool = False,
    ) -> Iterator[pd.DataFrame]:
        """``columns`` (features and prediction columns) of the predictions made in
        ``[start, end)``, in frames, in no particular order, for summaries of a window
        too large to hold (:meth:`Store.read_prediction_batches` streams driftline's
        store; this default reads the window whole, as one frame, of those of ``columns``
        the source has)."""
        frame = self.read_predictions(spec, start, end, consented_only=consented_only)
        yield frame[[c for c in columns if c in frame.columns]]

    @abstractmethod
    def read_labelled(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        *,
        as_of: datetime | pd.Timestamp,
        segments: bool = True,
    ) -> pd.DataFrame:
        """``model.prediction`` and ``model.target`` (floats), and the segment columns (not
        when ``segments`` is false: a read that does not slice by segment need not carry
        them), of the predictions made in ``[start, end)`` whose label was known by
        ``as_of``; consenting rows only when the spec has a consent column."""

    @abstractmethod
    def summarize(self, spec: ModelSpec) -> ModelSummary:
        """Prediction, consenting and label counts, and the first and last prediction time."""

    @abstractmethod
    def newest_prediction(
        self, spec: ModelSpec, *, not_after: datetime | pd.Timestamp | None = None
    ) -> pd.Timestamp | None:
        """Time of the newest prediction (UTC) dated at or before ``not_after`` (any, when
        None); None when there is none."""

    @abstractmethod
    def empty_message(self, spec: ModelSpec) -> str:
        """What to say (and do) when this source holds no predictions for ``spec``."""


class StoreSource(PredictionSource):
    """The predictions and labels driftline ingested into its own store."""

    description = "driftline's store"

    def __init__(self, store: Store) -> None:
        self.store = store

    def read_predictions(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        *,
        with_labels: bool = False,
        consented_only: bool = False,
    ) -> pd.DataFrame:
        return self.store.read_predictions(
            spec, start, end, with_labels=with_labels, consented_only=consented_only
        )

    def read_prediction_batches(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        columns: Sequence[str],
        *,
        consented_only: bool = False,
    ) -> Iterator[pd.DataFrame]:
        yield from self.store.read_prediction_batches(
            spec, start, end, columns, consented_only=consented_only
        )

    def read_labelled(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        *,
        as_of: datetime | pd.Timestamp,
        segments: bool = True,
    ) -> pd.DataFrame:
        return self.store.read_labelled(spec, start, end, as_of=as_of, segments=segments)

    def summarize(self, spec: ModelSpec) -> ModelSummary:
        return self.store.summarize(spec)

    def newest_prediction(
        self, spec: ModelSpec, *, not_after: datetime | pd.Timestamp | None = None
    ) -> pd.Timestamp | None:
        return self.store.newest_prediction(spec, not_after=not_after)

    def empty_message(self, spec: ModelSpec) -> str:
        return (
            f"the store holds no predictions for {spec.name!r}: ingest some with "
            f"`driftline ingest predictions FILE --model {spec.name}` first"
        )


# -- the user's own table -------------------------------------------------------------------


def _segments(spec: ModelSpec) -> list[str]:
    """The segment columns (``model.segments``) labelled reads carry, so realized
    performance can be shown per segment; none that is also a prediction column."""
    return [c for c in spec.model.segments if c not in spec.prediction_types]


def optional_columns(spec: ModelSpec) -> list[str]:
    """Spec columns a source may lack: read when the table (or query) has them, absent
    from the frame otherwise. The model version column (``model.model_version``), and the
    prediction columns the task derives from the others (a multiclass model's predicted
    class: the most probable class where the table has none)."""
    version = spec.model.model_version
    derived = list(task_for(spec.model).derived_prediction_columns(spec.model))
    return [*([version] if isinstance(version, str) and version else []), *derived]


def _logged_predictions(spec: ModelSpec) -> list[str]:
    """The prediction columns a source must have (the task's, but those it derives)."""
    derived = set(task_for(spec.model).derived_prediction_columns(spec.model))
    return [c for c in spec.prediction_types if c not in derived]


def _typed_predictions(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The prediction columns of ``frame`` typed (numbers as float, categories as text),
    derived columns filled where the source has none. DataError for a number that is not."""
    m = spec.model
    task = task_for(m)
    out = pd.DataFrame(index=frame.index)
    for column, kind in spec.prediction_types.items():
        if column not in frame:
            out[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        elif kind == "numerical":
            out[column] = _numbers(frame[column], f"prediction column {column}")
        else:
            out[column] = _texts(frame[column])
    derived = task.derived_prediction_columns(m)
    if derived:
        filled = task.prediction_frame(m, task.stored_scores(m, out))
        for column in derived:
            out[column] = out[column].where(out[column].notna(), filled[column].to_numpy())
    return out


def _labels(spec: ModelSpec, column: pd.Series) -> pd.Series:
    """Labels as the store keeps them: numbers, or the task's encoding (a multiclass
    model's class positions). DataError naming the column when a value is not a label."""
    target = spec.model.target
    task = task_for(spec.model)
    encoded = task.encode_labels(column)
    if encoded is None:
        return _numbers(column, f"label column {target}")
    bad = column.notna() & encoded.isna()
    if bad.any():
        examples = ", ".join(repr(v) for v in column[bad].head(3))
        raise DataError(
            f"the source's label column {target} holds values that are not labels of task "
            f"{task.name} ({examples}); fix the labels or the spec's task_options"
        )
    return encoded


def source_url(spec: ModelSpec, environ: Mapping[str, str] | None = None) -> str:
    """The database URL of ``spec``'s source, from the environment variable the spec names
    (a secret: never log it). SourceError naming the variable when it is unset or blank."""
    section = _section(spec)
    value = (os.environ if environ is None else environ).get(section.url_env, "").strip()
    if not value:
        raise SourceError(
            f"{spec.name}: source.url_env names the environment variable {section.url_env}, "
            f"which is not set: export {section.url_env}=<SQLAlchemy URL of the database to "
            "read> (e.g. postgresql+psycopg://reader@db-host/shop); driftline only reads there"
        )
    return value


def connect_source(spec: ModelSpec, environ: Mapping[str, str] | None = None) -> Engine:
    """A read-only engine on the database of ``spec``'s source. SourceError when the URL
    variable is unset, or its value is not a usable PostgreSQL or SQLite URL (the message
    names the variable, never its value)."""
    section = _section(spec)
    url = source_url(spec, environ)
    try:
        return create_read_only_engine(url)
    except ValueError as exc:  # unsupported database, in-memory SQLite
        raise SourceError(f"{spec.name}: the URL in {section.url_env}: {exc}") from None
    except sa.exc.ArgumentError:
        raise SourceError(
            f"{spec.name}: {section.url_env} does not hold a SQLAlchemy URL (e.g. "
            "postgresql+psycopg://reader@db-host/shop or sqlite:////path/to/file.db)"
        ) from None
    except Exception as exc:  # a missing driver
        raise SourceError(
            f"{spec.name}: cannot use the URL in {section.url_env} "
            f"({type(exc).__name__}: {scrub(str(exc))})"
        ) from None


def _section(spec: ModelSpec) -> SourceSection:
    if spec.source is None:
        raise ValueError(f"{spec.name} has no source: section")
    return spec.source


class TableSource(PredictionSource):
    """Predictions in a table, view or query of the user's database, read-only.

    Column names are the spec's ``model:`` names. ``engine`` should be read-only
    (:func:`connect_source`); ``store`` is driftline's store, where the labels come from
    when the spec's ``source:`` has no ``labels:``.
    """

    def __init__(self, spec: ModelSpec, engine: Engine, store: Store | None = None) -> None:
        self.section = _section(spec)
        self.spec = spec
        self.engine = engine
        self.store = store
        self.description = f"source {self.section.describe()}"

    # -- public reads -------------------------------------------------------------------------

    def read_predictions(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        *,
        with_labels: bool = False,
        consented_only: bool = False,
    ) -> pd.DataFrame:
        m, labels = spec.model, self.section.labels
        with self._connect() as conn:
            p, extra = self._predictions(conn, start, end)
            columns = [p.c[m.request_id], p.c[m.entity_id].label(_ENTITY), p.c[m.timestamp]]
            columns += [p.c[c] for c in [*([m.consent] if m.consent else []), *m.features.all]]
            columns += [*(p.c[c] for c in _logged_predictions(spec)), *(p.c[c] for c in extra)]
            joined = p
            if with_labels and labels is not None:
                target, _, joined = self._labels(conn, p)
                columns.append(target.label(_LABEL))
            query = (
                sa.select(*columns)
                .select_from(joined)
                .where(*self._window(p, start, end))
                .order_by(self._ts(p.c[m.timestamp]))
            )
            if consented_only and m.consent:
                query = query.where(p.c[m.consent] == sa.true())
            frame = self._fetch(conn, query)
        frame = self._typed(frame, extra)
        for column in optional_columns(spec):
            if column not in frame:  # the table does not log it: every row lacks it
                frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        if with_labels:
            if labels is None:
                frame = self._with_store_labels(frame, as_of=None)
            else:
                frame[m.target] = _labels(spec, frame.pop(_LABEL))
                if not labels.in_predictions:
                    _one_label_each(frame, m.request_id, self.description)
        return frame.reset_index(drop=True)

    def read_labelled(
        self,
        spec: ModelSpec,
        start: datetime | pd.Timestamp,
        end: datetime | pd.Timestamp,
        *,
        as_of: datetime | pd.Timestamp,
        segments: bool = True,
    ) -> pd.DataFrame:
        m, labels = spec.model, self.section.labels
        version = m.model_version
        sliced = _segments(spec) if segments else []
        if labels is None:
            frame = self.read_predictions(spec, start, end, consented_only=bool(m.consent))
            frame = self._with_store_labels(frame, as_of=as_of)
            frame = frame[frame[m.target].notna()]
            if version not in frame:
                frame[version] = None
            kept = [*spec.prediction_types, *sliced, m.target, version, m.timestamp]
            return frame[kept].reset_index(drop=True)
        with self._connect() as conn:
            p, extra = self._predictions(conn, start, end)
            target, known_at, joined = self._labels(conn, p)
            query = (
                sa.select(
                    p.c[m.request_id],
                    *(p.c[c] for c in _logged_predictions(spec)),
                    *(p.c[c] for c in sliced),
                    target.label(_LABEL),
                    p.c[m.timestamp],
                    *(p.c[c] for c in extra),
                )
                .select_from(joined)
                .where(*self._window(p, start, end), target.is_not(None))
            )
            if known_at is not None:
                query = query.where(self._ts(known_at) <= self._bound(as_of))
            else:  # a label is known once it has matured
                matured = utc(as_of) - pd.Timedelta(days=m.label_delay_days)
                query = query.where(self._ts(p.c[m.timestamp]) <= self._bound(matured))
            if m.consent:
                query = query.where(p.c[m.consent] == sa.true())
            frame = self._fetch(conn, query)
        if not labels.in_predictions:
            _one_label_each(frame, m.request_id, self.description)
        out = _typed_predictions(spec, frame)
        for column in sliced:
            out[column] = _texts(frame[column])
        out[m.target] = _labels(spec, frame[_LABEL])
        out[version] = _texts(frame[version]) if version in frame else None
        out[m.timestamp] = _times(frame[m.timestamp], f"time column {m.timestamp}")
        return out

    def summarize(self, spec: ModelSpec) -> ModelSummary:
        m, labels = spec.model, self.section.labels
        with self._connect() as conn:
            p, _ = self._predictions(conn, _EARLIEST, _LATEST)
            ts = self._ts(p.c[m.timestamp])
            consenting: Any = (
                sa.func.sum(sa.case((p.c[m.consent] == sa.true(), 1), else_=0))
                if m.consent
                else sa.func.count()
            )
            aggregates = [sa.func.count(), sa.func.min(ts), sa.func.max(ts), consenting]
            if labels is not None and labels.in_predictions:
                aggregates.append(sa.func.count(p.c[m.target]))
            row: Any = self._run(conn, sa.select(*aggregates).select_from(p)).one()
            if labels is not None and not labels.in_predictions:
                relation = self._labels_relation(conn)
                n_labels = self._run(conn, sa.select(sa.func.count()).select_from(relation))
                labelled = int(n_labels.scalar_one())
            elif labels is not None:
                labelled = int(row[4])
            else:
                labelled = self._store_label_count()
        first, last = (_timestamp(v) for v in (row[1], row[2]))
        return ModelSummary(spec.name, int(row[0]), first, last, int(row[3] or 0), labelled)

    def newest_prediction(
        self, spec: ModelSpec, *, not_after: datetime | pd.Timestamp | None = None
    ) -> pd.Timestamp | None:
        with self._connect() as conn:
            p, _ = self._predictions(conn, _EARLIEST, _LATEST)
            ts = self._ts(p.c[spec.model.timestamp])
            query = sa.select(sa.func.max(ts))
            if not_after is not None:
                query = query.where(ts <= self._bound(not_after))
            return _timestamp(self._run(conn, query).scalar_one())

    def empty_message(self, spec: ModelSpec) -> str:
        return (
            f"the {self.description} holds no predictions for {spec.name!r}: is it being "
            "written, and does the spec's source: section name the right table or query?"
        )

    # -- relations ----------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise SourceError(
                f"{self.spec.name}: cannot read the {self.description}: "
                f"{_first_line(exc)}. Is the database up, and the URL in "
                f"{self.section.url_env} right?"
            ) from None

    def _predictions(
        self, conn: Connection, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
    ) -> tuple[sa.FromClause, list[str]]:
        """The predictions as a FROM clause (a reflected table, or the query bound to
        ``[start, end)``), and the optional columns it has. SourceError when the table or
        a column the spec names is missing."""
        m, labels = self.spec.model, self.section.labels
        needed = [m.request_id, m.entity_id, m.timestamp, *m.features.all]
        needed += _logged_predictions(self.spec)
        if m.consent:
            needed.append(m.consent)
        if labels is not None and labels.in_predictions:
            needed.append(m.target)
            if labels.labelled_at:
                needed.append(labels.labelled_at)
        s = self.section
        relation = self._relation(conn, s.table, s.query, "p", start, end)
        present = set(relation.c.keys())
        self._require(needed, present, f"the {self.description}")
        extra = [c for c in optional_columns(self.spec) if c in present and c not in needed]
        return relation, extra

    def _labels_relation(self, conn: Connection) -> sa.FromClause:
        labels = self.section.labels
        assert labels is not None and not labels.in_predictions
        m = self.spec.model
        relation = self._relation(conn, labels.table, labels.query, "l", None, None)
        needed = [m.request_id, m.target, *([labels.labelled_at] if labels.labelled_at else [])]
        what = f"table {labels.table}" if labels.table else "query"
        self._require(needed, set(relation.c.keys()), f"labels {what} of the {self.description}")
        return relation

    def _labels(
        self, conn: Connection, p: sa.FromClause
    ) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any] | None, sa.FromClause]:
        """The label column, its known-at column (or None) and the FROM clause joining the
        labels to the predictions ``p`` (a LEFT JOIN by request id)."""
        labels = self.section.labels
        assert labels is not None
        m = self.spec.model
        if labels.in_predictions:
            known = p.c[labels.labelled_at] if labels.labelled_at else None
            return p.c[m.target], known, p
        relation = self._labels_relation(conn)
        joined = p.outerjoin(relation, relation.c[m.request_id] == p.c[m.request_id])
        known = relation.c[labels.labelled_at] if labels.labelled_at else None
        return relation.c[m.target], known, joined

    def _relation(
        self,
        conn: Connection,
        table: str | None,
        query: str | None,
        alias: str,
        start: datetime | pd.Timestamp | None,
        end: datetime | pd.Timestamp | None,
    ) -> sa.FromClause:
        if table is not None:
            schema, name = split_relation(table)
            try:
                return sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn).alias(alias)
            except sa.exc.NoSuchTableError:
                raise SourceError(
                    f"{self.spec.name}: there is no table or view {table} in the database of "
                    f"{self.section.url_env} (or this user cannot see it); check the table "
                    "name in the spec's source: section"
                ) from None
        assert query is not None
        bounds = {"start": start or _EARLIEST, "end": end or _LATEST}
        text = sa.text(query).bindparams(
            *(
                sa.bindparam(name, self._param(bounds[name]), type_=self._param_type())
                for name in sorted(query_parameters(query))
            )
        )
        probe: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(
            text.columns().subquery(alias)
        )
        names = list(self._run(conn, probe.where(sa.false())).keys())
        return text.columns(*(sa.column(n) for n in names)).subquery(alias)

    def _require(self, needed: Sequence[str], present: set[str], what: str) -> None:
        missing = [c for c in dict.fromkeys(needed) if c not in present]
        if missing:
            raise SourceError(
                f"{self.spec.name}: {what} has no column {', '.join(missing)} (it has "
                f"{', '.join(sorted(present)) or 'none'}). The spec's model: section names the "
                "source's columns: fix the names there, or rename them in a view or a "
                "source query (SELECT their_name AS spec_name ...)"
            )

    # -- time, values, execution --------------------------------------------------------------

    def _ts(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """A time column as compared and ordered: itself on PostgreSQL; on SQLite, where
        times are ISO-8601 text, normalised to UTC ``YYYY-MM-DD HH:MM:SS.SSS``."""
        if self.engine.dialect.name == "sqlite":
            return sa.func.strftime("%Y-%m-%d %H:%M:%f", column)
        return column

    def _param(self, value: datetime | pd.Timestamp) -> datetime | str:
        """A time as bound to a query: a UTC datetime (PostgreSQL: timestamptz), or on
        SQLite UTC text ``YYYY-MM-DD HH:MM:SS.SSS``, the form of :meth:`_ts`."""
        when = utc(value)
        if self.engine.dialect.name == "sqlite":
            return f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d}"
        return when.to_pydatetime()

    def _param_type(self) -> sa.types.TypeEngine[Any]:
        if self.engine.dialect.name == "sqlite":
            return sa.String()
        return sa.DateTime(timezone=True)

    def _bound(self, value: datetime | pd.Timestamp) -> sa.ColumnElement[Any]:
        return sa.literal(self._param(value), self._param_type())

    def _window(
        self, p: sa.FromClause, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
    ) -> list[sa.ColumnElement[bool]]:
        ts = self._ts(p.c[self.spec.model.timestamp])
        return [ts >= self._bound(start), ts < self._bound(end)]

    def _run(self, conn: Connection, query: sa.Executable) -> sa.CursorResult[Any]:
        try:
            return conn.execute(query)
        except sa.exc.DBAPIError as exc:
            raise SourceError(
                f"{self.spec.name}: reading the {self.description} failed: {_first_line(exc)}"
            ) from None

    def _fetch(self, conn: Connection, query: sa.Executable) -> pd.DataFrame:
        """The rows as Python objects (an integer category with NULLs stays ``3``, not
        ``3.0``); :meth:`_typed` gives each column its type."""
        result = self._run(conn, query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)

    def _typed(self, frame: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
        """Rows as the store returns them: typed columns, the entity id replaced by an
        in-memory hash (only used to recognise repeated log lines; never stored)."""
        m = self.spec.model
        out = pd.DataFrame(index=frame.index)
        out[m.request_id] = _texts(frame[m.request_id])
        out[ENTITY_KEY] = pd.util.hash_pandas_object(
            frame[_ENTITY].astype(str), index=False
        ).to_numpy()
        out[m.timestamp] = _times(frame[m.timestamp], f"time column {m.timestamp}")
        if m.consent:
            out[m.consent] = _flags(frame[m.consent], f"consent column {m.consent}")
        for column in m.features.numerical:
            out[column] = _numbers(frame[column], f"numerical feature {column}")
        for column in m.features.categorical:
            out[column] = _texts(frame[column])
        for column in extra:
            out[column] = _texts(frame[column])
        predictions = _typed_predictions(self.spec, frame)
        for column in predictions:
            out[column] = predictions[column]
        if _LABEL in frame:
            out[_LABEL] = frame[_LABEL]
        return out

    def _with_store_labels(
        self, frame: pd.DataFrame, *, as_of: datetime | pd.Timestamp | None
    ) -> pd.DataFrame:
        """``frame`` with ``model.target`` from the labels ingested into driftline's store
        (NaN where none, or none known by ``as_of``)."""
        m = self.spec.model
        found = self._store_labels(frame[m.request_id].tolist(), as_of)
        frame[m.target] = frame[m.request_id].map(found).astype("float64")
        return frame

    def _store_labels(
        self, request_ids: list[str], as_of: datetime | pd.Timestamp | None
    ) -> dict[str, float]:
        if self.store is None or not request_ids:
            return {}
        table = self.store.table(LABELS_TABLE)
        found: dict[str, float] = {}
        with self.store.engine.connect() as conn:
            for i in range(0, len(request_ids), LABEL_CHUNK):
                query = sa.select(table.c.request_id, table.c.label).where(
                    table.c.model == self.spec.name,
                    table.c.request_id.in_(request_ids[i : i + LABEL_CHUNK]),
                )
                if as_of is not None:
                    query = query.where(table.c.labelled_ts_us <= ts_us(as_of))
                found.update((r, float(v)) for r, v in conn.execute(query))
        return found

    def _store_label_count(self) -> int:
        if self.store is None or self.store.schema_problem() is not None:
            return 0  # no driftline tables yet: no labels ingested
        with self.store.engine.connect() as conn:
            table = self.store.table(LABELS_TABLE)
            query = sa.select(sa.func.count()).where(table.c.model == self.spec.name)
            return int(conn.execute(query).scalar_one())


# -- picking the source ---------------------------------------------------------------------


@contextmanager
def open_source(
    store: Store, spec: ModelSpec, environ: Mapping[str, str] | None = None
) -> Iterator[PredictionSource]:
    """The source of ``spec``'s predictions for a block: its ``source:`` table (through a
    read-only connection, closed after the block) or, without one, ``store``.
    SourceError when the source's URL variable is unset or unusable."""
    if spec.source is None:
        yield StoreSource(store)
        return
    engine = connect_source(spec, environ)
    try:
        yield TableSource(spec, engine, store)
    finally:
        engine.dispose()


def summarize(store: Store, spec: ModelSpec) -> ModelSummary:
    """What ``spec``'s source holds (counts, first and last prediction time), read only.
    SourceError when a source table cannot be read."""
    with open_source(store, spec) as source:
        return source.summarize(spec)


def require_stored(spec: ModelSpec, kind: str, action: str) -> None:
    """Raise DataError when ``spec``'s ``kind`` ("predictions" or "labels") are read from its
    source database: driftline keeps no copy of them there, so ``action`` (e.g. "ingest
    predictions") belongs in that database. Labels are stored by driftline unless the
    spec's ``source:`` names where they are (``source.labels``)."""
    section = spec.source
    if section is None or (kind == "labels" and section.labels is None):
        return
    raise DataError(
        f"{spec.name} reads its {kind} from {section.describe()}; driftline keeps no copy "
        f"of them, so it cannot {action}: do it in that database"
    )


# -- helpers ---------------------------------------------------------------------------------


def _first_line(exc: sa.exc.DBAPIError) -> str:
    lines = str(exc.orig).strip().splitlines()
    return scrub(lines[0] if lines else type(exc.orig).__name__)


def _timestamp(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    return utc(pd.Timestamp(value))


def _texts(column: pd.Series) -> pd.Series:
    """Text values (ids, categories) as Python strings, missing values as None, by the
    rule every path follows (:func:`driftline.data.values.as_text`: a REAL 1.0 is "1")."""
    return as_text(column)


def _numbers(column: pd.Series, what: str) -> pd.Series:
    """Floats; DataError naming ``what`` when a value is not a number."""
    numbers = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column.notna() & numbers.isna()
    if bad.any():
        examples = ", ".join(repr(v) for v in column[bad].head(3))
        raise DataError(
            f"the source's {what} holds values that are not numbers ({examples}); "
            "cast it in a source query, or list the column as categorical"
        )
    return numbers


def _times(column: pd.Series, what: str) -> pd.Series:
    """UTC timestamps (naive values are UTC; text as ISO 8601)."""
    try:
        first = column.dropna().iloc[0] if column.notna().any() else None
        if isinstance(first, str):
            return pd.to_datetime(column, utc=True, format="ISO8601")
        return pd.to_datetime(column, utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"the source's {what} holds values that are not times ({exc}); use a timestamp "
            "column (SQLite: ISO-8601 text such as 2026-10-01 06:00:00)"
        ) from None


def _flags(column: pd.Series, what: str) -> pd.Series:
    """True/False/<NA>; DataError naming ``what`` for anything else."""
    try:
        return column.astype("boolean")
    except (ValueError, TypeError):
        raise DataError(
            f"the source's {what} must be boolean (SQLite: 0 or 1), e.g. it holds "
            f"{column.dropna().iloc[0]!r}"
        ) from None


def _one_label_each(frame: pd.DataFrame, request_id: str, where: str) -> None:
    """DataError when joining the labels repeated a prediction (a request id with two
    label rows, or repeated in the predictions themselves)."""
    repeated = frame[request_id][frame[request_id].duplicated()]
    if not repeated.empty:
        raise DataError(
            f"{repeated.nunique()} request ids of the {where} appear more than once after "
            f"their labels are joined (e.g. {repeated.iloc[0]!r}): keep one row per request "
            "id in the labels (e.g. the latest, in a labels query) and in the predictions"
        )

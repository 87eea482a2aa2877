"""The ``source:`` section: read a model's predictions from a table the user already has.

Without it, a model's predictions are the ones driftline ingested into its own store.
With it, every window (monitoring, training, benchmark) is read from a table, a view or
a SQL query in the user's database, and driftline never writes there. Column names are
the ``model:`` section's: the source table (or the query's result) has a column named
``model.request_id``, ``model.entity_id``, ``model.timestamp``, ``model.prediction``,
each feature and (if set) ``model.consent``. To map other names, write a view or a
``query`` with ``AS``. The database URL is a secret: the spec names the environment
variable that holds it, never the URL.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from driftline.specs.common import Section

_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RELATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*(\n|$)|/\*.*?\*/))*\s*", re.S)
#: The parameters a predictions query may use: the window, ``[start, end)`` in UTC.
WINDOW_PARAMETERS = ("start", "end")


def query_parameters(query: str) -> set[str]:
    """The ``:name`` bind parameters of ``query``, as SQLAlchemy's ``text()`` reads them
    (``::int`` casts and ``\\:`` escapes are not parameters). SQLAlchemy is imported
    here, not with the module: ``driftline drift check`` reads specs without a database."""
    import sqlalchemy as sa

    return set(sa.text(query).compile().params)


def split_relation(name: str) -> tuple[str | None, str]:
    """``schema.table`` -> (schema, table); ``table`` -> (None, table)."""
    schema, _, table = name.rpartition(".")
    return (schema or None), table


def _check_relation(value: str | None) -> str | None:
    if value is not None and not _RELATION.match(value):
        raise ValueError(
            f"{value!r} is not a table name: use `table` or `schema.table` (letters, digits, "
            "underscores); for anything else write a `query`"
        )
    return value


def _check_query(value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    query = value.strip().rstrip(";").strip()
    if not re.match(r"(?is)^(select|with)\b", _LEADING_COMMENTS.sub("", query)):
        raise ValueError("must be one SELECT (or WITH ... SELECT) statement")
    if ";" in query:
        raise ValueError("must be one statement: remove the `;` inside it")
    stray = sorted(query_parameters(query) - set(allowed))
    if stray:
        can = ", ".join(f":{p}" for p in allowed) if allowed else "no parameters"
        raise ValueError(
            f"uses the parameters {', '.join(':' + p for p in stray)}; it can use {can}"
        )
    return query


class SourceLabels(Section):
    """Where the labels of a source-backed model come from: a labels table or query joined
    by ``model.request_id``, or the ``model.target`` column of the predictions themselves.
    Without a ``labels:`` key, labels are the ones ingested into driftline's store
    (``driftline ingest labels``), joined by request id."""

    table: str | None = Field(
        default=None,
        description="Table or view (optionally `schema.table`) with one row per labelled "
        "prediction: columns `model.request_id` and `model.target` (and `labelled_at`, if "
        "set).",
    )
    query: str | None = Field(
        default=None,
        description="SELECT returning the same columns as `table` (no parameters); use it "
        "to rename columns (`outcome AS churned`) or to combine tables.",
    )
    in_predictions: bool = Field(
        default=False,
        description="true: the predictions table (or query) itself holds `model.target`, "
        "empty (NULL) until the label is known.",
    )
    labelled_at: str | None = Field(
        default=None,
        description="Column with the time each label became known, so a backfill sees only "
        "the labels known at each window's end. Without it, a label counts as known "
        "`model.label_delay_days` after its prediction.",
    )

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        return _check_relation(value)

    @field_validator("query")
    @classmethod
    def _labels_query(cls, value: str | None) -> str | None:
        return _check_query(value, ())

    @field_validator("labelled_at")
    @classmethod
    def _labelled_at_column(cls, value: str | None) -> str | None:
        if value is not None and not _IDENT.match(value):
            raise ValueError(f"column name {value!r} must be a plain identifier")
        return value

    @model_validator(mode="after")
    def _one_place(self) -> SourceLabels:
        given = [k for k in ("table", "query") if getattr(self, k) is not None]
        if self.in_predictions:
            given.append("in_predictions")
        if len(given) != 1:
            raise ValueError(
                "say where the labels are with exactly one of `table`, `query` or "
                f"`in_predictions: true` (given: {', '.join(given) or 'none'}); leave out "
                "`labels:` to use the labels ingested into driftline's store"
            )
        return self


class SourceSection(Section):
    """Read this model's predictions (and, if configured, labels) from an existing table,
    view or query in the user's database, read-only. Column names are the `model:`
    section's (use a view or a `query` with `AS` to rename)."""

    url_env: str = Field(
        description="Name of the environment variable holding the database's SQLAlchemy "
        "URL (e.g. SHOP_DB_URL with postgresql+psycopg://reader:...@host/shop). The URL "
        "is a secret: it never appears in the spec, in logs or in messages.",
    )
    table: str | None = Field(
        default=None,
        description="Table or view of predictions, optionally `schema.table`; driftline "
        "filters it by `model.timestamp` in `[start, end)`.",
    )
    query: str | None = Field(
        default=None,
        description="Instead of `table`: a SELECT returning the predictions (rename "
        "columns with AS). It may use `:start` and `:end`, the window `[start, end)` in "
        "UTC (PostgreSQL: timestamptz; SQLite: text `YYYY-MM-DD HH:MM:SS.SSS`, the form of "
        "`strftime('%Y-%m-%d %H:%M:%f', col)`), so the database can use its index; "
        "driftline also keeps only rows whose `model.timestamp` is in the window.",
    )
    labels: SourceLabels | None = Field(
        default=None,
        description="Where the labels are in the same database; leave out to use the "
        "labels ingested into driftline's store.",
    )

    @field_validator("url_env")
    @classmethod
    def _env_var_name(cls, value: str) -> str:
        if "://" in value or "@" in value:
            raise ValueError(
                "must name the environment variable that holds the URL, not the URL "
                "itself (never put a database URL in a spec): e.g. `url_env: SHOP_DB_URL` "
                "and `export SHOP_DB_URL=postgresql+psycopg://...`"
            )
        if not _ENV_VAR.match(value):
            raise ValueError(
                "must be an environment variable name: letters, digits and underscores, "
                "not starting with a digit (e.g. SHOP_DB_URL)"
            )
        return value

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        return _check_relation(value)

    @field_validator("query")
    @classmethod
    def _predictions_query(cls, value: str | None) -> str | None:
        return _check_query(value, WINDOW_PARAMETERS)

    @model_validator(mode="after")
    def _table_or_query(self) -> SourceSection:
        if (self.table is None) == (self.query is None):
            raise ValueError(
                "give exactly one of `table` (a table or view) and `query` (a SELECT, "
                "which may use :start and :end)"
            )
        return self

    def describe(self) -> str:
        """A one-line description without secrets, e.g. ``table shop.scores ($SHOP_DB_URL)``."""
        what = f"table {self.table}" if self.table is not None else "query"
        return f"{what} (${self.url_env})"

"""Ingestion: validate a batch against the model spec, pseudonymise, store.

A batch is checked whole before anything is written; every problem is reported with
the column and the first rows at fault (1-based, header not counted), and a rejected
batch writes nothing. What is stored is exactly what was sent (the rules of
:mod:`driftline.data.values`, the same for CSV, Parquet and frames): a value that cannot be
stored as sent (a NUL byte, an id padded with spaces, a number in a time column, a time
beyond ``model.future_tolerance``, an infinite number) rejects the batch instead. Loading
the same rows twice stores each request once; a request id sent again with other values,
in the batch or after it was stored, rejects the batch.

A prediction may say which registry version of the model made it: a ``model_version``
column (named by ``model.model_version``) or one version for the whole batch. A row
without a version may lack a score too (a bootstrap period before any model existed):
it is stored, and monitoring never scores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from driftline.config.errors import ConflictError, DataError
from driftline.config.times import to_ts_us, utc, utc_now
from driftline.data.privacy import Pseudonymizer
from driftline.data.source import require_stored
from driftline.data.store import (
    CONSENT,
    ENTITY_KEY,
    LABEL_TYPES,
    LABELS_TABLE,
    MODEL_VERSION,
    REQUEST_ID,
    TS_US,
    IngestResult,
    Store,
    prediction_types,
)
from driftline.data.values import (
    as_numbers,
    as_text,
    contains,
    require_unique_columns,
    text_and_arrow,
)
from driftline.specs import ModelSpec
from driftline.tasks import task_for

log = logging.getLogger(__name__)

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_SHOW_ROWS = 5
MAX_ID_CHARS = 128


@dataclass
class _Problems:
    """Collects every validation problem of a batch, to report them all at once."""

    source: str
    items: list[str] = field(default_factory=list)

    def rows(self, column: str, mask: pd.Series | np.ndarray, what: str) -> None:
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if positions.size:
            shown = ", ".join(str(p + 1) for p in positions[:_SHOW_ROWS])
            more = f" and {positions.size - _SHOW_ROWS} more" if positions.size > _SHOW_ROWS else ""
            self.items.append(
                f"column {column!r}: {positions.size} rows {what} (rows {shown}{more})"
            )

    def error(self) -> DataError:
        listed = "\n".join(f"  - {i}" for i in self.items)
        return DataError(
            f"{self.source}: batch rejected, nothing was written:\n{listed}\n"
            "Row numbers are 1-based and do not count the header. Fix the rows and load again."
        )

    def raise_if_any(self) -> None:
        if self.items:
            raise self.error()


def _require(df: pd.DataFrame, columns: list[str], problems: _Problems) -> bool:
    require_unique_columns(df.columns, problems.source)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        problems.items.append(f"missing columns {missing}; the batch has {list(df.columns)}")
        problems.raise_if_any()
    return True


def _numeric(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    """Floats (see :func:`driftline.data.values.as_numbers`); text that is no number and
    infinite values are problems."""
    values, unparsed = as_numbers(df[column])
    problems.rows(column, unparsed, "are not numbers")
    problems.rows(column, np.isinf(values.to_numpy()), "are infinite")
    return values


def _text(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    """Category values as text, exactly as sent (see :func:`driftline.data.values.as_text`);
    a NUL byte is a problem (PostgreSQL cannot store it, and a CSV reader may cut the
    value there)."""
    return _checked_text(df, column, problems)[0]


def _checked_text(df: pd.DataFrame, column: str, problems: _Problems) -> tuple[pd.Series, Any]:
    """:func:`_text`, and the text as Arrow (None when it cannot be: see
    :func:`driftline.data.values.text_and_arrow`) for further vectorised checks."""
    text, arr = text_and_arrow(df[column])
    problems.rows(
        column,
        contains(text, "\x00", arrow=arr),
        "contain a NUL byte (\\x00), which cannot be stored",
    )
    return text, arr


def _text_ids(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    """Ids as text, exactly as sent: an empty id, one with spaces around it (which would
    differ from the same id without them, and join no label), a NUL byte or more than
    MAX_ID_CHARS characters is a problem."""
    text, arr = _checked_text(df, column, problems)
    empty = np.zeros(len(text), dtype=bool)
    padded = np.zeros(len(text), dtype=bool)
    long = np.zeros(len(text), dtype=bool)
    # Only ids that are missing, empty or start or end with a character other than an
    # ASCII letter or digit can change under str.strip(); the others are checked for
    # length alone, vectorised. The candidates get the exact check, value by value.
    import pyarrow.compute as pc

    if arr is None:
        check = np.arange(len(text))
    else:
        odd = pc.match_substring_regex(arr, r"^[^0-9A-Za-z]|[^0-9A-Za-z]$|^$")
        check = np.flatnonzero(pc.fill_null(odd, True).to_numpy(zero_copy_only=False))
        lengths = pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
        long = lengths > MAX_ID_CHARS
    if check.size:
        some = text.iloc[check]
        present = some.notna().to_numpy()
        stripped = some.where(present, "").astype(str).str.strip()
        empty[check] = ~present | (stripped == "").to_numpy()
        padded[check] = present & (stripped != "").to_numpy() & (stripped != some).to_numpy()
        long[check] = (stripped.str.len() > MAX_ID_CHARS).to_numpy()
    problems.rows(column, empty, "are empty")
    problems.rows(column, padded, "have spaces before or after the id; remove them before sending")
    problems.rows(column, long, f"are longer than {MAX_ID_CHARS} characters")
    return text


def _booleans(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    """True/false flags, from booleans (also pandas' nullable ``boolean``), 0/1 or text
    such as ``true``/``no``; a missing flag or any other value is a problem."""
    raw = df[column]
    if raw.dtype == bool:  # numpy booleans: every value is a flag
        return pd.Series(raw.to_numpy(), index=df.index)
    codes, uniques = pd.factorize(as_text(raw))  # each distinct value read once
    words = [v.strip().lower() for v in uniques]
    true_codes = [i for i, w in enumerate(words) if w in _TRUE]
    false_codes = [i for i, w in enumerate(words) if w in _FALSE]
    is_true, is_false = np.isin(codes, true_codes), np.isin(codes, false_codes)
    problems.rows(column, ~(is_true | is_false), "are not true/false")
    return pd.Series(is_true, index=df.index)


def _timestamps(
    df: pd.DataFrame, column: str, problems: _Problems, *, latest: pd.Timestamp
) -> pd.Series:
    """UTC timestamps (naive = UTC) from timestamps or date/time text. Numbers are refused
    rather than guessed at (epoch seconds read as nanoseconds land in 1970), and so is a
    time after ``latest`` (the time of ingestion plus the spec's ``future_tolerance``)."""
    raw = df[column]
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = pd.to_datetime(raw, utc=True)
        problems.rows(column, parsed.isna(), "are empty")
    else:
        numbers, unparsed = as_numbers(raw)
        number = numbers.notna() & ~unparsed
        problems.rows(
            column,
            number,
            "are numbers, not timestamps; send times (e.g. 2026-10-01T06:00:00Z), or convert "
            "epoch values first (pandas: pd.to_datetime(values, unit='s'))",
        )
        empty = numbers.isna() & ~unparsed  # blank, None or a missing marker
        candidates = raw.astype(object).where(~(number | empty).to_numpy(), None)
        parsed = pd.to_datetime(candidates, utc=True, errors="coerce", format="mixed")
        problems.rows(column, empty, "are empty")
        problems.rows(column, parsed.isna() & ~number & ~empty, "are not timestamps")
    problems.rows(
        column,
        parsed > latest,
        f"are dated after {latest:%Y-%m-%d %H:%M:%S} UTC, the time of ingestion plus "
        "model.future_tolerance (a clock or time zone is wrong)",
    )
    return parsed


def _latest(spec: ModelSpec, now: datetime | None) -> pd.Timestamp:
    """The latest time a row may carry when ingested at ``now`` (default: the present)."""
    return pd.Timestamp(utc(now or utc_now())) + pd.Timedelta(spec.model.future_tolerance)


def _conflicting(frame: pd.DataFrame, key: list[str], problems: _Problems, what: str) -> None:
    """Rows that repeat a key with other values: which one is right cannot be known, so
    they are a problem (exact repeats are kept once, see the ingest functions)."""
    if not frame.duplicated(subset=key).any():
        return
    distinct = frame.drop_duplicates()
    clash = distinct[distinct.duplicated(subset=key, keep=False)]
    if not clash.empty:
        keys = clash[key].drop_duplicates()
        at = frame[key].apply(tuple, axis=1).isin(set(keys.apply(tuple, axis=1)))
        shown = ", ".join(repr(v) for v in keys[key[-1]].head(_SHOW_ROWS))
        problems.rows(key[-1], at, f"repeat {what} ({shown}) with different values")


def _versions(raw: pd.Series, column: str, problems: _Problems) -> pd.Series:
    """Registry versions as canonical text ("4"; also from 4, 4.0 or " 4 "), None where
    blank. Anything else (e.g. "v4", "latest") is a problem: realized performance is judged
    against the registry version's own validation metrics, so the value must name one."""
    values = raw.astype(object)
    blank = values.isna() | (values.astype(str).str.strip() == "")
    is_bool = values.map(lambda v: isinstance(v, bool | np.bool_))
    number = pd.to_numeric(values.where(~blank & ~is_bool).astype(str).str.strip(), errors="coerce")
    whole = number.notna() & (number >= 1) & (number < 1e15) & (number % 1 == 0)
    problems.rows(
        column,
        ~blank & ~whole,
        "are not model registry versions (whole numbers from 1, as the MLflow registry "
        "numbers them, e.g. 4)",
    )
    return pd.Series(
        [str(int(n)) if ok else None for n, ok in zip(number, whole, strict=True)],
        index=raw.index,
        dtype=object,
    )


def registry_version(value: str | int, source: str) -> str:
    """One model version given for a whole batch, as canonical text. Raises DataError when
    it is not a registry version number."""
    problems = _Problems(source)
    version = _versions(pd.Series([value]), "model_version", problems)
    if problems.items:
        raise DataError(
            f"{source}: model_version={value!r} is not a model registry version; pass the "
            "version number the MLflow registry gave the model that scored the batch, e.g. 4"
        )
    return str(version.iloc[0])


def prepare_predictions(
    spec: ModelSpec,
    df: pd.DataFrame,
    source: str,
    *,
    model_version: str | int | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Validate a batch of predictions and return it in store columns (entity ids
    still raw), one row per row of ``df``. Raises DataError listing every problem: among
    them a request id repeated with different values, and a time later than ``now`` (the
    time of ingestion, default the present) plus ``model.future_tolerance``.

    The version of each row comes from the batch's ``model.model_version`` column or, for
    the whole batch, from ``model_version`` (which fills rows the column leaves blank; a
    row naming another version rejects the batch). A row with a version must have a
    score; a row without one may leave the score empty (stored as NULL, never scored).
    The prediction columns are the task's (:meth:`driftline.tasks.Task.prediction_columns`),
    checked by the task (a multiclass row's probabilities must sum to 1).
    """
    m = spec.model
    task = task_for(m)
    problems = _Problems(source)
    if df.empty:
        raise DataError(f"{source}: the batch has no rows")
    kinds = spec.prediction_types
    derived = set(task.derived_prediction_columns(m))
    logged = [c for c in kinds if c not in derived]
    needed = [m.request_id, m.entity_id, m.timestamp, *logged, *m.features.all]
    if m.consent:
        needed.append(m.consent)
    _require(df, needed, problems)
    out = pd.DataFrame(index=df.index)
    out[REQUEST_ID] = _text_ids(df, m.request_id, problems)
    out[ENTITY_KEY] = _text_ids(df, m.entity_id, problems)
    out[TS_US] = _timestamps(df, m.timestamp, problems, latest=_latest(spec, now))
    out[CONSENT] = _booleans(df, m.consent, problems) if m.consent else None
    for column in m.features.numerical:
        out[column] = _numeric(df, column, problems)
    for column in m.features.categorical:
        out[column] = _text(df, column, problems)
    if m.model_version in df.columns:
        versions = _versions(df[m.model_version], m.model_version, problems)
    else:
        versions = pd.Series([None] * len(df), index=df.index, dtype=object)
    if model_version is not None:
        given = registry_version(model_version, source)
        problems.rows(
            m.model_version,
            versions.notna() & (versions != given),
            f"name another version than model_version={given!r} given for the batch",
        )
        versions = versions.where(versions.notna(), given)
    out[MODEL_VERSION] = versions
    predictions = _predictions(spec, df, problems)
    scores = [c for c, kind in kinds.items() if kind == "numerical"]
    problems.rows(
        " + ".join(scores),
        predictions[scores].isna().all(axis=1) & versions.notna(),
        "have a model version but no score (a row without a score must not name a version)",
    )
    for column, problem in task.check_predictions(m, predictions):
        problems.rows(column, problem.rows, problem.what)
    for column in kinds:
        out[column] = predictions[column]
    problems.raise_if_any()
    out[TS_US] = to_ts_us(out[TS_US])
    _conflicting(out, [REQUEST_ID], problems, "request ids")
    problems.raise_if_any()
    return _positional(out)


def _predictions(spec: ModelSpec, df: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    """The batch's prediction columns, typed by kind (numbers as float, categories as
    text), with the columns the task derives filled where the batch leaves them blank."""
    m = spec.model
    task = task_for(m)
    out = pd.DataFrame(index=df.index)
    for column, kind in spec.prediction_types.items():
        if column not in df.columns:  # a derived column (others are required)
            out[column] = pd.Series([None] * len(df), index=df.index, dtype=object)
        elif kind == "numerical":
            out[column] = _numeric(df, column, problems)
        else:
            values = df[column].astype(object)
            blank = values.isna() | (values.astype(str).str.strip() == "")
            out[column] = values.astype(str).str.strip().where(~blank, None)
    derived = task.derived_prediction_columns(m)
    if derived:
        filled = task.prediction_frame(m, task.stored_scores(m, out))
        for column in derived:
            out[column] = out[column].where(out[column].notna(), filled[column].to_numpy())
    return out


def prepare_prediction_columns(spec: ModelSpec, df: pd.DataFrame, source: str) -> pd.DataFrame:
    """The prediction columns of ``df`` (a reference file, say) typed and checked by the
    model's task, derived columns filled; rows without any score are left as they are.
    Raises DataError listing the columns and rows at fault (KeyError-free: a missing
    column is one of them)."""
    problems = _Problems(source)
    task = task_for(spec.model)
    derived = set(task.derived_prediction_columns(spec.model))
    _require(df, [c for c in spec.prediction_types if c not in derived], problems)
    predictions = _predictions(spec, df, problems)
    for column, problem in task.check_predictions(spec.model, predictions):
        problems.rows(column, problem.rows, problem.what)
    problems.raise_if_any()
    return predictions


def prepare_labels(
    spec: ModelSpec, df: pd.DataFrame, source: str, *, now: datetime | None = None
) -> pd.DataFrame:
    """Validate a batch of labels (request id, target, optional ``labelled_at``, which must
    not lie after ``now`` plus ``model.future_tolerance``), one row per row of ``df``.
    Raises DataError listing every problem, among them two different labels of one
    request."""
    m = spec.model
    problems = _Problems(source)
    if df.empty:
        raise DataError(f"{source}: the batch has no rows")
    _require(df, [m.request_id, m.target], problems)
    out = pd.DataFrame(index=df.index)
    out["model"] = spec.name
    out[REQUEST_ID] = _text_ids(df, m.request_id, problems)
    task = task_for(m)
    encoded = task.encode_labels(df[m.target])
    label = _numeric(df, m.target, problems) if encoded is None else encoded
    for problem in task.label_problems(label):
        problems.rows(m.target, problem.rows, problem.what)
    out["label"] = label
    if "labelled_at" in df.columns:
        out["labelled_ts_us"] = _timestamps(df, "labelled_at", problems, latest=_latest(spec, now))
    else:
        out["labelled_ts_us"] = pd.Timestamp.now(tz="UTC")
    problems.raise_if_any()
    out["labelled_ts_us"] = to_ts_us(out["labelled_ts_us"])
    _conflicting(out, ["model", REQUEST_ID], problems, "request ids")
    problems.raise_if_any()
    return _positional(out)


def _positional(out: pd.DataFrame) -> pd.DataFrame:
    """``out`` (a frame built here, its columns copies of the batch's) indexed 0..n-1 like
    the rows of the batch, in place: ``reset_index`` would copy and consolidate every
    column again (a second of a 1M-row batch)."""
    out.index = pd.RangeIndex(len(out))
    return out


def _once(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """``frame`` with exact repeats dropped (after :func:`_conflicting`, a repeated key is an
    exact repeat); the whole frame is compared only when a key repeats."""
    return frame.drop_duplicates(subset=key) if frame.duplicated(subset=key).any() else frame


def _stored_conflict(
    frame: pd.DataFrame,
    key: list[str],
    conflict: ConflictError,
    source: str,
    names: Mapping[str, str] | None = None,
    column: str | None = None,
) -> DataError:
    """The error naming the rows of ``frame`` whose keys are stored with other values, and
    the columns that differ (store names shown as ``names`` maps them: the file's), under
    ``column`` (the file's name of the key; default the key's last store column)."""
    problems = _Problems(source)
    at = np.zeros(int(frame.index.max()) + 1, dtype=bool)
    hit = frame[key].apply(tuple, axis=1).isin(set(conflict.keys)).to_numpy()
    at[frame.index[hit]] = True
    shown = ", ".join(repr(k[-1]) for k in conflict.keys[:_SHOW_ROWS])
    differ = ", ".join((names or {}).get(c, repr(c)) for c in conflict.columns)
    problems.rows(
        column or key[-1],
        at,
        f"repeat request ids stored already with other values"
        f"{f' of {differ}' if differ else ''} ({shown}); a stored request is never "
        "overwritten: send each request once, with its final values",
    )
    return problems.error()


def _stored_names(spec: ModelSpec) -> dict[str, str]:
    """How an error names the store's fixed columns: as the file and the command do."""
    return {
        ENTITY_KEY: repr(spec.model.entity_id),
        TS_US: repr(spec.model.timestamp),
        CONSENT: repr(spec.model.consent or "consent"),
        MODEL_VERSION: "the model version (--model-version, or the file's "
        f"{spec.model.model_version!r} column)",
    }


def _pseudonymised(
    rows: pd.DataFrame, pseudonymizer: Pseudonymizer, known: dict[str, str]
) -> pd.DataFrame:
    """``rows`` with their entity ids replaced by pseudonyms, in a new frame that shares
    the other columns' data (``assign`` would copy and consolidate every column)."""
    out = rows.copy(deep=False)
    out[ENTITY_KEY] = pseudonymizer.pseudonymise_series(rows[ENTITY_KEY], known)
    return out


def log_predictions(
    store: Store,
    spec: ModelSpec,
    df: pd.DataFrame,
    pseudonymizer: Pseudonymizer,
    *,
    source: str = "batch",
    model_version: str | int | None = None,
    check_version: Callable[[str], object] | None = None,
) -> IngestResult:
    """Validate, pseudonymise and store a batch of predictions, all or nothing.

    ``model_version``: the registry version that scored the whole batch (see
    :func:`prepare_predictions`). ``check_version`` is called with each distinct version
    the batch names before anything is written, and raises for one the registry does not
    have (the edges pass the registry's lookup; the core knows no registry). Raises
    DataError for a bad batch or for a model that reads its predictions from a
    ``source:`` table, StoreError when the store refuses it (nothing written either way)."""
    require_stored(spec, "predictions", "ingest predictions")
    frame = prepare_predictions(spec, df, source, model_version=model_version)
    if check_version is not None:
        for version in sorted(frame[MODEL_VERSION].dropna().unique(), key=int):
            check_version(str(version))
    deduped = _once(frame, [REQUEST_ID])  # exact repeats (e.g. a retried request) count once
    table = store.ensure_model(spec)
    types = prediction_types(spec)
    # A request sent again with another consent flag changes the customer's consent:
    # every row of theirs gets the newest such flag (nothing else of a stored row changes).
    apply = (ENTITY_KEY, CONSENT, TS_US) if spec.model.consent else None
    unchanged = [c for c in deduped.columns if c != REQUEST_ID and (apply is None or c != CONSENT)]
    known: dict[str, str] = {}  # pseudonyms, shared by the chunks the store writes
    try:
        inserted, changed = store.insert_applying(
            table.name,
            deduped,
            [REQUEST_ID],
            types,
            unchanged=unchanged,
            apply=apply,
            finish=lambda rows: _pseudonymised(rows, pseudonymizer, known),
        )
    except ConflictError as exc:
        raise _stored_conflict(
            deduped, [REQUEST_ID], exc, source, _stored_names(spec), spec.model.request_id
        ) from None
    return IngestResult(
        spec.name,
        "predictions",
        len(frame),
        inserted,
        len(frame) - len(deduped),
        consent_changed=changed,
    )


def log_labels(
    store: Store, spec: ModelSpec, df: pd.DataFrame, *, source: str = "batch"
) -> IngestResult:
    """Validate and store a batch of labels that arrived after the predictions. DataError
    for a model whose ``source:`` names where its labels are."""
    require_stored(spec, "labels", "ingest labels")
    frame = prepare_labels(spec, df, source)
    deduped = _once(frame, ["model", REQUEST_ID])
    unmatched: list[str] = []
    if spec.source is None:  # a source model has no inference log here, only labels
        store.ensure_model(spec)
        unmatched = _unmatched(store, spec, deduped[REQUEST_ID].tolist())
        share = len(unmatched) / len(deduped) if len(deduped) else 0.0
        if share > spec.model.max_unmatched_label_share:
            raise DataError(
                f"{source}: {len(unmatched):,} of {len(deduped):,} labels ({share:.0%}) match "
                f"no stored prediction of {spec.name} (first request ids: "
                f"{', '.join(unmatched[:5])}); more than model.max_unmatched_label_share "
                f"({spec.model.max_unmatched_label_share:.0%}) allows, so nothing was stored. "
                f"Check the file's {spec.model.request_id!r} column and the model, or ingest "
                "the predictions first."
            )
    key = ["model", REQUEST_ID]
    try:
        inserted = store.insert_ignore(LABELS_TABLE, deduped, key, LABEL_TYPES, unchanged=["label"])
    except ConflictError as exc:
        raise _stored_conflict(deduped, key, exc, source, column=spec.model.request_id) from None
    if unmatched:
        log.warning(
            "%s: %d labels match no stored prediction (first: %s)",
            spec.name,
            len(unmatched),
            ", ".join(unmatched[:5]),
        )
    return IngestResult(
        spec.name,
        "labels",
        len(frame),
        inserted,
        len(frame) - len(deduped),
        unmatched=len(unmatched),
        unmatched_examples=tuple(unmatched[:5]),
    )


def _unmatched(store: Store, spec: ModelSpec, request_ids: list[str]) -> list[str]:
    """The request ids (in the batch's order) with no row in the model's inference log."""
    table = store.table(Store.predictions_table_name(spec))
    found: set[str] = set()
    with store.engine.connect() as conn:
        for i in range(0, len(request_ids), 5000):
            chunk = request_ids[i : i + 5000]
            query = sa.select(table.c[REQUEST_ID]).where(table.c[REQUEST_ID].in_(chunk))
            found.update(str(r) for (r,) in conn.execute(query))
    return [r for r in request_ids if r not in found]

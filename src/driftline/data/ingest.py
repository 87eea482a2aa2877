"""Ingestion: validate a batch against the model spec, pseudonymise, store.

A batch is checked whole before anything is written; every problem is reported with
the column and the first rows at fault (1-based, header not counted), and a rejected
batch writes nothing. Loading the same rows twice stores each request once.

A prediction may say which registry version of the model made it: a ``model_version``
column (named by ``model.model_version``) or one version for the whole batch. A row
without a version may lack a score too (a bootstrap period before any model existed):
it is stored, and monitoring never scores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from driftline.config.errors import DataError
from driftline.config.times import to_ts_us
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

    def raise_if_any(self) -> None:
        if self.items:
            listed = "\n".join(f"  - {i}" for i in self.items)
            raise DataError(
                f"{self.source}: batch rejected, nothing was written:\n{listed}\n"
                "Row numbers are 1-based and do not count the header. Fix the rows and load again."
            )


def _require(df: pd.DataFrame, columns: list[str], problems: _Problems) -> bool:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        problems.items.append(f"missing columns {missing}; the batch has {list(df.columns)}")
        problems.raise_if_any()
    return True


def _numeric(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    raw = df[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
    else:  # text (e.g. from CSV): every non-empty value must parse as a number
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        unparsed = values.isna() & raw.notna()
        if unparsed.any():
            blank = raw[unparsed].astype(str).str.strip() == ""
            problems.rows(
                column, unparsed & ~blank.reindex(raw.index, fill_value=False), "are not numbers"
            )
    problems.rows(column, np.isinf(values.to_numpy()), "are infinite")
    return values


def _text_ids(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    values = df[column].astype(object)
    text = values.astype(str).str.strip()
    problems.rows(column, values.isna() | (text == ""), "are empty")
    problems.rows(
        column, text.str.len() > MAX_ID_CHARS, f"are longer than {MAX_ID_CHARS} characters"
    )
    return text


def _booleans(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    raw = df[column]
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(bool)
    text = raw.astype(str).str.strip().str.lower()
    is_true, is_false = text.isin(_TRUE), text.isin(_FALSE)
    problems.rows(column, ~(is_true | is_false), "are not true/false")
    return pd.Series(is_true.to_numpy(), index=df.index)


def _timestamps(df: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    raw = df[column]
    parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
    problems.rows(column, parsed.isna(), "are not timestamps")
    return parsed


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
    spec: ModelSpec, df: pd.DataFrame, source: str, *, model_version: str | int | None = None
) -> pd.DataFrame:
    """Validate a batch of predictions and return it in store columns (entity ids
    still raw). Raises DataError listing every problem.

    The version of each row comes from the batch's ``model.model_version`` column or, for
    the whole batch, from ``model_version`` (which fills rows the column leaves blank; a
    row naming another version rejects the batch). A row with a version must have a
    score; a row without one may leave the score empty (stored as NULL, never scored).
    """
    m = spec.model
    problems = _Problems(source)
    if df.empty:
        raise DataError(f"{source}: the batch has no rows")
    needed = [m.request_id, m.entity_id, m.timestamp, m.prediction, *m.features.all]
    if m.consent:
        needed.append(m.consent)
    _require(df, needed, problems)
    out = pd.DataFrame(index=df.index)
    out[REQUEST_ID] = _text_ids(df, m.request_id, problems)
    out[ENTITY_KEY] = _text_ids(df, m.entity_id, problems)
    out[TS_US] = _timestamps(df, m.timestamp, problems)
    out[CONSENT] = _booleans(df, m.consent, problems) if m.consent else None
    for column in m.features.numerical:
        out[column] = _numeric(df, column, problems)
    for column in m.features.categorical:
        values = df[column].astype(object)
        out[column] = values.where(values.isna(), values.astype(str))
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
    score = _numeric(df, m.prediction, problems)
    problems.rows(
        m.prediction,
        score.isna() & versions.notna(),
        "have a model version but no score (a row without a score must not name a version)",
    )
    for problem in task_for(m).prediction_problems(score):
        problems.rows(m.prediction, problem.rows, problem.what)
    out[m.prediction] = score
    problems.raise_if_any()
    out[TS_US] = to_ts_us(out[TS_US])
    return out.reset_index(drop=True)


def prepare_labels(spec: ModelSpec, df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a batch of labels (request id, target, optional ``labelled_at``)."""
    m = spec.model
    problems = _Problems(source)
    if df.empty:
        raise DataError(f"{source}: the batch has no rows")
    _require(df, [m.request_id, m.target], problems)
    out = pd.DataFrame(index=df.index)
    out["model"] = spec.name
    out[REQUEST_ID] = _text_ids(df, m.request_id, problems)
    label = _numeric(df, m.target, problems)
    for problem in task_for(m).label_problems(label):
        problems.rows(m.target, problem.rows, problem.what)
    out["label"] = label
    if "labelled_at" in df.columns:
        out["labelled_ts_us"] = _timestamps(df, "labelled_at", problems)
    else:
        out["labelled_ts_us"] = pd.Timestamp.now(tz="UTC")
    problems.raise_if_any()
    out["labelled_ts_us"] = to_ts_us(out["labelled_ts_us"])
    return out.reset_index(drop=True)


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
    frame[ENTITY_KEY] = pseudonymizer.pseudonymise_series(frame[ENTITY_KEY])
    deduped = frame.drop_duplicates(subset=[REQUEST_ID], keep="first")
    table = store.ensure_model(spec)
    inserted = store.insert_ignore(table.name, deduped, [REQUEST_ID], prediction_types(spec))
    return IngestResult(spec.name, "predictions", len(frame), inserted, len(frame) - len(deduped))


def log_labels(
    store: Store, spec: ModelSpec, df: pd.DataFrame, *, source: str = "batch"
) -> IngestResult:
    """Validate and store a batch of labels that arrived after the predictions. DataError
    for a model whose ``source:`` names where its labels are."""
    require_stored(spec, "labels", "ingest labels")
    frame = prepare_labels(spec, df, source)
    deduped = frame.drop_duplicates(subset=[REQUEST_ID], keep="first")
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
    inserted = store.insert_ignore(LABELS_TABLE, deduped, ["model", REQUEST_ID], LABEL_TYPES)
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

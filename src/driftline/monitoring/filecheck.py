"""The drift check on two files, with no store and no registry.

For quick use and for comparing driftline with other tools: read a reference and a
current file (CSV or Parquet), decide which columns to test (from a spec, from explicit
lists, or inferred from the data), and run the same check as a monitor does.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.config.errors import DataError
from driftline.data.files import read_table, read_table_schema
from driftline.data.values import as_numbers, looks_like_times
from driftline.monitoring.check import compare_frames
from driftline.monitoring.engines import DriftEngine
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.results import DriftResult
from driftline.specs import ModelSpec, Monitoring

_ID_MIN_DISTINCT = 50


@dataclass(frozen=True)
class FileCheck:
    """A file-based check: its result, the columns it tested and those it left out.

    ``status`` is ``insufficient_data`` when a file has fewer than ``min_rows`` rows (the
    monitor's ``monitoring.min_rows`` rule): then ``result`` is None, as no verdict is
    given; else ``drift`` (dataset drift) or ``ok``. ``rows`` = (reference, current)."""

    result: DriftResult | None
    plan: DriftPlan
    skipped: dict[str, str] = field(default_factory=dict)
    status: str = "ok"
    rows: tuple[int, int] = (0, 0)
    min_rows: int = 0

    @property
    def reason(self) -> str:
        """Why there is no verdict (empty when there is one)."""
        if self.status != "insufficient_data":
            return ""
        which = "reference" if self.rows[0] < self.min_rows else "current"
        return (
            f"only {min(self.rows):,} rows in the {which} file; at least {self.min_rows:,} are "
            "needed for a verdict (monitoring.min_rows, or --min-rows): a drift test on so "
            "few rows flags sampling noise"
        )

    def to_contract(self) -> dict[str, Any]:
        """The JSON of the check: the result's (with ``status``), or the status, rows and
        reason when there is no verdict."""
        if self.result is not None:
            return {
                "status": self.status,
                **self.result.to_contract(),
                "not_checked": dict(self.skipped),
            }
        return {
            "status": self.status,
            "rows": {"reference": self.rows[0], "current": self.rows[1]},
            "min_rows": self.min_rows,
            "reason": self.reason,
        }


def read_frame(path: Path | str) -> pd.DataFrame:
    """A CSV (as text) or Parquet file (see :func:`read_table`); DataError when it has no
    rows."""
    frame = read_table(path)
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame


#: Rows of a Parquet file read to decide the plan (column types) before profiling it.
_HEAD_ROWS = 20_000


def _parquet_rows(path: Path | str) -> int:
    """Rows of a Parquet file from its footer; DataError as :func:`read_frame` words it."""
    from driftline.monitoring.profilecheck import parquet_rows

    read_table_schema(path)
    try:
        rows = parquet_rows(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as parquet: {exc}") from None
    if rows == 0:
        raise DataError(f"{path}: the file has no rows")
    return rows


def _parquet_head(path: Path | str) -> pd.DataFrame:
    """The first rows of a Parquet file (all of a small one)."""
    from driftline.monitoring.profilecheck import head

    try:
        return head(path, _HEAD_ROWS)
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as parquet: {exc}") from None


def infer_columns(
    reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[dict[str, str], dict[str, str]]:
    """Column types from the data: (column -> type, skipped column -> why).

    Numbers are numerical, and so is text whose every value in both files is a number
    (a CSV is read as text; blanks and missing markers aside); other text, booleans and
    categories are categorical; timestamps, date or time text (ISO 8601, as a CSV spells a
    Parquet timestamp) and identifier-like text (mostly distinct values) are left out.
    Both files must have the same columns.
    """
    only_ref = [c for c in reference.columns if c not in current.columns]
    only_cur = [c for c in current.columns if c not in reference.columns]
    if only_ref or only_cur:
        raise DataError(
            "the files have different columns: "
            f"only in the reference {only_ref}, only in the current {only_cur}; "
            "name the columns to check with --numerical/--categorical or --spec"
        )
    columns: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in reference.columns:
        values = reference[name]
        both = pd.concat([values, current[name]], ignore_index=True)
        if pd.api.types.is_bool_dtype(both.dtype):
            columns[name] = "categorical"
        elif pd.api.types.is_numeric_dtype(both.dtype) or _all_numbers(both):
            columns[name] = "numerical"
        elif looks_like_times(values) and looks_like_times(current[name]):
            skipped[name] = "timestamp"
        else:
            distinct = values.nunique(dropna=True)
            if distinct > _ID_MIN_DISTINCT and distinct > 0.5 * values.notna().sum():
                skipped[name] = (
                    f"looks like an identifier ({distinct:,} distinct values in "
                    f"{int(values.notna().sum()):,} rows of the reference"
                    f"{' read to type the columns' if len(values) == _HEAD_ROWS else ''})"
                )
            else:
                columns[name] = "categorical"
    if not columns:
        raise DataError("no column to check: every column is a timestamp or an identifier")
    return columns, skipped


def _all_numbers(values: pd.Series) -> bool:
    """Text (or mixed values) that are all numbers, with at least one present."""
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "mixed", "mixed-integer"):
        return False
    with contextlib.suppress(TypeError):  # each distinct value once (unhashable: each value)
        values = pd.Series(values.unique())
    numbers, unparsed = as_numbers(values)
    return bool(numbers.notna().any() and not unparsed.any())


def _split(names: str | None) -> list[str]:
    return [n.strip() for n in (names or "").split(",") if n.strip()]


def check_files(
    reference: Path | str,
    current: Path | str,
    *,
    spec: ModelSpec | None = None,
    numerical: str | list[str] | None = None,
    categorical: str | list[str] | None = None,
    engine: DriftEngine | str | None = None,
    min_rows: int | None = None,
) -> FileCheck:
    """Check ``current`` against ``reference``; columns from the spec, the lists, or inferred.

    ``min_rows`` (default: the spec's ``monitoring.min_rows``, else its default, 500):
    a file with fewer rows gets status ``insufficient_data`` and no verdict.

    ``engine`` is an engine or the name of a registered one (default: the spec's
    ``monitoring.drift.engine``, else evidently). Raises DataError for unreadable files or
    contradictory column lists, SpecError for an engine name that is not registered or
    whose catalogue lacks a method the spec sets.
    """
    num = _split(numerical) if isinstance(numerical, str | None) else list(numerical)
    cat = _split(categorical) if isinstance(categorical, str | None) else list(categorical)
    if spec is not None and (num or cat):
        raise DataError("give either a spec or column lists (--numerical/--categorical), not both")
    both = sorted(set(num) & set(cat))
    if both:
        raise DataError(f"columns {both} are listed as both numerical and categorical")
    parquet = all(Path(p).suffix.lower() == ".parquet" for p in (reference, current))
    if parquet:  # large files are profiled in batches; the plan comes from their heads
        rows = (_parquet_rows(reference), _parquet_rows(current))
        ref, cur = _parquet_head(reference), _parquet_head(current)
    else:
        ref, cur = read_frame(reference), read_frame(current)
        rows = (len(ref), len(cur))
    skipped: dict[str, str] = {}
    if spec is not None:
        plan = DriftPlan.from_spec(spec)
        absent = [c for c in plan.tested_predictions if c not in ref or c not in cur]
        if absent:  # every prediction column (multiclass: class and probabilities) or none
            skipped.update(dict.fromkeys(absent, "prediction column not in both files"))
            plan = DriftPlan.from_spec(spec, prediction=False)
    elif num or cat:
        columns = {**dict.fromkeys(num, "numerical"), **dict.fromkeys(cat, "categorical")}
        plan = DriftPlan.from_columns(columns)
    else:
        columns, skipped = infer_columns(ref, cur)
        plan = DriftPlan.from_columns(columns)
    if isinstance(engine, str):
        plan, engine = plan.with_engine(engine), None
    needed = (
        min_rows if min_rows is not None else (spec.monitoring if spec else Monitoring()).min_rows
    )
    if min(rows) < needed:
        return FileCheck(None, plan, skipped, "insufficient_data", rows, needed)
    names = (f"reference {reference}", f"current {current}")
    native = plan.engine == "native" or (plan.engine == "auto" and max(rows) >= plan.auto_rows)
    if parquet and engine is None and native:
        from driftline.monitoring.profilecheck import check_parquet

        result = check_parquet(reference, current, plan, names=names)
        status = "drift" if result.dataset_drift else "ok"
        return FileCheck(result, plan, skipped, status, rows, needed)
    if parquet and max(rows) > _HEAD_ROWS:
        ref, cur = read_frame(reference), read_frame(current)
    result = compare_frames(ref, cur, plan, engine=engine, names=names)
    status = "drift" if result.dataset_drift else "ok"
    return FileCheck(result, plan, skipped, status, rows, needed)

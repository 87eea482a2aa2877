"""Reading the CSV and Parquet files people hand to driftline (ingestion, adopt, file checks).

One rule for both formats: what the file holds is what the caller gets. A CSV is read as
text, cell by cell: a blank field is missing and everything else, ``NA``, ``null``, padding
and NUL bytes included, is the text that was written (pandas' reader would turn ``NA``
into a missing value and cut a value at a NUL byte). A Parquet file keeps its own types.
The callers type the columns by the rules of :mod:`driftline.data.values`. A repeated
column name is refused in either format.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from driftline.config.errors import DataError
from driftline.data.values import require_unique_columns

SUFFIXES = (".csv", ".parquet", ".pq")
_CHUNK = 1 << 20


def read_table(path: Path | str) -> pd.DataFrame:
    """A CSV file as text (object columns, missing only where a field is blank) or a
    Parquet file with its own types. DataError says what is wrong: a missing file, another
    type, an empty or unreadable file, a column name that occurs twice."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet"
        )
    try:
        if suffix == ".csv":
            require_unique_columns(_csv_header(path), str(path))
            return pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                # pandas' C reader ends a value at a NUL byte; the Python one keeps it.
                engine="python" if _has_nul(path) else "c",
            )
        import pyarrow.parquet as pq

        require_unique_columns(pq.read_schema(path).names, str(path))
        return pd.read_parquet(path)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None


def read_table_schema(path: Path | str) -> list[str]:
    """The column names of a CSV or Parquet file, with the checks of :func:`read_table`
    (file exists, known type, readable, no column name twice) but without reading rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet"
        )
    try:
        if suffix == ".csv":
            names = _csv_header(path)
        else:
            import pyarrow.parquet as pq

            names = list(pq.read_schema(path).names)
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    require_unique_columns(names, str(path))
    return names


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        return next(csv.reader(handle), [])


def _has_nul(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                return True
    return False

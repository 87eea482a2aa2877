"""Reading the CSV and Parquet files people hand to driftline (ingestion, file checks)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from driftline.config.errors import DataError

SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: Path | str, *, csv_as_text: bool = False) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; DataError says what is wrong (missing file, other
    type, empty or unreadable file).

    ``csv_as_text`` reads every CSV value as text (missing values stay missing), for
    callers that validate and type columns themselves; otherwise pandas infers types.
    Parquet files keep their own types.
    """
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
            return pd.read_csv(path, dtype=str if csv_as_text else None, keep_default_na=True)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None

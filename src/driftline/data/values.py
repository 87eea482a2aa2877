"""Column values as driftline reads, stores and compares them: one rule per kind of column,
whatever the path (a CSV or Parquet file, a frame handed to the SDK, a table read back, a
baseline's reference).

- **Categories and ids are text.** A value is kept exactly as sent when it is text; a
  number is written in its shortest form, so the category 1 is ``"1"`` whether it came as
  the integer 1, the float 1.0 (a pandas integer column with a blank becomes float), the
  text ``"1"`` or the text ``"1.0"`` (how a CSV writer spells that float); a flag is
  ``"True"``/``"False"``. Other text, leading zeros and spaces included, is never changed.
  Text that looks like a missing marker (``NA``, ``None``, ``null``) is a value, never
  missing: only a blank field, ``None`` or NaN is missing.
- **Numbers are floats.** Blank text and the usual missing markers (pandas' list: ``NA``,
  ``NaN``, ``null``, ``None``, ``N/A``, ...) are missing, since no number is spelt that way;
  other text is not a number (the caller reports it). Infinities stay infinite, so that
  each path can report them as such.
- **Column names are unique.** A file or frame with a repeated column name is refused
  (:func:`require_unique_columns`): which of two ``score`` columns is meant cannot be
  guessed.

Pure functions on pandas Series; no I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from driftline.config.errors import DataError

#: Text that stands for a missing number or time (pandas' default ``na_values``). In a
#: category or id column the same text is a value.
MISSING_MARKERS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)

# Integral floats up to 2**53 are exact integers; beyond, a float is written as a float.
_EXACT = 2.0**53
# A whole number written with a decimal point ("5.0"): how a float column is written.
_WHOLE_TEXT = re.compile(r"^[+-]?\d+\.0+$")
_ISO_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
)


def _one_text(value: Any) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return str(int(value.split(".")[0])) if _WHOLE_TEXT.match(value) else value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        if number.is_integer() and abs(number) < _EXACT:
            return str(int(number))
        return repr(number)
    return str(value)


def as_text(values: pd.Series) -> pd.Series:
    """Category or id values as text (object dtype, None where missing), by the rule of the
    module docstring: text as sent, numbers in their shortest form (``1.0`` and ``"1.0"``
    -> ``"1"``), flags as ``"True"``/``"False"``. Same index as ``values``.

    Works for every pandas dtype (numpy, nullable ``Int64``/``boolean``/``string``,
    ``category``, object holding anything)."""
    return _as_text(values)[0]


def text_and_arrow(values: pd.Series) -> tuple[pd.Series, Any]:
    """:func:`as_text` of ``values`` and the same text as an Arrow string array
    (:func:`arrow_text`: None when it cannot be one), converted once for the caller's
    vectorised checks (text columns are converted by :func:`as_text` already)."""
    text, arr = _as_text(values)
    return text, arrow_text(text) if arr is _UNCONVERTED else arr


#: Stands for "no Arrow array made yet" (None means the text cannot be one).
_UNCONVERTED: Any = object()


def _as_text(values: pd.Series) -> tuple[pd.Series, Any]:
    """:func:`as_text`, and the Arrow array of the result when making it took one
    (text columns), else ``_UNCONVERTED``."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # each category once, not each row
        names = as_text(pd.Series(dtype.categories)).to_numpy(dtype=object)
        codes = values.cat.codes.to_numpy()
        picked = np.where(codes >= 0, names[np.maximum(codes, 0)] if len(names) else None, None)
        return pd.Series(picked, index=values.index, dtype=object), _UNCONVERTED
    if kind in ("string", "empty"):
        if kind != "string":
            return values.astype(object).where(values.notna(), None), _UNCONVERTED
        out = values.astype(object)
        arr = arrow_text(out)  # NaN, None and pd.NA are its nulls
        if arr is None or arr.null_count:
            out = out.where(values.notna(), None)
        dotted = np.flatnonzero(contains(out, ".", arrow=arr))
        whole = dotted[out.iloc[dotted].str.match(_WHOLE_TEXT).to_numpy(dtype=bool)]
        if not whole.size:
            return out, arr
        text = out.to_numpy(dtype=object).copy()
        text[whole] = [str(int(v.split(".")[0])) for v in text[whole]]
        return pd.Series(text, index=values.index, dtype=object), _UNCONVERTED
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        missing = values.isna().to_numpy()
        return pd.Series(
            np.where(missing, None, values.astype(str).to_numpy(dtype=object)),
            index=values.index,
            dtype=object,
        ), _UNCONVERTED
    if pd.api.types.is_float_dtype(dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(numbers) & (np.mod(numbers, 1) == 0) & (np.abs(numbers) < _EXACT)
        out = np.full(len(numbers), None, dtype=object)
        out[whole] = numbers[whole].astype(np.int64).astype(str)
        other = ~whole & ~np.isnan(numbers)
        out[other] = [repr(float(v)) for v in numbers[other]]
        return pd.Series(out, index=values.index, dtype=object), _UNCONVERTED
    return values.astype(object).map(_one_text).astype(object), _UNCONVERTED


def arrow_text(text: pd.Series) -> Any:
    """``text`` (str or None values) as an Arrow string array for vectorised checks, or
    None when it cannot be one (a value that is not text, or a lone surrogate, which
    UTF-8 cannot encode): callers then check value by value."""
    import pyarrow as pa  # here: the commands that never read a batch start faster

    try:
        return pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        return None


def contains(text: pd.Series, part: str, *, arrow: Any = _UNCONVERTED) -> np.ndarray:
    """Boolean mask of the values of ``text`` (str or None) that contain ``part`` (False
    where missing). Vectorised through Arrow (``pyarrow.compute.match_substring``, byte
    search on UTF-8), value by value when :func:`arrow_text` cannot convert the column.
    ``arrow``: ``arrow_text(text)`` when the caller has it already (not converted again)."""
    import pyarrow.compute as pc

    arr = arrow_text(text) if arrow is _UNCONVERTED else arrow
    if arr is None:
        return text.str.contains(part, regex=False, na=False).to_numpy(dtype=bool)
    found = pc.fill_null(pc.match_substring(arr, part), False)
    return found.to_numpy(zero_copy_only=False).astype(bool)


def as_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers as float64 (NaN where missing; infinities kept; flags as 1 and 0) and a mask
    of the values that are not numbers (text other than a number, a blank or a missing
    marker). Same index as ``values``; any pandas dtype."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        return pd.Series(numbers, index=values.index), pd.Series(False, index=values.index)
    raw = values.astype(object)
    text = raw.map(_number_candidate)
    other = text.map(lambda v: v is _NOT_A_NUMBER)
    candidates = text.where(~other, None)
    numbers = pd.to_numeric(candidates, errors="coerce").astype("float64")
    unparsed = (numbers.isna() & candidates.notna()) | other
    return numbers, unparsed.astype(bool)


_NOT_A_NUMBER = object()


def _number_candidate(value: Any) -> Any:
    """What ``pd.to_numeric`` may parse: stripped text (None for a missing marker), a
    number, a flag as 1.0/0.0, None for missing; anything else (a time, a date) is
    :data:`_NOT_A_NUMBER` (``pd.to_numeric`` would turn a timestamp into nanoseconds)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped in MISSING_MARKERS else stripped
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return value
    return _NOT_A_NUMBER


def looks_like_times(values: pd.Series) -> bool:
    """True when a column holds dates or times: a timestamp dtype, Python dates, or text
    whose every present value is an ISO-8601 date or time (``2026-10-01``,
    ``2026-10-01 06:00``, ``2026-10-01T06:00:00Z``) that parses. The way a Parquet file
    stores a timestamp column and the way a CSV file spells one are the same column."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return True
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("date", "datetime", "datetime64", "time"):
        return True
    if kind != "string":
        return False
    distinct = pd.Series(values.dropna().unique()).str.strip()
    if distinct.empty or not distinct.str.match(_ISO_TIME).all():
        return False
    parsed = pd.to_datetime(distinct, errors="coerce", format="ISO8601", utc=True)
    return bool(parsed.notna().all())


def duplicated_names(columns: Iterable[Any]) -> list[str]:
    """Column names that occur more than once, in order of first appearance."""
    counts = Counter(str(c) for c in columns)
    return [name for name, n in counts.items() if n > 1]


def require_unique_columns(columns: Iterable[Any], source: str) -> None:
    """DataError naming the repeated columns of ``source`` when a name occurs twice."""
    repeated = duplicated_names(columns)
    if repeated:
        raise DataError(
            f"{source}: the column names {repeated} occur more than once; which one is meant "
            "cannot be guessed: rename or drop the repeated columns and try again"
        )

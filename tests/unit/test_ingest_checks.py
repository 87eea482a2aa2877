"""The vectorised checks of ingestion give the same verdicts as the rule they implement
(``str.strip``, ``len``, a NUL byte, true/false words), on the values that are hard for
a vectorised path: Unicode spaces Python strips, lone surrogates, non-ASCII edges."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.data.ingest import MAX_ID_CHARS, _booleans, _Problems, _text_ids

IDS = [
    "req-1",  # fine
    " req-2",  # space before
    "req-3\u00a0",  # no-break space after: str.strip() removes it
    "\x1creq-4",  # file separator: Python's whitespace too
    "",  # empty
    None,  # missing
    "   ",  # blank
    "é-req",  # non-ASCII edge, no space: fine
    "r" * MAX_ID_CHARS,  # just short enough
    "r" * (MAX_ID_CHARS + 1),  # too long
    "a\x00b",  # NUL byte
    "-req-5-",  # punctuation edges, no space: fine
]


def _checked(values: list[object]) -> list[str]:
    problems = _Problems("batch")
    _text_ids(pd.DataFrame({"id": values}), "id", problems)
    return problems.items


def _expected(values: list[object]) -> dict[str, list[int]]:
    """Rows (1-based) at fault by the plain rule, value by value."""
    rows: dict[str, list[int]] = {"empty": [], "spaces": [], "long": [], "nul": []}
    for i, v in enumerate(values, 1):
        text = "" if v is None else str(v)
        if not text.strip():
            rows["empty"].append(i)
        elif text.strip() != text:
            rows["spaces"].append(i)
        if len(text.strip()) > MAX_ID_CHARS:
            rows["long"].append(i)
        if "\x00" in text:
            rows["nul"].append(i)
    return rows


@pytest.mark.parametrize("surrogate", [False, True])
def test_id_checks_match_the_plain_rule(surrogate: bool) -> None:
    values = IDS + (["\ud800x"] if surrogate else [])  # not UTF-8: the value-by-value path
    found = _checked(values)
    want = _expected(values)
    for what, phrase in (
        ("empty", "are empty"),
        ("spaces", "have spaces before or after"),
        ("long", "are longer than"),
        ("nul", "contain a NUL byte"),
    ):
        (line,) = [item for item in found if phrase in item]
        rows = ", ".join(str(r) for r in want[what])
        assert line.startswith(f"column 'id': {len(want[what])} rows {phrase}")
        assert line.endswith(f"(rows {rows})")
    assert len(found) == 4


def test_flags_are_read_once_per_distinct_value() -> None:
    problems = _Problems("batch")
    raw = pd.Series(["yes", " TRUE ", "0", None, "maybe", "n", "1.0", True, 0], dtype=object)
    flags = _booleans(pd.DataFrame({"c": raw}), "c", problems)
    assert flags.tolist() == [True, True, False, False, False, False, True, True, False]
    assert problems.items == ["column 'c': 2 rows are not true/false (rows 4, 5)"]
    with pytest.raises(DataError):
        problems.raise_if_any()
    clean = _Problems("batch")
    numpy_flags = _booleans(pd.DataFrame({"c": [True, False]}), "c", clean)
    assert numpy_flags.tolist() == [True, False] and not clean.items

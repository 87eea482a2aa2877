"""Property: ``drift check`` on any pair of files answers 0, 1 or 2 with a message; never a
traceback or an internal error (exit 3). Files are generated: random dtypes, blanks,
constants, infinities, dates as text, duplicated and odd column names, CSV and Parquet."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import Cli

settings.register_profile(
    "drift-check",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NAMES = ["a", "b", "store id", "é", "x.1", "0", "Unnamed: 0", "na", "NULL"]
KINDS = ["int", "float", "blanks", "bool", "text", "constant", "infinite", "dates", "mixed"]


def _column(kind: str, rows: int, rng: np.random.Generator) -> list[Any]:
    if kind == "int":
        return list(rng.integers(0, 5, rows))
    if kind == "float":
        return list(rng.normal(size=rows))
    if kind == "blanks":
        return [None if i % 3 == 0 else float(v) for i, v in enumerate(rng.integers(1, 4, rows))]
    if kind == "bool":
        return list(rng.integers(0, 2, rows).astype(bool))
    if kind == "text":
        return list(rng.choice(["web", "app", "NA", "None", ""], rows))
    if kind == "constant":
        return ["same"] * rows
    if kind == "infinite":
        return [np.inf if i % 4 == 0 else -np.inf if i % 7 == 0 else 1.0 * i for i in range(rows)]
    if kind == "dates":
        return [f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(rows)]
    return ([1, "x", None, 2.5] * (rows // 4 + 1))[:rows]


@st.composite
def files(draw: st.DrawFn) -> dict[str, Any]:
    width = draw(st.integers(1, 4))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=width, max_size=width))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=width, max_size=width))
    return {
        "names": names,
        "kinds": kinds,
        "other_kinds": draw(st.lists(st.sampled_from(KINDS), min_size=width, max_size=width)),
        "rows": (draw(st.integers(1, 40)), draw(st.integers(1, 40))),
        "formats": (
            draw(st.sampled_from(["csv", "parquet"])),
            draw(st.sampled_from(["csv", "parquet"])),
        ),
        "seed": draw(st.integers(0, 2**16)),
        "fail_on_drift": draw(st.booleans()),
        "same_kinds": draw(st.booleans()),
    }


def _write(columns: list[list[Any]], names: list[str], fmt: str, path: Path) -> Path:
    path = path.with_suffix(f".{fmt}")
    rows = len(columns[0])
    if fmt == "csv":
        text = lambda v: "" if v is None else str(v)  # noqa: E731
        lines = [",".join(f'"{n}"' for n in names)]
        lines += [",".join(f'"{text(c[i])}"' for c in columns) for i in range(rows)]
        path.write_text("\n".join(lines) + "\n")
    else:
        arrays = [_arrow(c) for c in columns]
        pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return path


def _arrow(values: list[Any]) -> pa.Array:
    """A Parquet column: text when any value is text (the others as their text), else as is."""
    if any(isinstance(v, str) for v in values):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.array(values, from_pandas=True)


@settings(settings.get_profile("drift-check"))
@given(case=files())
def test_drift_check_never_crashes(cli: Cli, tmp_path: Path, case: dict[str, Any]) -> None:
    rng = np.random.default_rng(case["seed"])
    stem = tmp_path / uuid.uuid4().hex
    kinds = {
        "reference": case["kinds"],
        "current": case["kinds"] if case["same_kinds"] else case["other_kinds"],
    }
    paths = []
    for (which, rows), fmt in zip(
        zip(kinds, case["rows"], strict=True), case["formats"], strict=True
    ):
        columns = [_column(kind, rows, rng) for kind in kinds[which]]
        paths.append(_write(columns, case["names"], fmt, stem.with_name(f"{stem.name}-{which}")))
    args = ["drift", "check", "--reference", str(paths[0]), "--current", str(paths[1])]
    code, text = cli(*args, *(["--fail-on-drift"] if case["fail_on_drift"] else []))
    event(f"exit code {code}")
    assert code in (0, 1, 2), text
    assert "Traceback" not in text and "internal error" not in text
    assert text.strip()
    if code == 1:
        assert case["fail_on_drift"] and "dataset drift" in text
    if code == 2:
        assert "error:" in text

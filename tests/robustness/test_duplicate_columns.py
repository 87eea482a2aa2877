"""Item 5: a repeated column name is refused (exit 2, naming the columns) in file checks
and at ingestion, from CSV, Parquet and frames; nothing is silently renamed or dropped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.config.errors import DataError
from driftline.data.ingest import log_labels, log_predictions
from driftline.data.store import Store
from driftline.lifecycle.adopt import reference_frame
from tests.conftest import Cli
from tests.robustness.conftest import PSEUDO, batch, make_spec


def _csv(path: Path, header: str, rows: int = 60) -> Path:
    names = header.split(",")
    lines = [",".join(str((i * (k + 1)) % 7) for k in range(len(names))) for i in range(rows)]
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


def _parquet(path: Path, names: list[str], rows: int = 60) -> Path:
    arrays = [pa.array([(i * (k + 1)) % 7 for i in range(rows)]) for k in range(len(names))]
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return path


@pytest.mark.parametrize(
    ("header", "repeated"),
    [("score,score,x", "['score']"), ("a,b,a,b,c", "['a', 'b']"), ("x,x.1,x", "['x']")],
)
def test_drift_check_refuses_repeated_csv_columns(
    cli: Cli, tmp_path: Path, header: str, repeated: str
) -> None:
    ref, cur = _csv(tmp_path / "r.csv", header), _csv(tmp_path / "c.csv", "q,w,e")
    code, text = cli("drift", "check", "--reference", str(ref), "--current", str(cur))
    assert code == 2
    assert f"the column names {repeated} occur more than once" in text
    assert "Traceback" not in text


def test_drift_check_refuses_repeated_parquet_columns(cli: Cli, tmp_path: Path) -> None:
    ref = _parquet(tmp_path / "r.parquet", ["score", "x", "score"])
    cur = _parquet(tmp_path / "c.parquet", ["score", "x"])
    code, text = cli("drift", "check", "--reference", str(ref), "--current", str(cur))
    assert code == 2 and "['score'] occur more than once" in text


def test_ingest_cli_refuses_a_repeated_score(cli: Cli, tmp_path: Path) -> None:
    """The issue's example: ingestion kept the first ``score`` and dropped the second."""
    path = tmp_path / "b.csv"
    path.write_text("request_id,score,score\nr1,0.1,0.9\nr2,0.2,0.8\n")
    code, out = cli("ingest", "predictions", str(path), "--model", "purchase_propensity")
    assert code == 2 and "['score'] occur more than once" in out


def test_sdk_frames_with_repeated_columns_are_refused(store: Store) -> None:
    spec = make_spec()
    frame = batch(4)
    doubled = pd.concat([frame, frame[["score"]]], axis=1)
    with pytest.raises(DataError, match=r"\['score'\] occur more than once"):
        log_predictions(store, spec, doubled, PSEUDO)
    labels = pd.DataFrame({"request_id": ["a"], "bought": [1], "x": [0]})
    labels.columns = ["request_id", "bought", "bought"]
    with pytest.raises(DataError, match=r"\['bought'\] occur more than once"):
        log_labels(store, spec, labels)
    with pytest.raises(DataError, match=r"\['score'\] occur more than once"):
        reference_frame(spec, doubled)

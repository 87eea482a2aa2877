"""A small model spec, batches that fit it, and the CLI run in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from driftline.data.privacy import Pseudonymizer
from driftline.specs import ModelSpec
from tests.conftest import Cli, cli_runner

PSEUDO = Pseudonymizer(b"robustness-key-0123456789abcdef")

SPEC = {
    "model": {
        "name": "shop",
        "entity_id": "customer_id",
        "timestamp": "event_ts",
        "prediction": "score",
        "target": "bought",
        "consent": "opted_in",
        "features": {"numerical": ["visits"], "categorical": ["store", "channel"]},
        # Label tests here send labels of predictions never stored; the refusal of such
        # batches is tested in tests/integration/test_store.py.
        "max_unmatched_label_share": 1.0,
    }
}


def make_spec(**model: Any) -> ModelSpec:
    """The small spec, with ``model:`` keys overridden."""
    return ModelSpec.model_validate({"model": {**SPEC["model"], **model}})


@pytest.fixture
def shop() -> ModelSpec:
    return make_spec()


def batch(rows: int = 4, **columns: Any) -> pd.DataFrame:
    """A valid batch of ``rows`` predictions (times in 2026-10), columns overridden."""
    frame = pd.DataFrame(
        {
            "request_id": [f"rid-{i}" for i in range(rows)],
            "customer_id": [f"c{i % 3}" for i in range(rows)],
            "event_ts": pd.date_range("2026-10-01", periods=rows, freq="h", tz="UTC"),
            "score": [round(0.1 + 0.8 * i / max(rows - 1, 1), 3) for i in range(rows)],
            "opted_in": [True] * rows,
            "visits": [float(i) for i in range(rows)],
            "store": [str(1 + i % 5) for i in range(rows)],
            "channel": ["web", "app"] * (rows // 2) + ["web"] * (rows % 2),
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as CSV or Parquet, by the suffix of ``path``."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return cli_runner(monkeypatch, capsys)


Writer = Callable[[pd.DataFrame, Path], Path]

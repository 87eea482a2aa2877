"""The erasure test of issue 15: a sentinel customer (recognisable values in 40 rows) goes
through the whole loop — ingest, train, promote, monitor windows with reports and
snapshots (aggregates-only, then row-level), dashboards — on SQLite and PostgreSQL; after
``driftline privacy forget`` no value of theirs is left in any file under the home
(SQLite files read raw, Parquet read as tables, zip and gzip members decompressed,
MLflow's artifacts among them) or any table of the store.

Each kind of place is checked to have held the sentinel before ``forget``, so the scan
cannot pass by looking nowhere. One copy is expected to stay, and the test says so: the
exact float of the numerical sentinel in the fitted model's split thresholds (a model
learns from its rows); ``forget`` names that version as trained on the customer's rows.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from driftline.config.settings import Settings
from driftline.data.privacy import Pseudonymizer
from driftline.devtools.simulate import simulate
from driftline.lifecycle.registry import load_champion_baseline
from driftline.specs import find_spec
from tests.conftest import REPO, Cli, cli_runner

MODEL = "pp_sentinel"
KEY = "s" * 32
RAW_ID = "sentinel-7f3a@example.com"
CATEGORY = "zq-sentinel-cat"
NUMBER = 987654.321
DAYS, PER_DAY, CHAMPION_DAY = 8, 260, 6


def _spec_yaml(detail: str) -> str:
    data = yaml.safe_load((REPO / "monitors" / "purchase_propensity.yaml").read_text())
    data["model"].update(name=MODEL, label_delay_days=1)
    # Few features keep the Evidently runs short; the sentinel is in one of each type.
    data["model"]["features"] = {
        "numerical": ["monetary_90d", "recency_days", "sessions_7d"],
        "categorical": ["top_category", "channel", "device"],
    }
    data["monitoring"]["critical_features"] = []
    data["monitoring"]["drift"]["columns"] = {}
    data["training"].update(lookback_days=4, holdout_days=1, min_rows=200, n_threads=1)
    data["monitoring"].update(min_rows=100, report_detail=detail)
    data["monitoring"]["performance"].update(window="2d", min_labelled_rows=100, min_positives=5)
    data["monitoring"]["policy"]["retrain"] = "never"
    data["promotion"].update(
        min_segment_rows=50,
        bootstrap_samples=100,
        min_primary_metric=0.5,
        min_rows_per_second=1,
        max_ece=1.0,
    )
    return yaml.safe_dump(data)


@pytest.fixture(params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    specs = tmp_path / "monitors"
    specs.mkdir()
    (specs / f"{MODEL}.yaml").write_text(_spec_yaml("aggregates"))
    yield Settings(home=tmp_path / "home", specs_dir=specs, database_url=url, pseudonym_key=KEY)


@pytest.fixture
def cli(home: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DRIFTLINE_HOME", str(home.home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(home.specs_dir))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("DRIFTLINE_SLACK_WEBHOOK_URL", raising=False)
    if home.database_url is not None:
        monkeypatch.setenv("DRIFTLINE_DATABASE_URL", home.database_url.get_secret_value())
    return cli_runner(monkeypatch, capsys)


def _traffic(tmp: Path) -> tuple[Path, Path, Path, Path, pd.Timestamp]:
    """Predictions before the champion (no version), after it (version 1), and labels;
    40 rows of the sentinel customer spread over every day."""
    sim = simulate("stable", days=DAYS, rows_per_day=PER_DAY, seed=7)
    preds = sim.predictions.sort_values("event_ts").reset_index(drop=True)
    rows = preds.index[:: len(preds) // 40][:40]
    preds.loc[rows, "customer_id"] = RAW_ID
    preds.loc[rows, "monetary_90d"] = NUMBER
    preds.loc[rows, "top_category"] = CATEGORY
    preds.loc[rows, "consent_analytics"] = True
    champion_at = preds["event_ts"].min().floor("D") + pd.Timedelta(days=CHAMPION_DAY)
    served = preds["event_ts"] >= champion_at
    names = ("before", "served", "labels_before", "labels_served")
    paths = tuple(tmp / f"{n}.parquet" for n in names)
    preds[~served].to_parquet(paths[0], index=False)
    preds[served].assign(model_version=1).to_parquet(paths[1], index=False)
    early = sim.labels["request_id"].isin(preds.loc[~served, "request_id"])
    sim.labels[early].to_parquet(paths[2], index=False)
    sim.labels[~early].to_parquet(paths[3], index=False)
    return paths[0], paths[1], paths[2], paths[3], champion_at


def _needles() -> dict[str, list[bytes]]:
    pseudonym = Pseudonymizer(KEY.encode()).pseudonymise(RAW_ID)
    return {
        "raw id": [RAW_ID.encode()],
        "pseudonym": [pseudonym.encode()],
        "category": [CATEGORY.encode(), CATEGORY.encode("utf-16-le")],
        "number (text)": [repr(NUMBER).encode()],
        "number (float64)": [struct.pack("<d", NUMBER), struct.pack(">d", NUMBER)],
    }


def _blobs(path: Path) -> Iterator[tuple[str, bytes]]:
    """The bytes of a file as stored, and of what it holds: Parquet tables as text (and
    their numbers as float64), zip and gzip members decompressed (recursively)."""
    raw = path.read_bytes()
    yield from _expanded(str(path), raw)


def _expanded(name: str, raw: bytes) -> Iterator[tuple[str, bytes]]:
    yield name, raw
    if raw[:4] == b"PAR1":
        frame = pd.read_parquet(io.BytesIO(raw))
        yield f"{name} (table)", frame.to_csv(index=False).encode()
        numbers = frame.select_dtypes("number").to_numpy(dtype="float64", na_value=0.0)
        yield f"{name} (numbers)", numbers.astype("<f8").tobytes()
    elif raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for member in archive.namelist():
                yield from _expanded(f"{name}!{member}", archive.read(member))
    elif raw[:2] == b"\x1f\x8b":
        yield from _expanded(f"{name} (gunzip)", gzip.decompress(raw))


def _tables(home: Settings) -> Iterator[tuple[str, bytes]]:
    """Every row of every table of the store, as text."""
    engine = sa.create_engine(home.store_url())
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall()
                text = "\n".join(repr(tuple(r)) for r in rows)
                yield f"table {table}", text.encode()
    finally:
        engine.dispose()


def _place(name: str, home: Path) -> str:
    """The kind of place a blob is in (what the test requires the scan to have covered)."""
    rel = name.replace(str(home), "")
    if rel.startswith("table "):
        return "store table"
    if "/mlartifacts/" in rel and "/baseline" in rel:
        return "baseline sample"
    if "/mlartifacts/" in rel:
        return "mlflow artifact"
    if "/reports/" in rel:
        return "html report"
    if "/evidently/" in rel:
        return "evidently snapshot"
    if rel.endswith((".db", ".db-wal")):
        return "sqlite file"
    return "other file"


def _in_model(name: str) -> bool:
    """Whether a blob is part of a logged model (MLflow 3: ``models/m-<id>/artifacts/``)."""
    return "/models/m-" in name


def _scan(home: Settings, *, model_exempt: bool) -> dict[str, dict[str, set[str]]]:
    """Where each needle was found: needle kind -> place kind -> blob names. With
    ``model_exempt``, the float64 bytes of the numerical sentinel inside the fitted model
    (its artifacts: split thresholds) are not counted."""
    needles = _needles()
    found: dict[str, dict[str, set[str]]] = {k: {} for k in needles}
    root = home.home.resolve()
    blobs: list[tuple[str, bytes]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        blobs.extend(_blobs(path))
    blobs.extend(_tables(home))
    for name, data in blobs:
        for kind, patterns in needles.items():
            if model_exempt and kind == "number (float64)" and _in_model(name):
                continue
            if any(p in data for p in patterns):
                found[kind].setdefault(_place(name, root), set()).add(name)
    return found


def test_forget_leaves_no_value_of_the_sentinel_anywhere(
    cli: Cli, home: Settings, tmp_path: Path
) -> None:
    before, served, labels_before, labels_served, champion_at = _traffic(tmp_path)
    for args in (
        ("ingest", "predictions", str(before), "-m", MODEL),
        ("ingest", "labels", str(labels_before), "-m", MODEL),
        ("train", "-m", MODEL, "--as-of", champion_at.isoformat()),
        ("promote", "-m", MODEL, "--as-of", champion_at.isoformat()),
        ("ingest", "predictions", str(served), "-m", MODEL),
        ("ingest", "labels", str(labels_served), "-m", MODEL),
        ("dashboards", "sync", "-m", MODEL),
    ):
        code, text = cli(*args)
        assert code == 0, (args, text)
    ends = [champion_at + pd.Timedelta(days=d) for d in (1, 2)]
    code, text = cli("monitor", "run", "-m", MODEL, "--window-end", ends[0].isoformat())
    assert code == 0, text
    (home.specs_dir / f"{MODEL}.yaml").write_text(_spec_yaml("rows"))
    code, text = cli("monitor", "run", "-m", MODEL, "--window-end", ends[1].isoformat())
    assert code == 0, text
    reports = sorted((home.home / "reports" / MODEL).glob("*.html"))
    assert any("-rows" in p.name for p in reports) and any("-rows" not in p.name for p in reports)

    found = _scan(home, model_exempt=True)
    # Before: the scan sees the sentinel in every kind of place that holds it.
    assert {"store table", "baseline sample", "html report", "evidently snapshot"} <= set(
        found["category"]
    ), found["category"]
    assert "baseline sample" in found["number (float64)"], found["number (float64)"]
    assert "store table" in found["pseudonym"]
    if home.database_url is None:
        assert "sqlite file" in found["category"]
    assert not found["raw id"], found["raw id"]  # never stored anywhere, even before
    # Aggregates-only reports never held a value of a row.
    aggregate_reports = [p for p in reports if "-rows" not in p.name]
    assert all(CATEGORY.encode() not in p.read_bytes() for p in aggregate_reports)

    code, text = cli("privacy", "forget", "-m", MODEL, "--entity", f" {RAW_ID} ", "--json")
    assert code == 0, text
    erased = json.loads(text[text.index("{") :])
    assert erased["store"]["predictions_deleted"] == 40
    assert erased["store"]["labels_deleted"] > 0
    baseline = erased["baselines"][0]
    assert baseline["version"] == "1" and baseline["rows_erased"] > 0
    assert baseline["stats_recomputed"]
    assert erased["reports_deleted"] and all("-rows" in p for p in erased["reports_deleted"])
    assert erased["snapshots_regenerated"]
    assert erased["versions_trained_on_the_rows"] == ["1"]

    code, text = cli("privacy", "forget", "-m", MODEL, "--entity", RAW_ID)  # again: nothing
    flat = " ".join(text.split())
    assert code == 0 and "erased 0 predictions and 0 labels" in flat, text
    assert "baseline sample v1 baseline/: 0 rows erased" in flat
    assert "row-level reports deleted: 0" in flat

    after = _scan(home, model_exempt=True)
    assert after == {kind: {} for kind in after}, after
    # The expected leftover, named by forget above: the model's split thresholds.
    exact = _scan(home, model_exempt=False)["number (float64)"]
    assert set(exact) <= {"mlflow artifact"}, exact
    # What stays is usable: the champion's baseline reads, without the customer's rows.
    kept = load_champion_baseline(home, find_spec(MODEL, home.specs_dir))
    assert len(kept.reference) == baseline["rows_left"] > 0
    assert kept.entity_keys is not None and len(kept.entity_keys) == len(kept.reference)

"""The fixed contract of ``driftline drift check``: files in, JSON out, exit codes 0/1/2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from driftline.cli.main import main
from tests.simdata import event_start, scenario, window

SPEC = Path(__file__).resolve().parents[2] / "monitors" / "purchase_propensity.yaml"


def run(monkeypatch: pytest.MonkeyPatch, *args: str | Path) -> int:
    """Run the CLI as the console script does; return its exit code."""
    monkeypatch.setattr(sys, "argv", ["driftline", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    code = exit_info.value.code
    return 0 if code is None else int(code)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reference (days 0-2) and current windows of the flash-sale simulation, as CSV and
    Parquet: a sale day (drift) and a quiet day before it."""
    out = tmp_path_factory.mktemp("files")
    sim = scenario("flash_sale")
    frames = {
        "ref": window(sim, 0, 2),
        "sale": window(sim, event_start(sim)),
        "quiet": window(sim, 3),
    }
    paths: dict[str, Path] = {}
    for name, frame in frames.items():
        paths[f"{name}.csv"] = out / f"{name}.csv"
        frame.to_csv(paths[f"{name}.csv"], index=False)
        paths[f"{name}.parquet"] = out / f"{name}.parquet"
        frame.to_parquet(paths[f"{name}.parquet"], index=False)
    return paths


def test_csv_with_spec_writes_the_contract(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "drift.json"
    code = run(
        monkeypatch,
        "drift", "check", "--reference", files["ref.csv"], "--current", files["sale.csv"],
        "--spec", SPEC, "--json", out,
    )  # fmt: skip
    assert code == 0  # drift found, but --fail-on-drift was not given
    data = json.loads(out.read_text())
    assert set(data) == {
        "status", "dataset_drift", "drift_share", "rows", "columns", "quality", "notes",
        "not_checked",
    }  # fmt: skip
    assert data["dataset_drift"] is True
    assert data["rows"]["reference"] == len(pd.read_csv(files["ref.csv"]))
    assert data["rows"]["current"] == len(pd.read_csv(files["sale.csv"]))
    spec_features = [
        *["recency_days", "frequency_90d", "monetary_90d", "avg_order_value", "sessions_7d"],
        *["cart_adds_7d", "discount_share", "pages_per_session", "days_since_signup"],
        *["email_open_rate", "device", "channel", "top_category", "customer_type"],
    ]
    assert [c["name"] for c in data["columns"]] == spec_features
    for column in data["columns"]:
        assert set(column) == {"name", "type", "method", "score", "threshold", "drifted"}
        assert column["type"] in {"numerical", "categorical"}
        assert isinstance(column["score"], float) and isinstance(column["drifted"], bool)
    drifted = [c for c in data["columns"] if c["drifted"]]
    assert data["drift_share"] == pytest.approx(len(drifted) / len(spec_features))


def test_parquet_with_column_flags_fails_on_drift(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "drift.json"
    code = run(
        monkeypatch,
        "drift", "check", "--reference", files["ref.parquet"], "--current",
        files["sale.parquet"], "--numerical", "discount_share,sessions_7d",
        "--categorical", "customer_type", "--json", out, "--fail-on-drift",
    )  # fmt: skip
    assert code == 1
    data = json.loads(out.read_text())
    assert [(c["name"], c["type"]) for c in data["columns"]] == [
        ("discount_share", "numerical"),
        ("sessions_7d", "numerical"),
        ("customer_type", "categorical"),
    ]
    assert data["dataset_drift"] is True


def test_inferred_columns_quiet_day_exits_zero_and_writes_html(
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, html = tmp_path / "drift.json", tmp_path / "report.html"
    code = run(
        monkeypatch,
        "drift", "check", "--reference", files["ref.parquet"], "--current",
        files["quiet.parquet"], "--json", out, "--html", html, "--fail-on-drift",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    assert data["dataset_drift"] is False
    names = {c["name"]: c["type"] for c in data["columns"]}
    assert names["channel"] == "categorical" and names["score"] == "numerical"
    assert names["consent_analytics"] == "categorical"
    assert {"request_id", "customer_id", "event_ts"}.isdisjoint(names)
    assert html.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "not checked: request_id (looks like an identifier" in printed


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("missing_file", "file not found"),
        ("empty_file", "the file is empty"),
        ("header_only", "the file has no rows"),
        ("mismatched", "only in the current ['extra']"),
        ("missing_flagged", "missing columns ['no_such_column']"),
        ("spec_and_flags", "either a spec or column lists"),
        ("text_as_number", "'channel' is numerical but has"),
        ("bad_type", "unsupported file type '.txt'"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    make: str,
    message: str,
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref, cur = files["ref.csv"], files["quiet.csv"]
    extra: list[str | Path] = []
    if make == "missing_file":
        cur = tmp_path / "nope.csv"
    elif make == "empty_file":
        cur = tmp_path / "empty.csv"
        cur.write_text("")
    elif make == "header_only":
        cur = tmp_path / "header.csv"
        cur.write_text("a,b\n")
    elif make == "mismatched":
        cur = tmp_path / "extra.parquet"
        window(scenario("flash_sale"), 3).assign(extra=1.0).to_parquet(cur)
        ref = files["ref.parquet"]
    elif make == "missing_flagged":
        extra = ["--numerical", "recency_days,no_such_column"]
    elif make == "spec_and_flags":
        extra = ["--spec", SPEC, "--numerical", "recency_days"]
    elif make == "text_as_number":
        extra = ["--numerical", "channel"]
    elif make == "bad_type":
        cur = tmp_path / "data.txt"
        cur.write_text("a\n1\n")
    code = run(monkeypatch, "drift", "check", "--reference", ref, "--current", cur, *extra)
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err

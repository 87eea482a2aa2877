"""Links that open: pages under the public UI addresses, never credentials or paths."""

from __future__ import annotations

import pytest

from driftline.config.links import flow_run_page, model_version_url, public_url, snapshot_url
from driftline.config.settings import Settings


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/#/models/pp%2Fx/versions/7"),
        (
            "HTTPS://mlflow.example.com/ml/",
            "https://mlflow.example.com/ml/#/models/pp%2Fx/versions/7",
        ),
        ("sqlite:////home/me/.driftline/mlflow.db", None),
        ("file:///tmp/mlruns", None),
        ("databricks", None),
        ("postgresql://u:p@db/mlflow", None),
        ("http://host:notaport", None),
        (None, None),
    ],
)
def test_model_version_url(uri: str | None, expected: str | None) -> None:
    assert model_version_url(uri, "pp/x", "7") == expected


def test_public_url_drops_credentials_query_and_fragment() -> None:
    assert public_url("http://u:p@[::1]:4200/runs/flow-run/9?x=1#y") == (
        "http://[::1]:4200/runs/flow-run/9"
    )
    assert public_url("mailto:someone@example.com") is None


def test_snapshot_and_flow_run_pages() -> None:
    assert snapshot_url("http://127.0.0.1:8000/", "p-1", "s-2") == (
        "http://127.0.0.1:8000/projects/p-1/reports/s-2"
    )
    assert snapshot_url("http://ui:8000", None, "s") is None
    assert snapshot_url("/srv/evidently", "p", "s") is None
    assert flow_run_page("https://u:pw@prefect.example.com/x?t=1", "9") == (
        "https://prefect.example.com/x/runs/flow-run/9"
    )
    assert flow_run_page("http://127.0.0.1:4200", None) is None


def test_ui_addresses_from_settings(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    plain = Settings(home=tmp_path)
    assert plain.evidently_ui_url == "http://127.0.0.1:8000"
    assert plain.prefect_ui_url == "http://127.0.0.1:4200"
    assert plain.mlflow_ui() == "http://127.0.0.1:5000"  # local store: driftline ui's
    served = Settings(home=tmp_path, mlflow_tracking_uri="http://mlflow.internal:5000")
    assert served.mlflow_ui() == "http://mlflow.internal:5000"  # a server is its own UI
    chosen = Settings(
        home=tmp_path,
        mlflow_tracking_uri="http://mlflow.internal:5000",
        mlflow_ui_url="https://mlflow.example.com",
    )
    assert chosen.mlflow_ui() == "https://mlflow.example.com"

"""The Alert value: defaults that decide suppression, validation, severity order, spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from driftline.alerts.message import Alert, Severity, Window
from driftline.config.errors import SpecError
from driftline.specs import AlertsSection, ModelSpec, parse_spec


def test_findings_and_failed_flows_share_a_key_events_get_their_own() -> None:
    drift = [Alert(model="m", kind="drift", severity="warning", title="t") for _ in range(2)]
    assert drift[0].dedupe_key == drift[1].dedupe_key == "m:drift"
    failed = Alert(model="m", kind="flow_failed", severity="critical", title="t")
    assert failed.dedupe_key == "m:flow_failed"
    promoted = [Alert(model="m", kind="promoted", severity="info", title="t") for _ in range(2)]
    assert promoted[0].dedupe_key != promoted[1].dedupe_key
    assert promoted[0].dedupe_key == f"m:promoted:{promoted[0].alert_id}"


def test_an_explicit_dedupe_key_is_kept() -> None:
    alert = Alert(model="m", kind="promoted", severity="info", title="t", dedupe_key="m:v4")
    assert alert.dedupe_key == "m:v4"


def test_severities_are_ordered() -> None:
    assert Severity.INFO.rank < Severity.WARNING.rank < Severity.CRITICAL.rank
    assert Alert(model="m", kind="drift", severity="critical", title="t").severity.rank == 2


def test_times_are_utc() -> None:
    naive = Alert(
        model="m", kind="drift", severity="info", title="t", created_at=datetime(2026, 1, 1)
    )
    assert naive.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    paris = timezone(timedelta(hours=1))
    window = Window(start=datetime(2026, 1, 1, 1, tzinfo=paris), end=datetime(2026, 1, 2))
    assert window.start == datetime(2026, 1, 1, tzinfo=UTC)


def test_pandas_and_numpy_values_become_plain_python_values() -> None:
    alert = Alert(
        model="m",
        kind="drift",
        severity="warning",
        title="t",
        rows=np.int64(2400),
        drift_share=np.float64(0.25),
        created_at=pd.Timestamp("2026-03-01 06:00"),
        window=Window(start=pd.Timestamp("2026-02-22", tz="UTC"), end=pd.Timestamp("2026-03-01")),
    )
    assert type(alert.created_at) is datetime and type(alert.window.start) is datetime  # type: ignore[union-attr]
    assert alert.created_at == datetime(2026, 3, 1, 6, tzinfo=UTC)
    assert type(alert.rows) is int and alert.rows == 2400


@pytest.mark.parametrize(
    "bad",
    [
        {"severity": "urgent"},
        {"kind": "weather"},
        {"drift_share": 1.5},
        {"rows": -1},
        {"title": ""},
        {"window": {"start": "2026-01-02", "end": "2026-01-01"}},
        {"unknown": 1},
    ],
)
def test_invalid_alerts_are_rejected(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"model": "m", "kind": "drift", "severity": "info", "title": "t"}
    with pytest.raises(ValidationError):
        Alert(**{**fields, **bad})


def test_the_alerts_spec_section_has_defaults_and_rejects_typos(spec_dict: dict) -> None:
    spec = parse_spec({k: v for k, v in spec_dict.items() if k != "alerts"})
    assert spec.alerts == AlertsSection()
    assert spec.alerts.min_severity == "warning"
    assert spec.alerts.channels == ["slack"]
    with pytest.raises(SpecError, match=r"alerts\.cooldown: unknown key; allowed here: enabled"):
        parse_spec({**spec_dict, "alerts": {"cooldown": 5}})
    with pytest.raises(SpecError, match=r"alerts\.channels: list each channel once"):
        parse_spec({**spec_dict, "alerts": {"channels": ["slack", "slack"]}})
    with pytest.raises(SpecError, match=r"alerts\.channels\.0"):
        parse_spec({**spec_dict, "alerts": {"channels": ["email"]}})


@pytest.fixture
def spec_dict(spec: ModelSpec) -> dict:
    assert spec.path is not None
    return yaml.safe_load(spec.path.read_text())


def test_the_example_spec_configures_alerts(spec: ModelSpec) -> None:
    assert spec.alerts.cooldown_minutes == 720
    assert spec.alerts.max_features == 10

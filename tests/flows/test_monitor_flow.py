"""monitor-model and backfill-monitor under the session's Prefect test harness, with a
real MLflow registry (a champion trained by the lifecycle code) and a SQLite store in a
temporary home. The simulated world has concept drift from day 21: inputs stay put,
realized performance falls once the labels of the drifted days have matured."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from driftline.flows.hooks import ALERTED_FAILURE
from driftline.flows.monitor import backfill_monitor_flow, emit_drift_event, monitor_model_flow
from prefect import get_client
from prefect.artifacts import Artifact
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.sorting import FlowRunSort

from driftline.alerts.outbox import list_entries
from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.lifecycle.registry import Registry
from driftline.monitoring.runs import list_runs
from driftline.sdk import monitor_model
from driftline.specs import find_spec
from tests.simdata import CHAMPION_DAY, iso_day, monitored_home

KEY = "m" * 32


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One model with a champion (pp_watched) and one without (pp_orphan)."""
    root = tmp_path_factory.mktemp("monitor-flow")
    settings = monitored_home(root, KEY, champions=["pp_watched"], orphans=["pp_orphan"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_HOME", str(settings.home))
        mp.setenv("DRIFTLINE_SPECS_DIR", str(settings.specs_dir))
        mp.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
        mp.delenv("DRIFTLINE_SLACK_WEBHOOK_URL", raising=False)
        mp.delenv("DRIFTLINE_WEBHOOK_URL", raising=False)
        yield settings


_iso = iso_day


def _artifact(key: str) -> Any:
    artifact = Artifact.get(key)
    assert artifact is not None, f"no artifact {key!r}"
    return artifact


def _flow_runs(flow_name: str) -> list[Any]:
    """The harness's runs of one flow, newest first."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )


def test_quiet_window_runs_and_publishes_its_artifacts(home: Settings) -> None:
    summary = monitor_model_flow(model="pp_watched", window_end=_iso(CHAMPION_DAY + 1))
    assert (summary["status"], summary["decision"]) == ("ok", "none"), summary["reasons"]
    assert summary["action_taken"] == "-"
    assert summary["champion_version"] == "1"
    markdown = _artifact("monitor-pp-watched-summary")
    assert "decision **none**" in str(markdown.data)
    table = _artifact("monitor-pp-watched-columns")
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    spec = find_spec("pp_watched", home.specs_dir)
    assert [r["column"] for r in rows] == spec.model.features.all
    link = _artifact("monitor-pp-watched-report")
    # the link opens the run's snapshot in the Evidently UI (DRIFTLINE_EVIDENTLY_UI_URL's
    # default); the report file's path is in the summary, labelled as a path
    uri = re.search(r"\((http://127\.0\.0\.1:8000/projects/[^)]+/reports/[^)]+)\)", str(link.data))
    assert uri is not None, link.data
    assert f"({uri.group(1)})" in str(markdown.data)
    path = re.search(r"report file \(path on the monitoring host\): `([^`]+)`", str(markdown.data))
    assert path is not None, markdown.data
    report = Path(path.group(1))
    assert report.is_file() and report.parent == home.reports_dir() / "pp_watched"


def test_performance_drop_retrains_through_the_subflow(home: Settings) -> None:
    """Day 35: the scored week (days 21-28) follows the new behaviour."""
    summary = monitor_model_flow(model="pp_watched", window_end=_iso(35), retrain_via="subflow")
    assert summary["decision"] == "retrain", summary["reasons"]
    assert "performance_drop" in summary["triggers"]
    assert re.fullmatch(r"alert, retrain: v\d+ (promoted|rejected)", summary["action_taken"])
    spec = find_spec("pp_watched", home.specs_dir)
    registry = Registry.from_settings(home)
    # The retrain ran: a challenger (v2) exists, promoted or rejected by its gates.
    assert {v.version for v in registry.versions(spec)} == {"1", "2"}
    store = Store.from_settings(home)
    alerts = list_entries(store, model="pp_watched")
    kinds = [(a.kind, a.severity) for a in alerts]
    # the finding, then the retrain's own alerts: started, and its outcome
    assert kinds[:2] == [("performance", "critical"), ("retrain_started", "info")]
    assert kinds[2:] in ([("promoted", "info")], [("rejected", "warning")])
    assert "|Prefect flow run>" in json.dumps(alerts[0].payload())
    run_id = summary["run_id"]
    assert f"monitor run #{run_id} asked for it" in alerts[1].payload()["blocks"][1]["text"]["text"]
    assert list_runs(store, "pp_watched")[0].decision == "retrain"
    store.dispose()
    # runs are named and tagged for searching: the monitor run by model and window end,
    # its retrain subflow by model and reason
    monitor = _flow_runs("monitor-model")[0]
    assert monitor.name == f"monitor-pp_watched-{_iso(35)[:10]}"
    assert {"model:pp_watched", "decision:retrain", "reason:performance"} <= set(monitor.tags)
    retrain = _flow_runs("retrain-model")[0]
    assert retrain.name == "retrain-pp_watched-performance"
    assert {"model:pp_watched", "reason:performance"} <= set(retrain.tags)
    assert f"outcome:{summary['action_taken'].rsplit(' ', 1)[1]}" in retrain.tags


def test_a_model_without_champion_fails_the_flow_after_recording(home: Settings) -> None:
    state = monitor_model_flow(model="pp_orphan", window_end=_iso(30), return_state=True)
    assert state.is_failed()
    # the run's own flow_failed alert went out; the on_failure hook adds no second one
    assert state.name == ALERTED_FAILURE
    assert "has no champion yet" in (state.message or "")
    assert "has no champion yet" in str(_artifact("monitor-pp-orphan-summary").data)
    store = Store.from_settings(home)
    assert [r.status for r in list_runs(store, "pp_orphan")] == ["failed"]
    assert [a.kind for a in list_entries(store, model="pp_orphan")] == ["flow_failed"]
    store.dispose()
    failed = _flow_runs("monitor-model")[0]
    assert failed.name == f"monitor-pp_orphan-{_iso(30)[:10]}"
    assert {"model:pp_orphan", "decision:none", "status:failed"} <= set(failed.tags)


def test_retrain_request_event_and_backfill(home: Settings) -> None:
    run = monitor_model("pp_watched", _iso(CHAMPION_DAY - 1), settings=home)
    assert emit_drift_event.fn(run) is not None
    timeline = backfill_monitor_flow(model="pp_orphan", start=_iso(20), end=_iso(23))
    assert [row["day"] for row in timeline] == ["2026-09-21", "2026-09-22", "2026-09-23"]
    assert {row["status"] for row in timeline} == {"failed"}
    assert _artifact("monitor-pp-orphan-backfill") is not None
    backfilled = _flow_runs("backfill-monitor")[0]
    assert backfilled.name == f"backfill-pp_orphan-{_iso(20)}..{_iso(23)}"
    assert "model:pp_orphan" in backfilled.tags


def test_a_window_profile_feeds_the_flow(home: Settings, tmp_path: Path) -> None:
    """The `profile` parameter: the run checks the window the profile records, named for
    it and tagged input:profile; another model's profile fails the flow, recording nothing."""
    from driftline.data.windows import read_window, window_bounds
    from driftline.lifecycle.baseline import reference_profile
    from driftline.lifecycle.registry import load_champion_baseline
    from driftline.monitoring.profiles import profile_frame, to_json

    spec = find_spec("pp_watched", home.specs_dir)
    start, end = window_bounds(spec.monitoring, _iso(CHAMPION_DAY + 3))
    kinds = spec.column_types_with_prediction
    reference = reference_profile(load_champion_baseline(home, spec), kinds)
    store = Store.from_settings(home)
    window = profile_frame(read_window(store, spec, start, end), kinds, reference)
    path = tmp_path / "window.json"
    about = {"model": "pp_watched", "window": [start.isoformat(), end.isoformat()]}
    path.write_text(to_json(window, {"role": "window", **about}))
    summary = monitor_model_flow(model="pp_watched", profile=str(path))
    assert summary["window_end"][:10] == _iso(CHAMPION_DAY + 3)[:10]
    assert summary["status"] != "failed" and summary["run_id"] is not None, summary
    assert any("checked from the window profile" in r for r in summary["reasons"])
    run = _flow_runs("monitor-model")[0]
    assert run.name == f"monitor-pp_watched-{_iso(CHAMPION_DAY + 3)[:10]}"
    assert "input:profile" in run.tags
    before = len(list_runs(store, "pp_watched"))
    path.write_text(to_json(window, {"role": "window", **about, "model": "pp_orphan"}))
    state = monitor_model_flow(model="pp_watched", profile=str(path), return_state=True)
    assert state.is_failed() and "a profile of model 'pp_orphan'" in (state.message or "")
    assert len(list_runs(store, "pp_watched")) == before
    store.dispose()

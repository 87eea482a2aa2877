"""Dashboards as code: sync is idempotent, and the Evidently UI renders every panel
with data in headless Chromium (a real browser against a real `evidently ui`)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd
import pytest

from driftline.config.errors import SpecError
from driftline.ops.dashboards import load_dashboard, open_workspace, sync_dashboard
from driftline.specs import ModelSpec

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_default_dashboard_is_valid(spec: ModelSpec) -> None:
    dashboard, path = load_dashboard(DASHBOARDS, spec.name)
    assert path.name == "default.yaml"
    assert any(p.for_each == "numerical" for p in dashboard.panels)


def test_multiclass_dashboard_repeats_over_every_prediction_column() -> None:
    from driftline.ops.dashboards import render_panels
    from driftline.specs import load_spec

    spec = load_spec(REPO / "monitors" / "next_category.yaml")
    dashboard, path = load_dashboard(DASHBOARDS, spec.name)
    assert path.name == "next_category.yaml"
    [drift] = [p for p in dashboard.panels if p.for_each == "predictions"]
    panel = render_panels(dashboard, spec)[dashboard.panels.index(drift)]
    columns = [v.metric_labels["column"] for v in panel.values]
    assert columns == list(spec.prediction_types)  # predicted class, then p_<class>
    metrics = {v.metric for p in dashboard.panels for v in p.values}
    assert {"Accuracy", "F1Score", "RocAuc", "LogLoss"} <= metrics


def test_bad_dashboard_file_is_explained(tmp_path: Path, spec: ModelSpec) -> None:
    (tmp_path / f"{spec.name}.yaml").write_text("panels:\n  - title: x\n    type: pie\n")
    with pytest.raises(SpecError, match=r"invalid dashboard: panels\.0\.type"):
        load_dashboard(tmp_path, spec.name)


def test_sync_is_idempotent(tmp_path: Path, spec: ModelSpec) -> None:
    first = sync_dashboard(tmp_path / "ws", DASHBOARDS, spec)
    second = sync_dashboard(tmp_path / "ws", DASHBOARDS, spec)
    assert first.created and not second.created
    assert first.project_id == second.project_id
    workspace = open_workspace(tmp_path / "ws")
    assert len(workspace.search_project(spec.name)) == 1
    dashboard = workspace.get_dashboard(first.project_id)
    assert len(dashboard.panels) == first.panels == second.panels
    assert len(dashboard.tabs) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def evidently_ui(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    port = _free_port()
    exe = Path(sys.executable).parent / "evidently"
    proc = subprocess.Popen(
        [str(exe), "ui", "--workspace", str(workspace), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "DO_NOT_TRACK": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/projects", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("evidently ui did not start within 60 s")
        yield url, workspace
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def monitored_workspace(spec: ModelSpec, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Fill a workspace the way production does: daily monitor runs (driftline.monitor)
    over simulated traffic in a real store, each adding its Evidently snapshot."""
    from driftline.data.ingest import log_labels, log_predictions
    from driftline.data.privacy import Pseudonymizer
    from driftline.data.store import Store
    from driftline.monitoring.monitor import run_monitor
    from driftline.tasks import TASKS

    from ..simdata import baseline_from, labelled, scenario

    def fill(workspace_dir: Path) -> None:
        sim = scenario("channel_shift", days=12, rows_per_day=800)
        store = Store(f"sqlite:///{tmp_path / 'dash.db'}")
        try:
            log_predictions(store, spec, sim.predictions, Pseudonymizer(b"d" * 32))
            log_labels(store, spec, sim.labels)
            baseline = baseline_from(sim, spec, 0, 2)
            rows = labelled(sim, 0, 2)  # the estimate panel needs a CBPE estimator
            estimator = TASKS.get("binary_classification").fit_estimator(
                spec.model, rows, {}, rows[spec.model.target].to_numpy(), rows["score"].to_numpy()
            )
            baseline = replace(baseline, estimator=estimator)
            start = sim.predictions["event_ts"].min().floor("D")
            for day in range(9, 13):
                run = run_monitor(
                    store,
                    spec,
                    baseline,
                    start + pd.Timedelta(days=day),
                    workspace_dir=workspace_dir,
                )
                assert run.status != "failed", run.error
        finally:
            store.dispose()

    return fill


def _panel_sections(dom: str, titles: list[str]) -> dict[str, str]:
    """The DOM between each panel title and the next one."""
    positions = sorted((dom.find(f">{t}<"), t) for t in titles)
    assert all(pos >= 0 for pos, _ in positions), [t for pos, t in positions if pos < 0]
    return {
        title: dom[pos : positions[i + 1][0] if i + 1 < len(positions) else len(dom)]
        for i, (pos, title) in enumerate(positions)
    }


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs it)")
def test_dashboard_renders_panels_with_data(  # type: ignore[no-untyped-def]
    evidently_ui, spec: ModelSpec, monitored_workspace
) -> None:
    url, workspace = evidently_ui
    monitored_workspace(workspace)
    result = sync_dashboard(workspace, DASHBOARDS, spec)
    dashboard, _ = load_dashboard(DASHBOARDS, spec.name)
    panels = dashboard.panels_for(spec.model.task)
    for budget in (20_000, 60_000, 120_000):  # a loaded machine renders the page later
        out = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={workspace.parent / 'chromium'}",
                f"--virtual-time-budget={budget}",
                "--dump-dom",
                f"{url}/projects/{result.project_id}",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=True,
        )
        if all(p.title in out.stdout for p in panels):
            break
    sections = _panel_sections(out.stdout, [p.title for p in panels])
    empty = [
        title
        for title, html in sections.items()
        if not re.search(r"MuiLineElement-root|MuiBarElement-root", html)
    ]
    assert empty == [], f"panels without data: {empty}"


def test_dashboards_draw_thresholds_validation_lines_and_promotion_markers(
    spec: ModelSpec,
) -> None:
    """The default dashboard's panels carry the guide series beside the values they
    judge: the drift-share threshold, the champion's validation metric and its max_drop
    limit (binary: ROC AUC; regression: MAE), and a bar per promotion."""
    from driftline.ops.dashboards import render_panels
    from driftline.specs import load_spec

    def series(model: ModelSpec) -> dict[str, set[str]]:
        dashboard, _ = load_dashboard(DASHBOARDS, model.name)
        return {
            p.title: {v.metric_labels.get("column", v.metric) for v in p.values}
            for p in render_panels(dashboard, model)
        }

    binary = series(spec)
    assert {"guide_drift_share"} < binary["Share of drifted features"]
    assert {"guide_champion_roc_auc", "guide_limit_roc_auc"} < binary[
        "Realized ROC AUC (labels matured)"
    ]
    [promotions] = [v for t, v in binary.items() if t.startswith("Promotions")]
    assert promotions == {"guide_promoted"}
    regression = series(load_spec(REPO / "monitors" / "customer_ltv.yaml"))
    assert {"guide_champion_mae", "guide_limit_mae"} < regression[
        "Realized MAE and RMSE (labels matured)"
    ]


def test_guide_values_follow_the_spec_and_the_metric_direction(spec: ModelSpec) -> None:
    from driftline.ops.dashboards import guide_values
    from driftline.specs import load_spec

    values = guide_values(spec, {"roc_auc": 0.8, "pr_auc": 0.5, "log_loss": 0.4}, promoted=True)
    assert values == {
        "guide_drift_share": spec.monitoring.drift.drift_share,
        "guide_champion_roc_auc": 0.8,
        "guide_champion_pr_auc": 0.5,
        "guide_limit_roc_auc": pytest.approx(0.8 - spec.monitoring.performance.max_drop["roc_auc"]),
        "guide_limit_pr_auc": pytest.approx(0.5 - spec.monitoring.performance.max_drop["pr_auc"]),
        "guide_promoted": 1.0,
    }
    ltv = load_spec(REPO / "monitors" / "customer_ltv.yaml")
    values = guide_values(ltv, {"mae": 300.0}, promoted=False)
    assert values["guide_limit_mae"] == 300.0 + ltv.monitoring.performance.max_drop["mae"]
    assert values["guide_promoted"] == 0.0


def test_monitor_runs_tag_their_snapshots_and_store_the_guides(
    spec: ModelSpec, tmp_path: Path
) -> None:
    """Each run's snapshots carry decision, status and champion version (tags and
    metadata: reports can be filtered by them); its guides snapshot holds the spec's
    threshold, the champion's validation metrics and a promotion marker in the window
    the champion took over."""
    from dataclasses import replace

    from driftline.data.ingest import log_labels, log_predictions
    from driftline.data.privacy import Pseudonymizer
    from driftline.data.store import Store
    from driftline.monitoring.monitor import run_monitor

    from ..simdata import baseline_from, scenario

    sim = scenario("channel_shift", days=11, rows_per_day=600)
    store = Store(f"sqlite:///{tmp_path / 'tags.db'}")
    workspace_dir = tmp_path / "ws"
    baseline = replace(baseline_from(sim, spec, 0, 2), metrics={"roc_auc": 0.81, "pr_auc": 0.4})
    start = sim.predictions["event_ts"].min().floor("D")
    promoted_at = (start + pd.Timedelta(days=8, hours=12)).to_pydatetime()
    try:
        log_predictions(store, spec, sim.predictions, Pseudonymizer(b"d" * 32))
        log_labels(store, spec, sim.labels)
        runs = [
            run_monitor(
                store,
                spec,
                baseline,
                start + pd.Timedelta(days=day),
                workspace_dir=workspace_dir,
                promoted_at=promoted_at,
            )
            for day in (9, 10)
        ]
    finally:
        store.dispose()
    assert all(r.status != "failed" for r in runs), [r.error for r in runs]
    workspace = open_workspace(workspace_dir)
    [project] = workspace.search_project(spec.name)
    snapshots = {str(i): workspace.get_run(project.id, i) for i in workspace.list_runs(project.id)}
    guides = sorted(
        (s for s in snapshots.values() if "guides" in s.tags), key=lambda s: s.timestamp
    )
    tagged = {i: s for i, s in snapshots.items() if "guides" not in s.tags}
    assert len(guides) == 2 and len(tagged) >= 2
    for run in runs:
        mine = [s for i, s in tagged.items() if i in run.snapshot_ids]
        assert mine, run.snapshot_ids
        for snapshot in mine:
            assert f"decision:{run.decision.action}" in snapshot.tags
            assert f"status:{run.decision.status}" in snapshot.tags
            assert f"champion:v{baseline.version}" in snapshot.tags
            assert snapshot.metadata["decision"] == run.decision.action
            assert snapshot.metadata["champion_version"] == baseline.version

    def guide(snapshot, column: str) -> float:  # type: ignore[no-untyped-def]
        [value] = [
            r.value
            for r in snapshot.metric_results.values()
            if r.metric_value_location.metric.params.get("column") == column
        ]
        return float(value)

    # the window [day 8, day 9) holds the promotion; the next one does not
    assert [guide(s, "guide_promoted") for s in guides] == [1.0, 0.0]
    for snapshot in guides:
        assert guide(snapshot, "guide_drift_share") == spec.monitoring.drift.drift_share
        assert guide(snapshot, "guide_champion_roc_auc") == pytest.approx(0.81)

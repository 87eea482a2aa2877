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
            "--virtual-time-budget=20000",
            "--dump-dom",
            f"{url}/projects/{result.project_id}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    panels = dashboard.panels_for(spec.model.task)
    sections = _panel_sections(out.stdout, [p.title for p in panels])
    empty = [
        title
        for title, html in sections.items()
        if not re.search(r"MuiLineElement-root|MuiBarElement-root", html)
    ]
    assert empty == [], f"panels without data: {empty}"

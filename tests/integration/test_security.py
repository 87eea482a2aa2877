"""Hostile data never runs as script: every HTML page driftline writes and every markdown
document it publishes is loaded in headless Chromium with a script payload in category
values, column names and error texts, and the payload must not run. Each check has a
positive control (the same payload unescaped does run), so the test can fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt

from driftline.cli.main import main
from driftline.lifecycle.gates import Gate, GateReport
from driftline.monitoring.engines.evidently import EvidentlyEngine
from driftline.monitoring.monitor import MonitorRun
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.policy import Decision

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (CI installs it)"
)

#: Sets data-pwned="1" on <html> when it runs; no comma or quote (it also goes into CSV).
SCRIPT = "document.documentElement.dataset.pwned=1"
PAYLOADS = (
    f"</script><script>{SCRIPT}</script>",
    f"<!--<script>{SCRIPT}</script>",
    f"<img src=x onerror={SCRIPT}>",
)
RAN = 'data-pwned="1"'


def dom_of(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after its scripts ran, from headless Chromium."""
    out = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "<html" in out.stdout  # the page loaded
    return out.stdout


def hostile_frames(rows: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames: a payload as a category value (current only) and in
    a column name."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "basket": rng.normal(50, 10, rows),
            PAYLOADS[0]: rng.choice(["web", "app"], rows),
            "device": rng.choice(["mobile", "desktop"], rows),
        }
    )
    current = reference.copy()
    current.loc[: len(PAYLOADS) * 20 - 1, "device"] = [p for p in PAYLOADS for _ in range(20)]
    return reference, current


def data_block(page: str) -> tuple[str, str]:
    """The name and body of the script element in which Evidently puts a page's data."""
    found = re.search(r"<script>\s*var (metric_[0-9a-f]+) = ", page)
    assert found is not None
    root = page.index(f'<div id="root_{found.group(1)}"')
    return found.group(1), page[found.start() + len("<script>") : page.rindex("</script>", 0, root)]


def test_evidently_data_stays_inside_its_script_element(tmp_path: Path) -> None:
    """Without a browser: in the page driftline writes, the data block holds nothing that
    ends a script element or starts a comment, and (when Node.js is here) it evaluates
    to the report's data with every payload intact; Evidently's own page breaks out."""
    reference, current = hostile_frames()
    columns = {"basket": "numerical", PAYLOADS[0]: "categorical", "device": "categorical"}
    plan = DriftPlan(columns=columns, row_level_report=True)
    out = EvidentlyEngine().run(current, reference, plan, columns, None).report
    assert out is not None
    sealed = out.save_html(tmp_path / "sealed.html")[0].read_text()
    name, block = data_block(sealed)
    assert "</script" not in block.lower() and "<!--" not in block
    _, unsealed = data_block(out._drift.get_html_str(as_iframe=False))  # type: ignore[attr-defined]
    assert "</script" in unsealed.lower()  # the control: the payload ends Evidently's block
    node = shutil.which("node")
    if node is None:
        return
    script = tmp_path / "data.js"
    script.write_text(f"{block}\nprocess.stdout.write(JSON.stringify({name}));")
    data = json.loads(subprocess.run([node, str(script)], capture_output=True, text=True,
                                     check=True, timeout=60).stdout)  # fmt: skip
    shown = json.dumps(data)
    for payload in PAYLOADS:
        assert json.dumps(payload)[1:-1] in shown, payload


@needs_chromium
def test_drift_check_html_never_runs_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference, current = hostile_frames()
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)
    html = tmp_path / "report.html"
    monkeypatch.setattr(
        sys,
        "argv",
        ["driftline", "drift", "check", "--min-rows", "1", "--reference", str(tmp_path / "ref.csv"),
         "--current", str(tmp_path / "cur.csv"), "--numerical", "basket",
         "--categorical", f"{PAYLOADS[0]},device", "--html", str(html)],
    )  # fmt: skip
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    assert RAN not in dom_of(html, tmp_path / "chromium")


@needs_chromium
def test_evidently_pages_never_run_data_even_with_row_level_detail(tmp_path: Path) -> None:
    reference, current = hostile_frames()
    columns = {"basket": "numerical", PAYLOADS[0]: "categorical", "device": "categorical"}
    engine = EvidentlyEngine()
    pages = []
    for rows in (False, True):
        plan = DriftPlan(columns=columns, row_level_report=rows)
        out = engine.run(current, reference, plan, columns, None)
        assert out.report is not None
        pages += out.report.save_html(tmp_path / f"rows-{rows}.html")
    # Positive control: Evidently's own page of the same data runs the payload.
    plan = DriftPlan(columns=columns, row_level_report=True)
    unsealed = engine.run(current, reference, plan, columns, None).report
    unsealed._drift.save_html(str(tmp_path / "unsealed.html"))  # type: ignore[union-attr]
    assert RAN in dom_of(tmp_path / "unsealed.html", tmp_path / "chromium")
    for page in pages:
        assert RAN not in dom_of(page, tmp_path / "chromium"), page.name
    aggregates = pages[0].read_text()
    assert "device" in aggregates and "Drift is detected" in aggregates
    _, block = data_block(aggregates)
    # No category value without row-level detail (PAYLOADS[0] is also a column name,
    # which stays: PAYLOADS[2] is only a value).
    assert "onerror" not in block


def _markdown_page(markdown: str, path: Path) -> Path:
    """Markdown rendered as the most permissive CommonMark renderer does (raw HTML
    allowed, as Prefect's and MLflow's viewers may), in a page."""
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    path.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>")
    return path


def hostile_documents() -> dict[str, str]:
    """A monitor run's summary and a gate report with payloads where data and errors go."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    hostile = " ".join(PAYLOADS) + " [click](javascript:alert(1)) | cell"
    run = MonitorRun(
        model="purchase_propensity",
        window_start=start,
        window_end=start.replace(day=2),
        decision=Decision(
            status="failed",
            action="none",
            severity="high",
            reasons=(f"unexpected DataError: bad value {hostile}",),
            drifted_columns=(PAYLOADS[0],),
        ),
        error=hostile,
    )
    gates = GateReport(
        model="purchase_propensity",
        challenger_version="2",
        champion_version="1",
        primary_metric="roc_auc",
        gates=(Gate("segments", "failed", f"segment channel={hostile} is worse"),),
        window=hostile,
    )
    return {"run": run.markdown(), "gates": gates.to_markdown()}


def test_markdown_artifacts_render_data_as_text(tmp_path: Path) -> None:
    for name, text in hostile_documents().items():
        page = _markdown_page(text, tmp_path / f"{name}.html").read_text()
        for tag in ("<script", "<img", "<!--", 'href="javascript'):
            assert tag not in page, (name, tag)
        assert "&lt;/script&gt;&lt;script&gt;" in page, name  # shown, as text
    control = _markdown_page(f"<script>{SCRIPT}</script>", tmp_path / "control.html")
    assert "<script>" in control.read_text()


@needs_chromium
def test_markdown_artifacts_never_run_data(tmp_path: Path) -> None:
    # Positive control: the payload unescaped runs in the same renderer.
    control = _markdown_page(f"<script>{SCRIPT}</script>", tmp_path / "control.html")
    assert RAN in dom_of(control, tmp_path / "chromium")
    for name, text in hostile_documents().items():
        dom = dom_of(_markdown_page(text, tmp_path / f"{name}.html"), tmp_path / "chromium")
        assert RAN not in dom, name
        assert 'href="javascript' not in dom, name


def test_servers_start_offline_with_secrets_in_their_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``driftline ui``'s servers: telemetry off whatever the parent said, and no
    credential on any command line (readable by every local user in /proc/PID/cmdline):
    the MLflow store URI goes in MLFLOW_BACKEND_STORE_URI, which ``mlflow server`` reads
    for ``--backend-store-uri``."""
    from driftline.cli.ops import _services
    from driftline.config.settings import Settings
    from driftline.ops.processes import OFFLINE_ENV, child_env

    monkeypatch.setenv("DO_NOT_TRACK", "0")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    secret_uri = "postgresql+psycopg://alice:s3cret-pw@db.example/mlflow"
    services = _services(Settings(home=tmp_path, mlflow_tracking_uri=secret_uri), 8000, 5000, 4200)
    for service in services:
        env = child_env(service.env)  # what the child is started with
        assert "s3cret-pw" not in " ".join(service.command), service.name
        assert {k: env[k] for k in OFFLINE_ENV} == dict(OFFLINE_ENV), service.name
    (mlflow,) = [s for s in services if s.name == "MLflow"]
    assert mlflow.env["MLFLOW_BACKEND_STORE_URI"] == secret_uri

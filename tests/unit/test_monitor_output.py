"""What a monitor run shows people: summary, markdown, column rows, timeline rows."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from driftline.monitoring.monitor import MonitorRun, timeline_row
from driftline.monitoring.policy import Decision, failed
from driftline.monitoring.results import ColumnDrift, DriftResult, RealizedPerformance

START, END = datetime(2026, 9, 5, tzinfo=UTC), datetime(2026, 9, 6, tzinfo=UTC)


def _run() -> MonitorRun:
    result = DriftResult(
        columns=(
            ColumnDrift("a", "numerical", "ks", 0.001, 0.05, True, 0.0),
            ColumnDrift("b", "numerical", "ks", 0.04, 0.05, True, 0.1),
            ColumnDrift("c", "categorical", "jensenshannon", 0.01, 0.1, False),
        ),
        drift_share=2 / 3,
        drift_share_threshold=0.5,
        dataset_drift=True,
        prediction=ColumnDrift("score", "numerical", "wasserstein", 0.2, 0.1, True),
        quality=(),
        performance=RealizedPerformance(900, 200, {"roc_auc": 0.61}, {"roc_auc": 0.70}),
        rows_reference=5000,
        rows_current=1000,
        engine="evidently",
    )
    decision = Decision(
        action="alert",
        severity="medium",
        status="drift",
        reasons=("1 of 3 features drifted", "cooldown until 2026-09-08"),
        triggers=("dataset_drift", "cooldown"),
        drifted_columns=("a",),
        drift_share=1 / 3,
        input_drift=True,
    )
    return MonitorRun(
        "purchase_propensity",
        START,
        END,
        decision,
        result,
        "3",
        17,
        (Path("/tmp/r/purchase_propensity.html"),),
        None,
        1000,
    )


def test_summary_is_json_ready() -> None:
    summary = _run().summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["decision"] == "alert" and summary["drifted_columns"] == ["a"]
    assert summary["realized"] == {"roc_auc": 0.61}
    assert summary["window_end"] == "2026-09-06T00:00:00+00:00"


def test_column_rows_tell_tested_from_counted() -> None:
    rows = _run().column_rows()
    assert [r["column"] for r in rows] == ["a", "b", "c", "score"]
    b = rows[1]
    assert (b["drifted"], b["counted"]) == (True, False)  # cleared by FDR in the decision
    assert rows[-1]["role"] == "prediction" and rows[-1]["counted"] is True


def test_markdown_lists_window_decision_and_reasons() -> None:
    text = _run().markdown()
    assert text.startswith("# purchase_propensity: drift, decision **alert** (severity medium)")
    assert "2026-09-05 00:00 to 2026-09-06 00:00 UTC" in text
    assert "roc_auc 0.610 (validation 0.700) on 900 labelled predictions" in text
    assert "- cooldown until 2026-09-08" in text
    assert "monitor run 17" in text


def test_timeline_rows_and_failed_runs() -> None:
    assert timeline_row(_run(), "event") == {
        "day": "2026-09-05",
        "status": "drift",
        "drift_share": 0.333,
        "decision": "alert",
        "action": "event",
        "columns": "a",
    }
    broken = MonitorRun("m", START, END, failed("window is empty"), error="window is empty")
    assert broken.column_rows() == []
    row = timeline_row(broken)
    assert (row["status"], row["drift_share"], row["action"]) == ("failed", None, "-")
    assert "window is empty" in broken.markdown()


def test_the_cli_says_what_raised_an_alert_and_that_a_backfill_sends_none() -> None:
    """`monitor run` beside an alert raised without dataset drift names what raised it
    (not a bare "no dataset drift"); `monitor backfill --help` says it sends no alert."""
    from typer.testing import CliRunner

    from driftline.cli import monitoring as cli
    from driftline.cli.main import app

    run = _run()
    segments = replace(
        run.decision,
        triggers=("segment_drift", "multivariate_drift"),
        drifted_columns=(),
        drift_share=0.0,
        dataset_drift=False,
    )
    with cli.console.capture() as captured:
        cli._render_run(replace(run, decision=segments))
    verdict = next(line for line in captured.get().splitlines() if "dataset drift" in line)
    assert verdict.startswith(
        "no dataset drift in the whole window; alert from multivariate drift and segment "
        "drift: 0 of 3 columns drifted"
    )
    shown = CliRunner().invoke(app, ["monitor", "backfill", "--help"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0 and "a backfill sends no alert" in " ".join(shown.output.split())

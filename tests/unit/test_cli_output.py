"""The CLI's consoles print data literally, status lines included."""

from __future__ import annotations

import pytest

from driftline.cli.output import make_console, progress_bars, styled


def test_status_and_print_take_markup_like_text_literally() -> None:
    console = make_console()
    with console.capture() as captured:
        with console.status("ingesting rows from /data/x[/]y.csv"):  # no MarkupError
            console.print("[bold red]x :thumbs_up: [link=https://evil.example]y[/link]")
        console.print(styled(("[/]", "red"), " [b]"))
    assert captured.get().splitlines() == [
        "[bold red]x :thumbs_up: [link=https://evil.example]y[/link]",
        "[/] [b]",
    ]


# -- piped output and progress --------------------------------------------------------------

WHY = (
    "input drift in 7 of 12 features (58%, threshold 50%) for 4 of the last 5 windows; "
    "realized roc_auc 0.7012 fell 0.0613 below validation 0.7625 (allowed 0.05)"
)


def test_piped_tables_keep_every_cell_whole() -> None:
    """The demo's timeline table written into a pipe (as `driftline demo > file` does):
    one line per row, the long "why" never wrapped or cut mid-word at 80 columns."""
    import os
    import subprocess
    import sys

    script = (
        "from driftline.cli.demo import timeline_table, console\n"
        "row = dict(day=36, model='purchase_propensity', status='drift', drift_share=0.58,"
        f" decision='retrain', action='alert, retrain: v3 promoted', champion='2', why={WHY!r})\n"
        "console.print(timeline_table([row, {**row, 'day': 37}]))\n"
        "console.rule('end')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout
    rows = [line for line in out.splitlines() if "purchase_propensity" in line]
    assert len(rows) == 2 and all(WHY in row for row in rows), out
    assert all(len(line) < 400 for line in out.splitlines())  # wide, not padded to the width


def test_piped_table_titles_are_never_wrapped() -> None:
    """A long title over a narrow table (`driftline benchmark > file`) stays one line."""
    import io

    from rich.table import Table

    from driftline.cli.output import make_console

    console = make_console()
    console.file = io.StringIO()  # not a terminal
    title = "benchmark window 2026-09-05T23:59 to 2026-09-07T23:59 UTC (5,743 rows, 1,558 positive)"
    table = Table(title=title)
    table.add_column("gate")
    table.add_row("size")
    console.print(table)
    out = console.file.getvalue()
    assert out.splitlines()[0] == title, out
    assert table.title == title  # the table itself is left as it was


def test_progress_bars_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from driftline.config.progress import Stages, Step, no_progress

    with progress_bars("backfilling m") as report:  # pytest's stderr is no terminal
        assert report is no_progress
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    with progress_bars("scripted", enabled=False) as report:  # --json asks for none
        assert report is no_progress
    with progress_bars("backfilling m") as report:
        for done in range(3):
            report(Step("monitor m", done, 3, f"window {done}"))
        report(Step("monitor m", 3, 3, "ok"))
        stages = Stages(report, "train m", ("fitting", "scoring"))
        stages("scoring")
        stages.finish()
    captured = capsys.readouterr()
    assert captured.out == ""  # progress never reaches stdout (what scripts read)
    assert "monitor m" in captured.err and "3/3" in captured.err and "2/2" in captured.err


def test_stages_report_in_order() -> None:
    from driftline.config.progress import Stages, Step

    seen: list[Step] = []
    stages = Stages(seen.append, "benchmark m", ("loading", "scoring", "bootstrap"))
    stages("loading")
    stages("bootstrap")
    stages.finish()
    assert [(s.done, s.total, s.note) for s in seen] == [
        (0, 3, "loading"),
        (2, 3, "bootstrap"),
        (3, 3, "done"),
    ]

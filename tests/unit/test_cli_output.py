"""The CLI's consoles print data literally, status lines included."""

from __future__ import annotations

from driftline.cli.output import make_console, styled


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

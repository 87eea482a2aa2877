"""``driftline demo``: the end-to-end story on embedded defaults, step by step."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

console = Console()


def demo(
    days: Annotated[int, typer.Option(min=14, help="Simulated days.")] = 60,
    rows_per_day: Annotated[int, typer.Option(min=100, help="Visitors per day.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
) -> None:
    """Simulate traffic, ingest it with late-arriving labels, and summarise the store."""
    from driftline import ingest
    from driftline.api import Context
    from driftline.cli.main import _summary_table
    from driftline.simulate import simulate

    with Context.open() as ctx:
        console.rule("driftline demo")
        console.print(f"home folder: {ctx.settings.resolved_home}")
        console.print(f"store: {ctx.store!r}")
        spec = ctx.spec("purchase_propensity")
        with console.status("simulating traffic"):
            sim = simulate("demo", days=days, rows_per_day=rows_per_day, seed=seed)
        console.print(
            f"[1/3] simulated {days} days, {len(sim.predictions):,} predictions "
            f"({sim.timeline['description']})"
        )
        for event in sim.timeline["events"]:
            console.print(
                f"      event {event['kind']}: day {event['start_day']} to "
                f"{event['end_day']} ({event['description']})"
            )
        pseudo = ctx.pseudonymizer()
        days_index = sim.predictions["event_ts"].dt.floor("D")
        with console.status("ingesting") as status:
            stored = 0
            for i, (day, frame) in enumerate(sim.predictions.groupby(days_index, sort=True)):
                status.update(f"ingesting day {i + 1}/{days}")
                stored += ingest.log_predictions(
                    ctx.store, spec, frame, pseudo, source=f"day {day:%Y-%m-%d}"
                ).inserted
        console.print(f"[2/3] ingested {stored:,} new predictions, one batch a day")
        end = pd.Timestamp(sim.timeline["start"]) + pd.Timedelta(days=days)
        labels = sim.labels_known_by(end)
        result = ingest.log_labels(ctx.store, spec, labels, source="labels")
        console.print(
            f"[3/3] ingested {result.inserted:,} matured labels "
            f"(of {len(labels):,} known by {end:%Y-%m-%d})"
        )
        console.print(_summary_table([ctx.store.summarize(spec)]))

"""Bytes per monitor report: Evidently's HTML and its workspace snapshot, for the two
``monitoring.report_detail`` settings; the HTML as a monitor run writes it (the viewer
script shared by the folder: ``share_viewer``) and standalone (Evidently's own page, the
viewer embedded); and what gzip would make of each.

One day of simulated purchase_propensity traffic (``--rows`` visitors, channel shift so
some columns drift) is checked against the day before with the spec's columns, through
driftline's file check (the same engine call a monitor run makes); the report is saved as
HTML and added to a temporary Evidently workspace. Prints bytes per file and ratios
against the default (aggregates, uncompressed HTML).

    .venv/bin/python bench/report_size.py               # 3000 rows, as the demo's days
    .venv/bin/python bench/report_size.py --rows 20000
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(rows: int, detail: str, folder: Path) -> dict[str, int]:
    from evidently.ui.workspace import Workspace

    from driftline.devtools.simulate import simulate
    from driftline.monitoring.engines.evidently import share_viewer
    from driftline.monitoring.filecheck import check_files
    from driftline.specs import load_spec

    spec = load_spec(REPO / "monitors" / "purchase_propensity.yaml")
    spec = spec.model_copy(
        update={"monitoring": spec.monitoring.model_copy(update={"report_detail": detail})}
    )
    sim = simulate("channel_shift", days=4, rows_per_day=rows, seed=0, change_day=2)
    day = sim.predictions["event_ts"].dt.floor("D")
    days = sorted(day.unique())
    reference, current = folder / f"ref-{detail}.parquet", folder / f"cur-{detail}.parquet"
    sim.predictions[day == days[1]].to_parquet(reference)
    sim.predictions[day == days[3]].to_parquet(current)
    report = check_files(reference, current, spec=spec).result.report
    assert report is not None
    html = report.save_html(folder / f"report-{detail}.html")[0]
    shared = report.save_html(folder / "shared" / f"report-{detail}.html")[0]
    share_viewer([shared])
    workspace = Workspace(str(folder / f"ws-{detail}"))
    project = workspace.create_project("bench")
    (snapshot_id,) = report.add_to_workspace(workspace, project.id, "bench")
    snapshot = folder / f"ws-{detail}" / str(project.id) / "snapshots" / f"{snapshot_id}.json"
    return {
        "html": html.stat().st_size,
        "html_gzip": len(gzip.compress(html.read_bytes())),
        "html_shared": shared.stat().st_size,
        "html_shared_gzip": len(gzip.compress(shared.read_bytes())),
        "snapshot": snapshot.stat().st_size,
        "snapshot_gzip": len(gzip.compress(snapshot.read_bytes())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="visitors per simulated day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {d: measure(args.rows, d, Path(tmp)) for d in ("aggregates", "rows")}
    base = sizes["aggregates"]["html"]
    print(f"rows per window: {args.rows:,}; bytes per report, ratio to standalone aggregates HTML")
    print(f"{'detail':<12}{'what':<18}{'bytes':>12}{'ratio':>8}")
    for detail, found in sizes.items():
        for what, size in found.items():
            print(f"{detail:<12}{what:<18}{size:>12,}{size / base:>8.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Retention of monitor reports: the spec's ``reports.keep_days`` and ``reports.max_mb``.

A monitor run leaves, per window, HTML reports under ``<reports>/<model>/`` (named
``<model>-<window end>Z-<id>.html``, with ``-performance`` and other suffixes beside it)
and snapshots in the model's project of the Evidently workspace (timestamped with the
window end). Retention works on whole windows: a window's HTML files and its snapshots go
together, so no dashboard point links a pruned report and no report outlives its point.

- ``keep_days``: windows that ended more than this many days before the model's newest
  window are deleted. Counted from the newest window, not the wall clock, so a backfill of
  old windows and a simulation keep their latest days.
- ``max_mb``: then, while the model's reports and snapshots take more than this many
  megabytes (10^6 bytes), the oldest window is deleted; the newest window is always kept.

Files whose names are not a monitor report's are never touched; nor are the runs stored
in the store (``dl_monitor_runs`` keeps each run's numbers and the path its report had).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from driftline.config.times import utc_datetime
from driftline.specs import ModelSpec

log = logging.getLogger(__name__)

MB = 1_000_000


@dataclass
class Window:
    """What one monitored window left behind: its HTML files and snapshots."""

    end: datetime
    files: list[Path] = field(default_factory=list)
    snapshots: list[tuple[str, int]] = field(default_factory=list)  # (id, bytes)
    size: int = 0


@dataclass(frozen=True)
class PruneResult:
    """What pruning one model deleted (or would delete, ``dry_run``) and what it kept."""

    model: str
    dry_run: bool
    keep_days: int | None
    max_mb: float | None
    deleted_files: tuple[Path, ...] = ()
    deleted_snapshots: tuple[str, ...] = ()
    deleted_windows: int = 0
    freed_bytes: int = 0
    kept_windows: int = 0
    kept_bytes: int = 0
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (paths as text)."""
        return {
            "model": self.model,
            "dry_run": self.dry_run,
            "keep_days": self.keep_days,
            "max_mb": self.max_mb,
            "deleted_windows": self.deleted_windows,
            "deleted_files": [str(p) for p in self.deleted_files],
            "deleted_snapshots": list(self.deleted_snapshots),
            "freed_bytes": self.freed_bytes,
            "kept_windows": self.kept_windows,
            "kept_bytes": self.kept_bytes,
            "problems": list(self.problems),
        }


def report_window_end(model: str, path: Path) -> datetime | None:
    """The window end (UTC) in the name of one of ``model``'s monitor reports, or None
    when ``path`` is not named like one (``<model>-20261001T0000Z-1a2b3c4d[-suffix].html``)."""
    pattern = rf"{re.escape(model)}-(\d{{8}}T\d{{4}})Z-[0-9a-f]{{8}}(-[\w-]+)?\.html"
    match = re.fullmatch(pattern, path.name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC)


def select_pruned(
    windows: Iterable[Window],
    keep_days: int | None,
    max_mb: float | None,
    keep: datetime | None = None,
) -> tuple[list[Window], list[Window]]:
    """Split ``windows`` into (pruned, kept) by the two limits (see the module docstring);
    both lists oldest first. The window ending at ``keep`` (the one a command has just
    reported, to the minute) is never pruned, whatever its age. Pure."""
    every = list(windows)
    spared = [w for w in every if keep is not None and _minute(w.end) == _minute(keep)]
    ordered = sorted((w for w in every if w not in spared), key=lambda w: w.end)
    if spared and ordered and spared[0].end > ordered[-1].end:  # it is the newest
        ordered.append(spared.pop())
    if not ordered:
        return [], spared
    pruned: list[Window] = []
    if keep_days is not None:
        oldest = ordered[-1].end - timedelta(days=keep_days)
        pruned = [w for w in ordered if w.end < oldest]
        ordered = ordered[len(pruned) :]
    if max_mb is not None:
        total = sum(w.size for w in ordered)
        while len(ordered) > 1 and total > max_mb * MB:
            total -= ordered[0].size
            pruned.append(ordered.pop(0))
    return pruned, sorted([*ordered, *spared], key=lambda w: w.end)


def _minute(value: datetime) -> str:
    """A window end as report names write it (UTC, to the minute)."""
    return utc_datetime(value).strftime("%Y%m%dT%H%M")


def prune_reports(
    spec: ModelSpec,
    reports_dir: Path | None,
    workspace_dir: Path | None,
    *,
    dry_run: bool = False,
    keep: datetime | None = None,
) -> PruneResult:
    """Apply ``spec.reports`` to the model's HTML reports under ``reports_dir/<model>/``
    and its snapshots in the Evidently workspace at ``workspace_dir`` (either may be
    None). ``dry_run`` deletes nothing and says what would go; the window ending at
    ``keep`` (the run just made) is never pruned. Snapshots are deleted
    before the HTML files of their window. Never raises for a file or snapshot that cannot
    be read or deleted: it is named in ``problems`` and kept."""
    policy = spec.reports
    result = PruneResult(spec.name, dry_run, policy.keep_days, policy.max_mb)
    if policy.keep_days is None and policy.max_mb is None:
        return result
    problems: list[str] = []
    windows: dict[datetime, Window] = {}
    folder = reports_dir / spec.name if reports_dir is not None else None
    if folder is not None and folder.is_dir():
        for path in sorted(folder.iterdir()):
            end = report_window_end(spec.name, path)
            if end is None or not path.is_file():
                continue
            window = windows.setdefault(end, Window(end))
            window.files.append(path)
            window.size += path.stat().st_size
    workspace = project_id = None
    if workspace_dir is not None and Path(workspace_dir).is_dir():
        try:
            workspace, project_id = _snapshots(spec, Path(workspace_dir), windows)
        except Exception as exc:  # the HTML reports are still pruned
            problems.append(f"Evidently workspace {workspace_dir} not read: {exc}")
    pruned, kept = select_pruned(windows.values(), policy.keep_days, policy.max_mb, keep)
    files: list[Path] = []
    snapshots: list[str] = []
    freed = 0
    for window in pruned:
        removed = True
        for snapshot_id, snapshot_size in window.snapshots:
            if not dry_run:
                try:
                    workspace.delete_run(project_id, snapshot_id)  # type: ignore[union-attr]
                except Exception as exc:
                    problems.append(f"snapshot {snapshot_id} not deleted: {exc}")
                    removed = False
                    continue
            snapshots.append(snapshot_id)
            freed += snapshot_size
        if not removed:  # keep the window's reports: its dashboard point still links them
            continue
        for path in window.files:
            size = path.stat().st_size
            if not dry_run:
                try:
                    path.unlink()
                except OSError as exc:
                    problems.append(f"{path} not deleted: {exc}")
                    continue
            files.append(path)
            freed += size
    if files or snapshots:
        log.info("%s: pruned %d report files, %d snapshots", spec.name, len(files), len(snapshots))
    return PruneResult(
        spec.name,
        dry_run,
        policy.keep_days,
        policy.max_mb,
        tuple(files),
        tuple(snapshots),
        len(pruned),
        freed,
        len(kept),
        sum(w.size for w in kept),
        tuple(problems),
    )


def _snapshots(spec: ModelSpec, workspace_dir: Path, windows: dict[datetime, Window]) -> Any:
    """Add the model's snapshots (id, size of their JSON file) to ``windows`` by their
    timestamp (the window end); returns the workspace and the project id."""
    from driftline.ops.dashboards import open_workspace

    workspace = open_workspace(workspace_dir)
    found = workspace.search_project(spec.name)
    if not found:
        return workspace, None
    project_id = found[0].id
    for snapshot_id in workspace.list_runs(project_id):
        snapshot = workspace.get_run(project_id, snapshot_id)
        if snapshot is None:
            continue
        stamp = snapshot.timestamp
        end = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        window = windows.setdefault(end, Window(end))
        stored = workspace_dir / str(project_id) / "snapshots" / f"{snapshot_id}.json"
        size = stored.stat().st_size if stored.is_file() else 0
        window.snapshots.append((str(snapshot_id), size))
        window.size += size
    return workspace, project_id

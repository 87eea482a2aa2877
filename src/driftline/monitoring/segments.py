"""Segment drift: drift, data quality and realized performance inside each segment.

A change that matters often hides in one channel or device while the whole window looks
calm (paid-social newcomers are a tenth of the traffic). For each segment column
(``monitoring.segments.columns``, default ``model.segments``) and each of its values with
at least ``min_rows`` rows in both the reference and the window, the segment's rows are
compared with the same segment of the reference by the spec's drift engine (through the
engine registry, like the whole-window check), with its data-quality rules, and, when the
labelled rows carry the segment column, with realized performance.

Testing every segment x column multiplies the tests (6 channels x 13 columns = 78 in a
window): at a 0.05 threshold a few would "drift" in a stable world every day. So p-value
methods (the default: KS for numerical, chi-square for categorical) are corrected together
with Benjamini-Hochberg (Benjamini & Hochberg 1995, ``scipy.stats.false_discovery_control``):
a segment column drifts when its adjusted p-value is below ``fdr_alpha``. The columns a
calendar event declares expected form a family of their own: their many true discoveries
during a sale would otherwise loosen the Benjamini-Hochberg cut-off for the columns that
count (with 90 of 117 tests truly drifted, the step-up threshold nears ``fdr_alpha``
itself, and undeclared columns "drift" on noise). A distance method
(wasserstein, psi, ...) has no p-value: its verdict is its threshold, uncorrected, and the
report says so.

Estimated performance (CBPE/DLE) per segment is not computed here: a segment shows realized
performance where labels have matured; :func:`check_segments` takes the labelled rows, so an
estimator can pass its own per-row expectations the same way once it exists.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from driftline.data.values import as_text
from driftline.monitoring.check import _run_engine, realized_performance
from driftline.monitoring.engines import DriftEngine
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.quality import data_quality
from driftline.monitoring.results import ALL_MISSING, SegmentColumn, SegmentReport, SegmentResult
from driftline.specs import SegmentDrift
from driftline.tasks import Task

log = logging.getLogger(__name__)


def segment_columns(settings: SegmentDrift, model_segments: Sequence[str]) -> list[str]:
    """The columns to slice by: ``monitoring.segments.columns``, else ``model.segments``."""
    return list(settings.columns if settings.columns is not None else model_segments)


def check_segments(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: DriftPlan,
    settings: SegmentDrift,
    columns: Sequence[str],
    engine: DriftEngine,
    *,
    labelled: pd.DataFrame | None = None,
    task: Task | None = None,
    baseline_metrics: Mapping[str, float] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    timestamp: datetime | None = None,
    expected: Collection[str] = (),
) -> SegmentReport:
    """Check every segment value of ``columns`` with enough rows (see the module docstring).
    ``expected``: columns a calendar event active in the window expects to move, corrected
    as a false-discovery family apart from the others.

    ``reference`` and ``current`` hold the plan's feature columns (the segment columns among
    them); ``labelled`` (score + target, and the segment columns when known) adds realized
    performance per segment, computed by ``task`` next to ``baseline_metrics``. Returns the
    segments checked, in column then value order, and those skipped for too few rows. Raises
    DataError (from the engine run) when a segment's rows do not fit the plan.
    """
    seg_plan = replace(
        plan,
        prediction=None,
        extra_predictions={},
        methods={
            c: m
            for c, k in plan.columns.items()
            if (m := settings.numerical_method if k == "numerical" else settings.categorical_method)
        },
        thresholds={},
    )
    results: list[SegmentResult] = []
    skipped: list[str] = []
    for column in columns:
        ref_values, cur_values = as_text(reference[column]), as_text(current[column])
        ref_counts = ref_values.value_counts()
        for value, rows in cur_values.value_counts().sort_index().items():
            in_ref = int(ref_counts.get(value, 0))
            if rows < settings.min_rows or in_ref < settings.min_rows:
                skipped.append(
                    f"{column}={value}: {rows} rows in the window, {in_ref} in the reference "
                    f"(fewer than monitoring.segments.min_rows = {settings.min_rows})"
                )
                continue
            tested = replace(
                seg_plan,
                columns={c: k for c, k in seg_plan.columns.items() if c != column},
            )
            ref = reference[(ref_values == value).to_numpy()]
            cur = current[(cur_values == value).to_numpy()]
            run = _run_engine(
                engine,
                ref,
                cur,
                tested,
                None,
                timestamp=timestamp,
                tags=(f"segment:{column}={value}",),
                names=(f"reference, {column}={value}", f"window, {column}={value}"),
            )
            scored = [
                SegmentColumn(c, s.method, float(s.score), float(s.threshold), bool(s.drifted))
                for c, s in ((c, run.scores[c]) for c in tested.columns if c in run.scores)
            ]
            scored += [SegmentColumn(c, ALL_MISSING, 1.0, 1.0, True) for c in run.empty]
            performance = None
            if (
                labelled is not None
                and task is not None
                and column in labelled.columns
                and plan.score in labelled.columns
            ):
                mine = labelled[(as_text(labelled[column]) == value).to_numpy()]
                if len(mine):
                    performance = realized_performance(mine, plan, task, baseline_metrics or {})[0]
            quality = data_quality(run.reference, run.current, tested, ranges or {}, run.infinite)
            results.append(
                SegmentResult(
                    column=column,
                    value=str(value),
                    rows_reference=len(ref),
                    rows_current=len(cur),
                    columns=tuple(scored),
                    quality=tuple(quality),
                    performance=performance,
                )
            )
    corrected, tests = _benjamini_hochberg(results, engine, settings.fdr_alpha, set(expected))
    return SegmentReport(tuple(corrected), tuple(skipped), settings.fdr_alpha, tests)


def _benjamini_hochberg(
    results: list[SegmentResult], engine: DriftEngine, alpha: float, expected: set[str]
) -> tuple[list[SegmentResult], int]:
    """Every p-value test of every segment corrected together, the ``expected`` columns'
    tests as a family of their own: a column drifts when its Benjamini-Hochberg adjusted
    p-value is below ``alpha``. Distance methods keep their threshold's verdict. Returns
    the corrected results and the number of p-value tests."""
    tests = [
        (i, j)
        for i, r in enumerate(results)
        for j, c in enumerate(r.columns)
        if c.method in engine.methods and engine.methods[c.method].p_value
    ]
    columns = [list(r.columns) for r in results]
    for declared in (False, True):
        where = [(i, j) for i, j in tests if (columns[i][j].name in expected) is declared]
        if not where:
            continue
        p = np.clip([columns[i][j].score for i, j in where], 0.0, 1.0)
        adjusted = false_discovery_control(p, method="bh")
        for (i, j), q in zip(where, adjusted, strict=True):
            c = columns[i][j]
            columns[i][j] = replace(c, p_adjusted=float(q), drifted=bool(q < alpha))
    corrected = [replace(r, columns=tuple(c)) for r, c in zip(results, columns, strict=True)]
    return corrected, len(tests)


#: The column-name prefix of segment series in the Evidently project ("segment channel=...").
SNAPSHOT_PREFIX = "segment "


class SegmentSnapshot:
    """The segment checks of one window as an Evidently snapshot for the dashboards: one
    ``MeanValue`` series per checked segment value, named ``segment <column>=<value>``,
    whose value is the number of columns that drifted in it after false discovery control
    (the dashboard's per-segment panel plots every such series). No HTML report: the
    monitor run's own output lists the segments."""

    def __init__(self, report: SegmentReport, timestamp: datetime | None) -> None:
        self.report = report
        self.timestamp = timestamp

    def save_html(self, path: Path) -> list[Path]:
        """Writes nothing (the segment table is in the run's output and store)."""
        return []

    def snapshot(
        self, tags: Sequence[str] = (), metadata: Mapping[str, str] | None = None
    ) -> Any | None:
        """The Evidently snapshot (None when no segment was checked), tagged ``segments``
        plus ``tags`` (the run's decision labels) and carrying ``metadata``."""
        if not self.report.segments:
            return None
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import MeanValue

        from driftline.config.times import naive_utc

        row = {
            f"{SNAPSHOT_PREFIX}{s.label}": float(len(s.drifted_columns))
            for s in self.report.segments
        }
        frame = pd.DataFrame([row])
        definition = DataDefinition(numerical_columns=list(row))
        return Report([MeanValue(column=c) for c in row]).run(
            Dataset.from_pandas(frame, data_definition=definition),
            None,
            timestamp=naive_utc(self.timestamp) if self.timestamp else None,
            tags=list(dict.fromkeys(["segments", *tags])),
            metadata=dict(metadata or {}),
        )

    def add_to_workspace(
        self,
        workspace: Any,
        project_id: Any,
        name: str,
        *,
        tags: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        snapshot = self.snapshot(tags, metadata)
        if snapshot is None:
            return []
        return [str(workspace.add_run(project_id, snapshot, include_data=False, name=name).id)]

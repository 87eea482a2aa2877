"""Drift engines: what computes the per-column statistics of a prepared window.

An engine receives frames that hold exactly the columns to test, already typed, and returns
one :class:`ColumnScore` per column plus, optionally, a report people can open. Realized
performance is not an engine's business: the model's task computes it
(:mod:`driftline.tasks`); an engine may only show the labelled rows in its report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import pandas as pd

if TYPE_CHECKING:
    from driftline.monitoring.plan import DriftPlan
    from driftline.monitoring.results import DriftReport


@dataclass(frozen=True)
class ColumnScore:
    """One column's test as an engine reports it."""

    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class EngineOutput:
    scores: dict[str, ColumnScore]
    report: DriftReport | None


class DriftEngine(Protocol):
    """Computes per-column drift tests for a prepared window.

    ``columns`` maps the columns to test to their type; ``current`` and ``reference``
    hold exactly the plan's columns, already typed (float for numerical, str/None for
    categorical). ``labelled`` is None or the score and label rows the task computed
    realized performance on (for display in the report only).
    """

    name: str

    def run(
        self,
        current: pd.DataFrame,
        reference: pd.DataFrame,
        plan: DriftPlan,
        columns: dict[str, str],
        labelled: pd.DataFrame | None,
        *,
        timestamp: datetime | None = None,
        tags: Sequence[str] = (),
    ) -> EngineOutput: ...

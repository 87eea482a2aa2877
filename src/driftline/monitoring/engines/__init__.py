"""Drift engines: what computes the per-column statistics of a prepared window.

An engine receives frames that hold exactly the columns to test, already typed, and returns
one :class:`ColumnScore` per column plus, optionally, a report people can open.
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
    realized: dict[str, float]
    report: DriftReport | None


class DriftEngine(Protocol):
    """Computes per-column drift tests (and realized metrics) for a prepared window.

    ``columns`` maps the columns to test to their type; ``current`` and ``reference``
    hold exactly the plan's columns, already typed (float for numerical, str/None for
    categorical). ``labelled`` is None or a frame of the score and a 0/1 target with
    both classes present.
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

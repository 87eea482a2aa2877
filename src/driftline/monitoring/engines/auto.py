"""The ``auto`` drift engine: Evidently for small windows, native for large ones.

A run goes to the evidently engine while both samples have fewer rows than the plan's
``auto_rows`` (``monitoring.drift.auto_rows``) and to the native engine at or above it,
or whenever the plan names a method only Evidently implements
(:data:`driftline.monitoring.engines.native.REFUSED`). Both give the same verdicts
(the native engine reproduces Evidently's tests); the native one is much faster and
bounded in memory on large windows. Its catalogue is Evidently's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from driftline.monitoring.engines import ENGINES, EngineOutput
from driftline.monitoring.engines.evidently import METHODS, EvidentlyEngine
from driftline.monitoring.engines.native import REFUSED, NativeEngine

if TYPE_CHECKING:
    import pandas as pd

    from driftline.monitoring.plan import DriftPlan


def pick(plan: DriftPlan, rows: int) -> str:
    """The engine ``auto`` runs for ``rows`` (the larger sample's rows) under ``plan``."""
    wanted = set(plan.methods.values()) | {plan.prediction_method} - {None}
    if wanted & set(REFUSED) or rows < plan.auto_rows:
        return "evidently"
    return "native"


class AutoEngine:
    """Evidently for small windows, native for large."""

    name = "auto"
    methods = METHODS
    takes_reference_profiles = True

    def __init__(self) -> None:
        self._engines = {"evidently": EvidentlyEngine(), "native": NativeEngine()}

    def default_method(self, column_type: str, *, reference_rows: int, distinct_values: int) -> str:
        """Evidently's choice (both engines make the same)."""
        return self._engines["evidently"].default_method(
            column_type, reference_rows=reference_rows, distinct_values=distinct_values
        )

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
        reference_profiles: Mapping[str, Any] | None = None,
    ) -> EngineOutput:
        """Run the engine :func:`pick` chooses (the native one with the baseline's stored
        ``reference_profiles``); the output names it (``engine``)."""
        chosen = pick(plan, max(len(current), len(reference)))
        if chosen == "native":
            output = self._engines["native"].run(
                current,
                reference,
                plan,
                columns,
                labelled,
                timestamp=timestamp,
                tags=tags,
                reference_profiles=reference_profiles,
            )
        else:
            output = self._engines["evidently"].run(
                current, reference, plan, columns, labelled, timestamp=timestamp, tags=tags
            )
        output.engine = chosen
        return output


ENGINES.register(AutoEngine())

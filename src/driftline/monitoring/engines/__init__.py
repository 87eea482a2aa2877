"""Drift engines: what computes the per-column statistics of a prepared window.

An engine receives frames that hold exactly the columns to test, already typed, and returns
one :class:`ColumnScore` per column plus, optionally, a report people can open. Each engine
owns its catalogue of methods (:class:`DriftMethod`): the spec's method names are checked
against the catalogue of the engine the spec chose (``monitoring.drift.engine``), and the
catalogue says whether a method's score is a p-value or a distance.

Engines live in :data:`ENGINES`; a built-in registers itself in its module, a third party
through the ``driftline.engines`` entry point group. This module stays cheap to import (no
pandas, no Evidently): spec validation reads it.

Realized performance is not an engine's business: the model's task computes it
(:mod:`driftline.tasks`); an engine may only show the labelled rows in its report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from driftline.plugins import Registry

if TYPE_CHECKING:
    import pandas as pd

    from driftline.monitoring.plan import DriftPlan
    from driftline.monitoring.results import DriftReport

ColumnType = Literal["numerical", "categorical"]
ScoreKind = Literal["p_value", "distance"]

#: The engine a spec or a plan uses when it names none: Evidently for small windows, the
#: native engine for large ones (:mod:`driftline.monitoring.engines.auto`).
DEFAULT_ENGINE = "auto"


@dataclass(frozen=True)
class DriftMethod:
    """One statistical test of an engine's catalogue.

    ``column_types`` are the column types it can test; ``score`` says how to read its
    score: a ``p_value`` (drift when below the threshold; the policy may correct these
    for multiple testing) or a ``distance`` (drift when at or above the threshold).
    ``threshold`` is the engine's default threshold for it.
    """

    name: str
    column_types: frozenset[ColumnType]
    score: ScoreKind
    threshold: float

    @property
    def p_value(self) -> bool:
        """True when the method scores with a p-value (smaller = more drift)."""
        return self.score == "p_value"


@dataclass(frozen=True)
class ColumnScore:
    """One column's test as an engine reports it; ``p_value`` comes from the engine's
    catalogue entry of ``method`` (True: a p-value, False: a distance)."""

    method: str
    score: float
    threshold: float
    drifted: bool
    p_value: bool


@dataclass
class EngineOutput:
    """An engine run's per-column scores and report; ``engine`` names the engine that
    actually computed them when it is not the one called (``auto`` delegates)."""

    scores: dict[str, ColumnScore]
    report: DriftReport | None
    engine: str | None = None


class DriftEngine(Protocol):
    """Computes per-column drift tests for a prepared window.

    ``methods`` is the engine's catalogue, by name; ``default_method`` names the method the
    engine picks for a column when the plan sets none. ``run``: ``columns`` maps the
    columns to test to their type; ``current`` and ``reference`` hold exactly the plan's
    columns, already typed (float for numerical, str/None for categorical); a run may test
    the score alone (a plan without feature columns, when the score is compared with the
    reference of the model version that made it). ``labelled``
    is None or the score and label rows the task computed realized performance on (for
    display in the report only).
    """

    name: str

    @property
    def methods(self) -> Mapping[str, DriftMethod]: ...

    def default_method(
        self, column_type: str, *, reference_rows: int, distinct_values: int
    ) -> str: ...

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


def _unfit(engine: Any) -> str | None:
    """Why ``engine`` cannot be registered as a drift engine, or None."""
    methods = getattr(engine, "methods", None)
    if not isinstance(methods, Mapping) or not methods:
        return "it needs a non-empty `methods` mapping of DriftMethod by name"
    wrong = [k for k, m in methods.items() if not isinstance(m, DriftMethod) or m.name != k]
    if wrong:
        return f"`methods` entries {wrong} are not DriftMethod values under their own name"
    missing = [a for a in ("run", "default_method") if not callable(getattr(engine, a, None))]
    if missing:
        return f"it lacks the method(s) {', '.join(missing)}"
    return None


#: Every drift engine by name (built in: ``evidently``, ``native``, ``auto``; ``scipy``,
#: p-value tests without a report, which segment drift uses by default).
ENGINES: Registry[DriftEngine] = Registry(
    "drift engine",
    "driftline.engines",
    [
        "driftline.monitoring.engines.evidently",
        "driftline.monitoring.engines.native",
        "driftline.monitoring.engines.auto",
        "driftline.monitoring.engines.scipy_tests",
    ],
    check=_unfit,
)


def method_problem(engine: DriftEngine, method: str, column_type: str) -> str | None:
    """Why ``engine`` cannot test a ``column_type`` column with ``method``, or None when it
    can. The message lists the engine's methods (or the types the method applies to); a
    method the engine refuses by name (its optional ``refused`` mapping: method -> why)
    is named with the reason."""
    found = engine.methods.get(method)
    refused = getattr(engine, "refused", None) or {}
    if found is None and method in refused:
        return (
            f"drift engine {engine.name!r} does not implement drift method {method!r} "
            f"({refused[method]}); choose monitoring.drift.engine: evidently for it, or one "
            f"of {', '.join(sorted(engine.methods))}"
        )
    if found is None:
        return (
            f"unknown drift method {method!r} for drift engine {engine.name!r}; "
            f"choose one of {', '.join(sorted(engine.methods))}"
        )
    if column_type not in found.column_types:
        return (
            f"drift method {method!r} does not apply to {column_type} columns "
            f"(it tests {', '.join(sorted(found.column_types))} columns)"
        )
    return None

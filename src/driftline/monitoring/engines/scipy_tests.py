"""The ``scipy`` drift engine: two-sample p-value tests straight from SciPy, no report.

Made for checks that run many small comparisons in one monitor run (segment drift: one run
per segment value), where an Evidently report per comparison costs seconds each. Every
method scores a p-value, so false-discovery control applies to all of them:

- ``ks``: the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``), numerical;
- ``chi2_contingency``: the chi-square test of homogeneity on the 2 x k table of category
  counts of reference and current (``scipy.stats.chi2_contingency``), categorical. Unlike a
  goodness-of-fit test against the reference's shares, it accounts for the sampling error of
  the reference too, so a small reference does not inflate the false alarms.

Missing values are left out of both samples (the data-quality rules count them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from driftline.monitoring.engines import ENGINES, ColumnScore, DriftMethod, EngineOutput

if TYPE_CHECKING:
    import pandas as pd

    from driftline.monitoring.plan import DriftPlan

METHODS: Mapping[str, DriftMethod] = MappingProxyType(
    {
        "ks": DriftMethod("ks", frozenset({"numerical"}), "p_value", 0.05),
        "chi2_contingency": DriftMethod(
            "chi2_contingency", frozenset({"categorical"}), "p_value", 0.05
        ),
    }
)


class ScipyEngine:
    """SciPy two-sample p-value tests, no report."""

    name = "scipy"
    methods = METHODS

    def default_method(self, column_type: str, *, reference_rows: int, distinct_values: int) -> str:
        """``ks`` for numerical columns, ``chi2_contingency`` for categorical ones."""
        return "ks" if column_type == "numerical" else "chi2_contingency"

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
    ) -> EngineOutput:
        """One p-value per column of ``columns``; no report."""
        scores: dict[str, ColumnScore] = {}
        for column, kind in columns.items():
            method = plan.methods.get(column) or self.default_method(
                kind, reference_rows=len(reference), distinct_values=0
            )
            threshold = plan.thresholds.get(column, METHODS[method].threshold)
            ref, cur = reference[column].dropna(), current[column].dropna()
            p = _ks(ref, cur) if method == "ks" else _chi2(ref, cur)
            scores[column] = ColumnScore(method, p, threshold, p < threshold, True)
        return EngineOutput(scores, None)


def _ks(reference: pd.Series, current: pd.Series) -> float:
    from scipy.stats import ks_2samp

    if reference.empty or current.empty:
        return 1.0
    return float(ks_2samp(reference.to_numpy(float), current.to_numpy(float)).pvalue)


def _chi2(reference: pd.Series, current: pd.Series) -> float:
    from scipy.stats import chi2_contingency

    values = sorted(set(reference) | set(current), key=str)
    if len(values) < 2 or reference.empty or current.empty:
        return 1.0
    table = np.array(
        [
            [int((reference == v).sum()) for v in values],
            [int((current == v).sum()) for v in values],
        ]
    )
    return float(chi2_contingency(table).pvalue)


ENGINES.register(ScipyEngine())

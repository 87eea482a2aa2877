"""Data-quality rules: missing values, unseen categories, values out of the reference's range.

They catch broken pipelines rather than a changing world (see ``monitoring.data_quality``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.results import QualityFinding

_SHOW = 5


def data_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: DriftPlan,
    ranges: Mapping[str, tuple[float, float]],
) -> list[QualityFinding]:
    """Broken rules per column: missing values, unseen categories, out-of-range values."""
    rules = plan.quality
    findings: list[QualityFinding] = []
    for column, kind in plan.columns.items():
        cur, ref = current[column], reference[column]
        cur_missing, ref_missing = float(cur.isna().mean()), float(ref.isna().mean())
        if cur_missing > rules.max_missing_share and cur_missing > ref_missing:
            findings.append(
                QualityFinding(
                    column,
                    "missing_share",
                    cur_missing,
                    rules.max_missing_share,
                    f"{cur_missing:.1%} of values missing (reference {ref_missing:.1%})",
                )
            )
        present = cur.dropna()
        if present.empty:
            continue
        if kind == "categorical":
            unseen = ~present.isin(set(ref.dropna().unique()))
            share = float(unseen.sum() / len(cur))
            if share > rules.max_unseen_share:
                counts = present[unseen].value_counts()
                shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(_SHOW).items())
                findings.append(
                    QualityFinding(
                        column,
                        "unseen_categories",
                        share,
                        rules.max_unseen_share,
                        f"{len(counts)} categories the reference never had: {shown}",
                    )
                )
        else:
            lo, hi = ranges.get(column, (float(ref.min()), float(ref.max())))
            values = present.astype("float64")
            outside = (values < lo) | (values > hi)
            share = float(outside.sum() / len(present))
            if share > rules.max_out_of_range_share:
                findings.append(
                    QualityFinding(
                        column,
                        "out_of_range",
                        share,
                        rules.max_out_of_range_share,
                        f"{share:.1%} of values outside the reference range "
                        f"[{lo:g}, {hi:g}] (window min {values.min():g}, max {values.max():g})",
                    )
                )
    return findings

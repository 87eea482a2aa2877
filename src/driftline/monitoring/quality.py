"""Data-quality rules: infinite values, missing values, unseen categories, values out of
the reference's range.

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
    infinite: Mapping[str, tuple[int, int]] | None = None,
) -> list[QualityFinding]:
    """Broken rules per column: infinite values, missing values, unseen categories,
    out-of-range values.

    ``infinite`` gives the infinite values of each numerical column (reference, current),
    which the prepared frames hold as missing: any infinite value breaks a rule of its own
    (ingestion refuses them; a file may hold them), and they are not counted as missing.
    """
    rules = plan.quality
    findings: list[QualityFinding] = []
    infinite = infinite or {}
    for column, kind in plan.columns.items():
        cur, ref = current[column], reference[column]
        ref_inf, cur_inf = infinite.get(column, (0, 0))
        if ref_inf or cur_inf:
            findings.append(
                QualityFinding(
                    column,
                    "infinite",
                    cur_inf / len(cur),
                    0.0,
                    f"{cur_inf:,} infinite values in the current rows, {ref_inf:,} in the "
                    "reference (tested as missing; fix them at the source)",
                )
            )
        cur_missing = float((cur.isna().sum() - cur_inf) / len(cur))
        ref_missing = float((ref.isna().sum() - ref_inf) / len(ref))
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

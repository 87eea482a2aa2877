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
#: An unseen category of a store window is named in a finding only when at least this
#: many customers sent it (a rarer one could identify a customer; it is counted instead).
MIN_NAMED_CUSTOMERS = 5


def data_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: DriftPlan,
    ranges: Mapping[str, tuple[float, float]],
    infinite: Mapping[str, tuple[int, int]] | None = None,
    owners: pd.Series | None = None,
) -> list[QualityFinding]:
    """Broken rules per column: infinite values, missing values, unseen categories,
    out-of-range values.

    ``infinite`` gives the infinite values of each numerical column (reference, current),
    which the prepared frames hold as missing: any infinite value breaks a rule of its own
    (ingestion refuses them; a file may hold them), and they are not counted as missing.

    Findings are stored, alerted and sent to Slack, so they name no single row's value:
    an out-of-range finding counts the values below and above the range (no window minimum
    or maximum); with ``owners`` (the pseudonym of each current row, aligned with
    ``current``, as a store window has them) an unseen category is named only when at
    least :data:`MIN_NAMED_CUSTOMERS` customers sent it, the others are counted.
    """
    rules = plan.quality
    findings: list[QualityFinding] = []
    if owners is not None and len(owners) != len(current):
        owners = None
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
                hidden = ""
                if owners is not None:
                    who = owners.set_axis(cur.index)[present[unseen].index]
                    customers = who.groupby(present[unseen]).nunique()
                    few = customers.index[customers < MIN_NAMED_CUSTOMERS]
                    if len(few):
                        hidden = (
                            f"; {len(few)} more, each sent by fewer than "
                            f"{MIN_NAMED_CUSTOMERS} customers (not named)"
                        )
                        counts = counts.drop(few)
                shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(_SHOW).items())
                findings.append(
                    QualityFinding(
                        column,
                        "unseen_categories",
                        share,
                        rules.max_unseen_share,
                        f"{len(counts)} categories the reference never had: {shown}{hidden}",
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
                        f"[{lo:g}, {hi:g}] ({int((values < lo).sum()):,} below, "
                        f"{int((values > hi).sum()):,} above)",
                    )
                )
    return findings

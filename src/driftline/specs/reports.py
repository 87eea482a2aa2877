"""The ``reports:`` section: how long a model's monitor reports are kept."""

from __future__ import annotations

from pydantic import Field

from driftline.specs.common import Section


class ReportsSection(Section):
    """Retention of the HTML reports and Evidently snapshots of a model's monitor runs,
    enforced after each monitor run and by ``driftline reports prune``. Both keys unset
    (the default): everything is kept."""

    keep_days: int | None = Field(
        default=None,
        gt=0,
        description="Keep the reports and snapshots of windows that ended at most this many "
        "days before the model's newest one; older windows are deleted. Unset: no age limit.",
    )
    max_mb: float | None = Field(
        default=None,
        gt=0,
        description="Keep at most this many megabytes (10^6 bytes) of reports and snapshots "
        "per model, deleting the oldest windows first; the newest window is always kept. "
        "Unset: no size limit.",
    )

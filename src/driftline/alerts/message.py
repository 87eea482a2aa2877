"""The alert value: what happened to which model, how bad, and where to look.

An :class:`Alert` is a small typed value that any caller can build (the monitor from a
drift result and decision, the retrain flow from a gate report, a flow's failure hook).
Each alert channel renders it (Slack Block Kit, the generic webhook's plain JSON, …); the
outbox stores and delivers it. Nothing here talks to the network or the database.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from driftline.config.times import utc_datetime, utc_now

AlertKind = Literal[
    "drift",
    "quality",
    "performance",
    "retrain_started",
    "promoted",
    "rejected",
    "rollback",
    "flow_failed",
    "test",
    "calendar_event",
]
"""What the alert is about. The first three are *findings* (subject to the spec's
``min_severity`` and repeat suppression by default); the rest are lifecycle *events*."""

FINDING_KINDS: frozenset[str] = frozenset({"drift", "quality", "performance"})


class Severity(StrEnum):
    """How urgent an alert is; ordered info < warning < critical."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0, 1, 2 for info, warning, critical: compare severities by rank."""
        return _RANK[self.value]


#: The policy's five severities folded onto the alerts' three.
POLICY_SEVERITY = {
    "none": "info",
    "low": "info",
    "medium": "warning",
    "high": "warning",
    "critical": "critical",
}


_RANK = {"info": 0, "warning": 1, "critical": 2}


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Value):
    """The time range of data an alert is about, ``[start, end)`` (UTC)."""

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc_datetime(value)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError("window end is before its start")
        return self


class FeatureDrift(_Value):
    """One drifted column: the statistical method used, its score and its threshold."""

    column: str = Field(description="Feature (or prediction) column that drifted.")
    method: str = Field(description="Drift method, e.g. psi, wasserstein, jensenshannon, ks.")
    score: float = Field(description="The method's drift score (or p-value for tests).")
    threshold: float | None = Field(default=None, description="Threshold it was judged by.")


class Finding(_Value):
    """A data-quality or performance finding, or a failing promotion gate."""

    name: str = Field(description="What was checked, e.g. 'missing share: recency_days'.")
    detail: str = Field(default="", description="What was found, in a short sentence.")
    value: float | None = Field(default=None, description="Observed value, if numeric.")
    threshold: float | None = Field(default=None, description="Limit it was judged by.")


class Links(_Value):
    """Where a reader can look further: addresses that open in a browser (the public UI
    URLs of the settings), and the report's file path only as a labelled fallback."""

    report: str | None = Field(
        default=None, description="The run's snapshot in the Evidently UI (URL)."
    )
    flow_run: str | None = Field(default=None, description="The Prefect flow run (UI URL).")
    model_version: str | None = Field(
        default=None, description="The MLflow model version (UI URL)."
    )
    report_file: str | None = Field(
        default=None,
        description="Path of the HTML report on the machine that ran the monitor; shown "
        "only when there is no report URL.",
    )

    def items(self) -> list[tuple[str, str]]:
        """(label, target) of each known link, in display order; the report file only
        when no report URL is known, labelled as a path."""
        labelled = [
            ("Evidently report", self.report),
            ("Prefect flow run", self.flow_run),
            ("MLflow model version", self.model_version),
        ]
        if not self.report:
            labelled.append(("HTML report file (path on the monitoring host)", self.report_file))
        return [(label, target) for label, target in labelled if target]


class Alert(_Value):
    """One thing people should hear about, for one model.

    Build it from whatever the caller knows; every field but ``model``, ``kind``,
    ``severity`` and ``title`` is optional and is left out of the message when unknown.

    ``drifted_features`` is shown in the order given: pass it most-drifted first (score
    directions differ between methods, so the caller who knows the method orders it).
    ``columns_drifted`` / ``columns_total`` give the full counts when the list is only
    the top few. ``facts`` adds short labelled values as extra message fields (e.g.
    ``{"Champion": "v3", "Challenger": "v4"}``).

    ``dedupe_key`` names "the same finding": a repeat with the same key within the
    spec's cooldown is suppressed unless its severity is higher. Default: ``model:kind``
    for findings and failed flows, and a key unique to this alert for the other
    lifecycle events (a second promotion is news, not a repeat).
    """

    model: str = Field(min_length=1, max_length=64, description="Model name.")
    kind: AlertKind = Field(description="What happened.")
    severity: Severity = Field(description="info, warning or critical.")
    title: str = Field(min_length=1, description="One line, e.g. 'Drift in 6 of 14 features'.")
    summary: str = Field(default="", description="A few sentences: what, why it matters, next.")
    window: Window | None = Field(default=None, description="Data window it is about.")
    decision: str | None = Field(
        default=None, description="The policy's decision, e.g. none, alert, retrain."
    )
    drift_share: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Share of columns that drifted."
    )
    columns_drifted: int | None = Field(default=None, ge=0, description="Drifted columns.")
    columns_total: int | None = Field(default=None, ge=0, description="Columns checked.")
    rows: int | None = Field(default=None, ge=0, description="Rows in the window.")
    drifted_features: list[FeatureDrift] = Field(
        default_factory=list, description="Top drifted columns, most drifted first."
    )
    quality: list[Finding] = Field(default_factory=list, description="Data-quality findings.")
    performance: list[Finding] = Field(default_factory=list, description="Performance findings.")
    failing_gates: list[Finding] = Field(
        default_factory=list, description="Promotion gates the challenger failed."
    )
    facts: dict[str, str] = Field(
        default_factory=dict, description="Extra labelled values shown as message fields."
    )
    links: Links = Field(default_factory=Links, description="Report, flow run, model version.")
    dedupe_key: str = Field(
        default="", max_length=255, description="Identity of the finding, for suppression."
    )
    alert_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex, description="Unique id of this alert."
    )
    created_at: datetime = Field(default_factory=utc_now, description="When it was raised (UTC).")

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc_datetime(value)

    @model_validator(mode="before")
    @classmethod
    def _default_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("dedupe_key"):
            data = dict(data)
            data.setdefault("alert_id", uuid.uuid4().hex)
            model, kind = data.get("model"), data.get("kind")
            if isinstance(model, str) and isinstance(kind, str):
                data["dedupe_key"] = default_dedupe_key(model, kind, str(data["alert_id"]))
        return data

    @property
    def is_finding(self) -> bool:
        """True for drift, quality and performance alerts (gated by ``min_severity``)."""
        return self.kind in FINDING_KINDS


def default_dedupe_key(model: str, kind: str, alert_id: str) -> str:
    """``model:kind`` for findings and failed flows; unique per alert for other events."""
    if kind in FINDING_KINDS or kind == "flow_failed":
        return f"{model}:{kind}"
    return f"{model}:{kind}:{alert_id}"

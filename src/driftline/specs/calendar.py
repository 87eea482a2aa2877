"""The ``calendar:`` section: dated events (sales, holidays, campaigns, site releases) and
the columns each is expected to move, so a planned event is not taken for a broken world."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from driftline.specs.common import Section


class CalendarEvent(Section):
    """One dated event and what it is expected to change."""

    name: str = Field(
        min_length=1,
        description="Name of the event; events that recur share it (black_friday), so a "
        "later one can use the earlier one as its reference.",
    )
    start: datetime = Field(description="First moment of the event (UTC; a date is midnight).")
    end: datetime = Field(description="End of the event, exclusive (UTC; a date is midnight).")
    expected_columns: list[str] = Field(
        min_length=1,
        description="Feature or prediction columns the event is expected to move. Their "
        "drift (and out-of-range values or unseen categories) during the event is recorded "
        "and shown, but counts toward no persistence, alert or retrain decision.",
    )
    expect: str = Field(
        default="",
        description="What to expect, in words (more traffic, discount share up, new "
        "customers): shown in the informational alert.",
    )
    reference: Literal["baseline", "last_occurrence"] = Field(
        default="baseline",
        description="What windows inside the event are compared with: the champion's "
        "baseline, or last_occurrence: the rows of the latest earlier event of the same "
        "name, when the store holds at least monitoring.min_rows of them (else the "
        "baseline, and the run says so).",
    )

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> CalendarEvent:
        if self.end <= self.start:
            raise ValueError(
                f"event {self.name!r} ends ({self.end:%Y-%m-%d %H:%M}) at or before it starts "
                f"({self.start:%Y-%m-%d %H:%M}); end is exclusive"
            )
        return self

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether the event covers any part of the window ``[start, end)``."""
        return self.start < end and start < self.end


class CalendarSection(Section):
    """Dated events the monitor knows about in advance."""

    events: list[CalendarEvent] = Field(
        default_factory=list, description="The events, in any order."
    )

    def active(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        """Events overlapping the window ``[start, end)`` (UTC), earliest first."""
        return sorted((e for e in self.events if e.overlaps(start, end)), key=lambda e: e.start)

    def last_occurrence(self, event: CalendarEvent) -> CalendarEvent | None:
        """The latest earlier event of the same name that ended before ``event`` began."""
        earlier = [e for e in self.events if e.name == event.name and e.end <= event.start]
        return max(earlier, key=lambda e: e.start) if earlier else None

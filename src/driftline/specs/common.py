"""What every spec section shares: strict keys, and lengths of time written as ``1d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a schedule Prefect can run, or None when it is.

    Parsed with cronsim (the cron library Prefect's own stack ships; the core may not
    import Prefect) and held to what Prefect's deployment schedules accept: five fields
    (minute hour day month weekday), no ``@daily``-style nicknames, no ``H``/``R``
    random or hashed fields. Prefect's own parser checks the same expressions again where
    deployments are made (``driftline spec check``, ``deployments render``, ``serve``).
    """
    from datetime import datetime

    from cronsim import CronSim, CronSimError

    fields = expression.split()
    if len(fields) != 5:
        return (
            f"{expression!r} has {len(fields)} fields; a cron schedule has 5 "
            "(minute hour day month weekday), e.g. '0 6 * * *' for 06:00 UTC daily"
        )
    if any(f.casefold() in ("h", "r") for f in fields):
        return f"{expression!r}: random (R) and hashed (H) fields are not supported by Prefect"
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        return (
            f"{expression!r} is not a valid cron expression: {exc} (minute 0-59, "
            "hour 0-23, day 1-31, month 1-12, weekday 0-7)"
        )
    return None


def _parse_duration(value: Any) -> Any:
    """'30m', '12h', '1d', '2w' -> timedelta; anything else is left to pydantic."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    return value


#: A length of time: ``30m``, ``12h``, ``1d``, ``2w`` (or ISO 8601 such as ``P1D``).
Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]

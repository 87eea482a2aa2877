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
CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")


def _parse_duration(value: Any) -> Any:
    """'30m', '12h', '1d', '2w' -> timedelta; anything else is left to pydantic."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    return value


#: A length of time: ``30m``, ``12h``, ``1d``, ``2w`` (or ISO 8601 such as ``P1D``).
Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]

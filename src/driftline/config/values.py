"""JSON-number helpers: values that must survive ``json.dumps`` as plain numbers."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, or None when it is missing, NaN or infinite.

    JSON has no NaN or infinity: stored records, alerts and artifacts write None instead.
    """
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_default(value: Any) -> Any:
    """For ``json.dumps(default=...)``: numpy scalars as Python numbers, else ``str``."""
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)

"""driftline: drift monitoring and gated retraining for production ML models.

The SDK is importable from here (``from driftline import log_predictions``); it lives in
:mod:`driftline.sdk` and is loaded on first use, so ``import driftline.config`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from driftline.context import Context
    from driftline.sdk import (
        adopt,
        backfill,
        forget_entity,
        log_labels,
        log_predictions,
        monitor_all,
        monitor_model,
        rotate_key,
        set_consent,
    )

__all__ = [
    "Context",
    "__version__",
    "adopt",
    "backfill",
    "forget_entity",
    "log_labels",
    "log_predictions",
    "monitor_all",
    "monitor_model",
    "rotate_key",
    "set_consent",
]


_SDK = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name == "Context":
        from driftline.context import Context

        return Context
    if name in _SDK:
        from driftline import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'driftline' has no attribute {name!r}")

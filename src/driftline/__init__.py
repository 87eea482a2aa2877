"""driftline: drift monitoring and gated retraining for production ML models."""

from __future__ import annotations

__version__ = "0.1.0"

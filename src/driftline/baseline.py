"""The reference profile of one model version, captured at training time.

A monitor always compares a live window with the baseline of the version that holds
the ``champion`` alias *now*, so promotion switches the baseline without reloading
raw training data. Capture and loading (MLflow artifacts of the training run) are
implemented next to training; this module holds the value both sides agree on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Baseline:
    """What a monitor needs to know about the model it watches.

    ``reference`` holds a bounded, stratified sample of the training features and the
    model's predictions on them (spec column names; no entity ids, consenting rows only).
    ``schema`` maps column -> "numerical" | "categorical"; ``stats`` holds per-column
    summary statistics; ``metrics`` the validation metrics (e.g. ``roc_auc``, ``pr_auc``).
    """

    model: str
    version: str
    reference: pd.DataFrame
    schema: dict[str, str]
    stats: dict[str, dict[str, float | int | str | None]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None

"""Data for model-lifecycle tests: simulated worlds where the better model is known.

``concept_drift`` over 42 days changes what predicts a purchase on day 21. A champion
trained with the data clock at day 28 learns the old behaviour (training window days
0-14, holdout 14-21); a challenger trained at day 42 learns from days 14-28 and is
benchmarked on days 28-35, after the drift. The ``stable`` simulation with the same
seed has the same visitors and features, only labels drawn from the old behaviour, so
the two can be mixed row by row (e.g. one segment that did not change).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.devtools.simulate import Simulation, simulate
from driftline.lifecycle.promotion import PromotionOutcome, promote
from driftline.lifecycle.registry import Registry
from driftline.lifecycle.training import TrainingResult, train
from driftline.specs import ModelSpec

DAYS = 42
ROWS_PER_DAY = 1500
SEED = 3
CHAMPION_DAY = 28  # data clock when the first champion is trained


@lru_cache(maxsize=4)
def world(scenario: str) -> Simulation:
    return simulate(scenario, days=DAYS, rows_per_day=ROWS_PER_DAY, seed=SEED)


def start(sim: Simulation) -> pd.Timestamp:
    return pd.Timestamp(sim.timeline["start"])


def day(sim: Simulation, n: int) -> pd.Timestamp:
    return start(sim) + pd.Timedelta(days=n)


def variant(spec: ModelSpec, name: str, **sections: dict[str, Any]) -> ModelSpec:
    """The spec under another model name, with some training/promotion keys changed.

    Training uses one OpenMP thread: CI shares two cores with other jobs, and gradient
    boosting whose threads compete for busy cores runs several times slower. The windows
    are pinned to the defaults these worlds were built for (14 days of training, a 7-day
    holdout), whatever the shipped spec tunes for the demo.
    """
    pinned = {"n_threads": 1, "lookback_days": 14, "holdout_days": 7}
    sections = {**sections, "training": {**pinned, **sections.get("training", {})}}
    update: dict[str, Any] = {"model": spec.model.model_copy(update={"name": name})}
    for section, values in sections.items():
        update[section] = getattr(spec, section).model_copy(update=values)
    return spec.model_copy(update=update)


def segment_kept_old_behaviour(column: str, value: str, from_day: int) -> pd.DataFrame:
    """Concept-drift labels, except rows of one segment from ``from_day`` on, whose
    labels follow the old behaviour (taken from the stable world)."""
    drift, stable = world("concept_drift"), world("stable")
    rows = drift.predictions
    mask = ((rows[column] == value) & (rows["event_ts"] >= day(drift, from_day))).to_numpy()
    labels = drift.labels.copy()
    labels.loc[mask, "purchased_7d"] = stable.labels.loc[mask, "purchased_7d"].to_numpy()
    return labels


def load(
    store: Store,
    spec: ModelSpec,
    pseudonymizer: Pseudonymizer,
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
) -> None:
    """Ingest every prediction and the labels known by the end of the simulation."""
    end = start(world("stable")) + pd.Timedelta(days=DAYS)
    ingest.log_predictions(store, spec, predictions, pseudonymizer)
    ingest.log_labels(store, spec, labels[labels["labelled_at"] <= end])


def champion_then_challenger(
    store: Store, registry: Registry, spec: ModelSpec
) -> tuple[PromotionOutcome, TrainingResult]:
    """Bootstrap a champion at day 28 (promoted through the gates), then train a
    challenger at the end of the data. Returns the bootstrap outcome and the challenger."""
    as_of = day(world("stable"), CHAMPION_DAY)
    train(store, registry, spec, as_of=as_of, triggered_by="test")
    first = promote(store, registry, spec, as_of=as_of, triggered_by="test")
    assert first.promoted, first.reason
    challenger = train(store, registry, spec, reason="drift", triggered_by="test")
    return first, challenger


def assert_png(data: bytes) -> None:
    """``data`` is a PNG image with a picture in it: the PNG signature, an IHDR chunk of a
    real size, and coloured pixels (the models' lines or bars: empty axes are grey)."""
    import io

    import numpy as np
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 100 and height > 100, (width, height)
    pixels = imread(io.BytesIO(data), format="png")
    rgb = pixels[..., :3]
    assert np.count_nonzero(rgb.max(axis=-1) - rgb.min(axis=-1) > 0.3) > 100

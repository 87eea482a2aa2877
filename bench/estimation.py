"""How close performance estimated without labels (CBPE, DLE) comes to the realized value,
against the plain alternative of assuming validation performance still holds; and what
fitting and estimating cost next to computing the realized metrics.

For each scenario the estimator is fitted on the first ``--fit-days`` days (the
simulator's score as the model; for ``customer_ltv`` its ``ltv_score``), then every later
day is one window: the estimate, its band (3 sampling errors) and the realized value of
that day's labels. Printed per scenario and metric: mean absolute error of the estimate
and of the plain alternative (the validation value), their ratio, and the share of windows
whose realized value lies in the band (for both: the same band around each).

    .venv/bin/python bench/estimation.py                       # every scenario (~1 min)
    .venv/bin/python bench/estimation.py --rows 20000 --days 12
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftline.devtools.simulate import CATEGORICAL, NUMERICAL, simulate, simulate_customer_ltv
from driftline.specs import load_spec
from driftline.specs.model import ModelSection
from driftline.tasks import TASKS
from driftline.tasks.estimation import realized_binary

REPO = Path(__file__).resolve().parents[1]
SCHEMA = {**dict.fromkeys(NUMERICAL, "numerical"), **dict.fromkeys(CATEGORICAL, "categorical")}


def _model(task: str) -> ModelSection:
    """The model section of the shipped spec of that task (its column names)."""
    name = "customer_ltv" if task == "regression" else "purchase_propensity"
    return load_spec(REPO / "monitors" / f"{name}.yaml").model


def _frames(scenario: str, days: int, rows: int) -> tuple[pd.DataFrame, str, str, str]:
    if scenario.startswith("ltv:"):
        sim = simulate_customer_ltv(scenario[4:], days=days, rows_per_day=rows, seed=2)
        target, prediction, task = "value_12m", "ltv_score", "regression"
    else:
        sim = simulate(scenario, days=days, rows_per_day=rows, seed=2, change_day=days // 4)
        target, prediction, task = "purchased_7d", "score", "binary_classification"
    frame = sim.predictions.merge(sim.labels[["request_id", target]], on="request_id")
    frame["day"] = (frame["event_ts"] - frame["event_ts"].min()).dt.days
    return frame, target, prediction, task


def _realized(task: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if task == "regression":
        e = y - p
        return {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e**2).mean()))}
    return realized_binary(y, p)


def run(scenario: str, days: int, rows: int, fit_days: int) -> list[dict[str, Any]]:
    frame, target, prediction, task_name = _frames(scenario, days, rows)
    task = TASKS.get(task_name)
    model = _model(task_name)
    fit = frame[frame["day"] < fit_days]
    t0 = time.perf_counter()
    estimator = task.fit_estimator(
        model, fit, SCHEMA, fit[target].to_numpy(), fit[prediction].to_numpy()
    )
    fit_s = time.perf_counter() - t0
    estimate_s = realized_s = 0.0
    errors: dict[str, list[tuple[float, float, bool, bool]]] = {}
    for day in range(fit_days, days):
        window = frame[frame["day"] == day]
        t0 = time.perf_counter()
        est = task.estimate(estimator, model, window.drop(columns=target), sigmas=3.0)
        estimate_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        real = _realized(task_name, window[target].to_numpy(), window[prediction].to_numpy())
        realized_s += time.perf_counter() - t0
        for metric, value in est.metrics.items():
            plain = est.reference[metric]
            half = (est.upper[metric] - est.lower[metric]) / 2
            errors.setdefault(metric, []).append(
                (
                    abs(value - real[metric]),
                    abs(plain - real[metric]),
                    est.lower[metric] <= real[metric] <= est.upper[metric],
                    abs(plain - real[metric]) <= half,
                )
            )
    windows = days - fit_days
    out = []
    for metric, rows_ in errors.items():
        arr = np.array(rows_, dtype=float)
        out.append(
            {
                "scenario": scenario,
                "method": estimator["method"],
                "metric": metric,
                "mae_estimate": arr[:, 0].mean(),
                "mae_plain": arr[:, 1].mean(),
                "ratio": arr[:, 0].mean() / max(arr[:, 1].mean(), 1e-12),
                "in_band_estimate": arr[:, 2].mean(),
                "in_band_plain": arr[:, 3].mean(),
                "fit_s": fit_s,
                "estimate_ms": 1000 * estimate_s / windows,
                "realized_ms": 1000 * realized_s / windows,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows per day (= per window)")
    parser.add_argument("--days", type=int, default=24)
    parser.add_argument("--fit-days", type=int, default=3)
    parser.add_argument(
        "--scenario",
        action="append",
        help="simulate scenario, or ltv:<scenario> for the regression (repeatable)",
    )
    args = parser.parse_args()
    scenarios = args.scenario or [
        "stable",
        "channel_shift",
        "mobile_shift",
        "concept_drift",
        "ltv:stable",
        "ltv:channel_shift",
        "ltv:concept_drift",
    ]
    rows = [r for s in scenarios for r in run(s, args.days, args.rows, args.fit_days)]
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(
        f"{args.days - args.fit_days} windows of ~{args.rows} rows per scenario; estimator "
        f"fitted on {args.fit_days} days. mae_* = mean |value - realized|; plain = the "
        "validation value; ratio = estimate / plain (below 1: the estimate is closer)"
    )
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()

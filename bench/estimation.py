"""How close performance estimated without labels (CBPE, DLE) comes to the realized value,
against the plain alternative of assuming validation performance still holds; and what
fitting and estimating cost next to computing the realized metrics.

For each scenario the estimator is fitted on the first ``--fit-days`` days (the
simulator's score as the model; for ``customer_ltv`` its ``ltv_score``), then every later
day is one window: the estimate, its band and the realized value of that day's labels.
With ``--champion`` the model is a champion trained the way ``driftline train`` trains
one: the spec's trainer fitted on the first ``1 - validation_fraction`` of those days'
rows, the estimator fitted on the rest (its validation rows), every later row scored by
it. ``--seeds N`` repeats everything for seeds 0..N-1. Printed per scenario and metric:
mean absolute error of the estimate and of the plain alternative (the validation value),
their ratio, the share of windows whose realized value lies in the band (for both: the
same band around each) and, over seeds, the fewest windows in the band of one run.

    .venv/bin/python bench/estimation.py                       # every scenario (~1 min)
    .venv/bin/python bench/estimation.py --rows 20000 --days 12
    .venv/bin/python bench/estimation.py --scenario channel_shift --champion --fit-days 4 \
        --rows 3000 --days 28 --change-day 14 --seeds 10      # a trained champion (~2 min)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftline.devtools.simulate import CATEGORICAL, NUMERICAL, simulate, simulate_customer_ltv
from driftline.specs import ModelSpec, load_spec
from driftline.tasks import TASKS
from driftline.tasks.estimation import realized_binary

REPO = Path(__file__).resolve().parents[1]
SCHEMA = {**dict.fromkeys(NUMERICAL, "numerical"), **dict.fromkeys(CATEGORICAL, "categorical")}


def _spec(task: str) -> ModelSpec:
    """The shipped spec of that task (its column names, trainer and validation share),
    training on one thread."""
    name = "customer_ltv" if task == "regression" else "purchase_propensity"
    spec = load_spec(REPO / "monitors" / f"{name}.yaml")
    return spec.model_copy(update={"training": spec.training.model_copy(update={"n_threads": 1})})


def _frames(
    scenario: str, days: int, rows: int, seed: int, change_day: int | None
) -> tuple[pd.DataFrame, str, str, str]:
    if scenario.startswith("ltv:"):
        sim = simulate_customer_ltv(scenario[4:], days=days, rows_per_day=rows, seed=seed)
        target, prediction, task = "value_12m", "ltv_score", "regression"
    else:
        change = days // 4 if change_day is None else change_day
        sim = simulate(scenario, days=days, rows_per_day=rows, seed=seed, change_day=change)
        target, prediction, task = "purchased_7d", "score", "binary_classification"
    frame = sim.predictions.merge(sim.labels[["request_id", target]], on="request_id")
    frame["day"] = (frame["event_ts"] - frame["event_ts"].min()).dt.days
    return frame, target, prediction, task


def _realized(task: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if task == "regression":
        e = y - p
        return {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e**2).mean()))}
    return realized_binary(y, p)


def _champion(
    spec: ModelSpec, frame: pd.DataFrame, fit: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A champion trained on the first rows of ``fit`` by the spec's trainer, as
    ``driftline train`` splits them; ``frame`` scored by it, and its validation rows."""
    from driftline.lifecycle.training import feature_frame, fit_model, training_frame

    cut = round(len(fit) * (1 - spec.training.validation_fraction))
    model = fit_model(spec, training_frame(spec, fit.iloc[:cut])).model
    scored = frame.copy()
    scored[spec.model.prediction] = TASKS.get(spec.model.task).score(
        model, feature_frame(spec, frame)
    )
    return scored, scored.loc[fit.index[cut:]]


def run(
    scenario: str,
    days: int,
    rows: int,
    fit_days: int,
    *,
    seed: int,
    champion: bool,
    change_day: int | None,
) -> list[dict[str, Any]]:
    frame, target, prediction, task_name = _frames(scenario, days, rows, seed, change_day)
    task = TASKS.get(task_name)
    spec = _spec(task_name)
    model = spec.model
    fit = frame[frame["day"] < fit_days]
    if champion:
        frame, fit = _champion(spec, frame, fit)
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
                "seed": seed,
                "method": estimator["method"],
                "calibration": (estimator.get("calibration") or {}).get("kind", "-"),
                "metric": metric,
                "windows": windows,
                "mae_estimate": arr[:, 0].mean(),
                "mae_plain": arr[:, 1].mean(),
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
        "--change-day", type=int, default=None, help="day of the change (default: days // 4)"
    )
    parser.add_argument("--seed", type=int, default=2, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds from --seed on")
    parser.add_argument(
        "--champion", action="store_true", help="train a champion instead of the simulator score"
    )
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
    found = [
        r
        for s in scenarios
        for seed in range(args.seed, args.seed + args.seeds)
        for r in run(
            s,
            args.days,
            args.rows,
            args.fit_days,
            seed=seed,
            champion=args.champion,
            change_day=args.change_day,
        )
    ]
    runs = pd.DataFrame(found)
    runs["windows_in_band"] = (runs["in_band_estimate"] * runs["windows"]).round().astype(int)
    table = runs.groupby(["scenario", "method", "metric"], sort=False).agg(
        mae_estimate=("mae_estimate", "mean"),
        mae_plain=("mae_plain", "mean"),
        in_band_estimate=("in_band_estimate", "mean"),
        in_band_plain=("in_band_plain", "mean"),
        fewest_in_band=("windows_in_band", "min"),
        windows=("windows", "first"),
        fit_s=("fit_s", "mean"),
        estimate_ms=("estimate_ms", "mean"),
        realized_ms=("realized_ms", "mean"),
    )
    table.insert(2, "ratio", table["mae_estimate"] / table["mae_plain"].clip(lower=1e-12))
    calibrations = runs.groupby("calibration")["seed"].nunique().to_dict()
    pd.set_option("display.width", 200)
    model = "a trained champion" if args.champion else "the simulator's score"
    print(
        f"{args.days - args.fit_days} windows of ~{args.rows} rows per scenario and seed "
        f"({args.seeds} seeds from {args.seed}); model: {model}; estimator fitted on "
        f"{args.fit_days} days (calibrations chosen: {calibrations}). mae_* = mean |value - "
        "realized|; plain = the validation value; ratio = estimate / plain (below 1: the "
        "estimate is closer); fewest_in_band = the fewest windows in the band in one seed's run"
    )
    print(table.reset_index().round(4).to_string(index=False))


if __name__ == "__main__":
    main()

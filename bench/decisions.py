"""How fast driftline's decisions fix a change, and that they never loop: simulated
histories replayed through the real monitor and retrain path, one day at a time.

For each scenario a fresh home (SQLite store, MLflow file registry) is filled day by day
as in production: the serving app scores each day's visitors with the current champion
and logs them with its version, labels arrive 7 days after each visit, and a bootstrap
champion is trained and promoted on day 17. Then, every day, the monitor checks the day
(``driftline.sdk.monitor_model``: Evidently, the policy, the stored history) and, on a
``retrain`` decision, the retrain path runs exactly as ``retrain-model`` runs it (train with
the decision's reason and change point, benchmark, gates, promote or reject), without a
Prefect server.

Scenarios (``driftline simulate`` names; the change on day 30 of 56):

  stable          nothing changes: every alert is a false alarm, every retrain wasted
  concept_drift   inputs unchanged, the purchase rule changes (labels 7 days later)
  harmless_shift  pages_per_session shifts by half and stays; purchases do not depend on it
                  (listed as a critical feature, so it is input drift by the spec)

Printed per scenario: days from the change to the first alert, to the first retrain
decision, and to the promotion of a model that recovers performance (its ROC AUC on the
next week of traffic, against the simulator's true labels, within
``monitoring.performance.max_drop`` of its own validation ROC AUC); false alarms (alert
or retrain decisions) on days before the change; retrains decided, rejected and
promoted; the day drift was acknowledged, if it was.

    .venv/bin/python bench/decisions.py                          # every scenario (minutes)
    .venv/bin/python bench/decisions.py --scenario concept_drift --timeline
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from driftline.ops.processes import go_offline

go_offline()  # before MLflow and Prefect are imported

from driftline.config.settings import Settings  # noqa: E402
from driftline.context import Context  # noqa: E402
from driftline.data import ingest  # noqa: E402
from driftline.devtools.simulate import simulate  # noqa: E402
from driftline.lifecycle.benchmark import benchmark  # noqa: E402
from driftline.lifecycle.gates import evaluate_gates  # noqa: E402
from driftline.lifecycle.promotion import apply_gate_report, promote  # noqa: E402
from driftline.lifecycle.training import feature_frame, train  # noqa: E402
from driftline.monitoring.monitor import MonitorRun  # noqa: E402
from driftline.sdk import monitor_model  # noqa: E402
from driftline.specs import ModelSpec, load_spec  # noqa: E402
from driftline.tasks import TASKS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = "purchase_propensity"
DAYS = 56
CHANGE_DAY = 30
BOOTSTRAP_DAY = 17
ROWS_PER_DAY = 2000
SEED = 5
SCENARIOS: dict[str, int | None] = {
    "stable": None,
    "concept_drift": CHANGE_DAY,
    "harmless_shift": CHANGE_DAY,
}
RECOVERY_DAYS = 7


@dataclass
class Replay:
    """What happened in one scenario, day by day."""

    scenario: str
    change_day: int | None
    days: list[dict[str, Any]] = field(default_factory=list)
    promotions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        change = self.change_day
        before = [d for d in self.days if change is None or d["day"] < change]
        after = [d for d in self.days if change is not None and d["day"] >= change]

        def first(rows: list[dict[str, Any]], test: Any) -> int | None:
            hit = next((d["day"] for d in rows if test(d)), None)
            return None if hit is None or change is None else hit - change

        recovered = [p for p in self.promotions if p["recovers"] and p["day"] >= (change or 0)]
        retrains = [d for d in self.days if d["decision"] == "retrain"]
        acknowledged = next(
            (d["day"] for d in self.days if "drift_acknowledged" in d["triggers"]), None
        )
        return {
            "scenario": self.scenario,
            "change_day": change,
            "to_first_alert": first(after, lambda d: d["decision"] != "none"),
            "to_retrain_decision": first(after, lambda d: d["decision"] == "retrain"),
            "to_recovering_promotion": (
                recovered[0]["day"] - change if recovered and change is not None else None
            ),
            "false_alarms": sum(d["decision"] != "none" for d in before),
            "stable_days": len(before),
            "retrains": len(retrains),
            "retrains_rejected": sum(d["outcome"] == "rejected" for d in retrains),
            "retrains_promoted": sum(d["outcome"] == "promoted" for d in retrains),
            "acknowledged_day": acknowledged,
            "seconds": round(self.seconds, 1),
        }


def bench_spec(specs_dir: Path) -> ModelSpec:
    """The shipped purchase_propensity spec, with pages_per_session a critical feature
    (so the harmless shift is input drift by the spec) and one OpenMP thread."""
    data = yaml.safe_load((REPO / "monitors" / f"{MODEL}.yaml").read_text())
    data["monitoring"]["critical_features"] = [
        *data["monitoring"]["critical_features"],
        "pages_per_session",
    ]
    data["training"]["n_threads"] = 1
    path = specs_dir / f"{MODEL}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path)


def retrain_arguments(run: MonitorRun) -> dict[str, Any]:
    """What the monitor flow passes to ``retrain-model`` for a retrain decision: its
    reason and the change point to train after."""
    return {
        "reason": run.decision.retrain_reason or "drift",
        "since": run.decision.change_point,
    }


def replay(scenario: str, change_day: int | None, *, timeline: bool = False) -> Replay:
    started = time.monotonic()
    out = Replay(scenario, change_day)
    with tempfile.TemporaryDirectory(prefix=f"bench-decisions-{scenario}-") as tmp:
        home, specs_dir = Path(tmp) / "home", Path(tmp) / "specs"
        home.mkdir()
        specs_dir.mkdir()
        spec = bench_spec(specs_dir)
        settings = Settings(home=home, specs_dir=specs_dir, pseudonym_key="k" * 32)
        sim = simulate(
            scenario, days=DAYS, rows_per_day=ROWS_PER_DAY, seed=SEED, change_day=change_day
        )
        start = pd.Timestamp(sim.timeline["start"])
        day_of = (sim.predictions["event_ts"] - start).dt.days
        by_day = {d: f for d, f in sim.predictions.groupby(day_of, sort=True)}
        labels_at = (sim.labels["labelled_at"] - start).dt.total_seconds() // 86_400
        truth = sim.labels.set_index("request_id")[spec.model.target]
        task = TASKS.get(spec.model.task)
        max_drop = spec.monitoring.performance.max_drop.get("roc_auc", 0.05)
        with Context.open(settings) as ctx:
            registry, pseudo = ctx.registry(), ctx.pseudonymizer()
            models: dict[str, Any] = {}

            def champion() -> tuple[str | None, Any]:
                version = registry.version_by_alias(spec, "champion")
                if version is not None and version not in models:
                    models[version] = registry.load_model(spec, version).estimator
                return version, models.get(version) if version else None

            def serve_and_log(day: int) -> None:
                frame = by_day[day].copy()
                version, model = champion()
                if model is not None:
                    frame[spec.model.prediction] = task.score(
                        model, feature_frame(spec, frame)
                    ).round(5)
                ingest.log_predictions(ctx.store, spec, frame, pseudo, model_version=version)
                arrived = sim.labels[labels_at == day]
                if not arrived.empty:
                    ingest.log_labels(ctx.store, spec, arrived)

            def recovers(version: str, day: int, validation: float) -> tuple[bool, float]:
                """ROC AUC of ``version`` on the next week of traffic (true labels)."""
                days = [d for d in range(day + 1, min(day + 1 + RECOVERY_DAYS, DAYS))]
                if not days:
                    return False, float("nan")
                rows = pd.concat([by_day[d] for d in days])
                scores = task.score(models[version], feature_frame(spec, rows))
                auc = float(roc_auc_score(truth.loc[rows["request_id"]].to_numpy(), scores))
                return auc >= validation - max_drop, auc

            for day in range(BOOTSTRAP_DAY):
                serve_and_log(day)
            as_of = start + pd.Timedelta(days=BOOTSTRAP_DAY)
            train(ctx.store, registry, spec, reason="bootstrap", triggered_by="bench", as_of=as_of)
            first = promote(ctx.store, registry, spec, triggered_by="bench", as_of=as_of)
            if not first.promoted:
                raise SystemExit(
                    f"{scenario}: the bootstrap model was not promoted: {first.reason}"
                )
            for day in range(BOOTSTRAP_DAY, DAYS):
                serve_and_log(day)
                window_end = start + pd.Timedelta(days=day + 1)
                run = monitor_model(MODEL, window_end, settings=settings)
                row: dict[str, Any] = {
                    "day": day,
                    "status": run.status,
                    "decision": run.action,
                    "triggers": list(run.decision.triggers),
                    "outcome": "-",
                    "champion": champion()[0],
                }
                if run.status == "failed":
                    raise SystemExit(f"{scenario} day {day}: the monitor failed: {run.error}")
                if run.action == "retrain":
                    args = retrain_arguments(run)
                    trained = train(
                        ctx.store,
                        registry,
                        spec,
                        triggered_by="bench",
                        monitor_run_id=str(run.run_id),
                        as_of=window_end,
                        **args,
                    )
                    result = benchmark(
                        ctx.store, registry, spec, challenger=trained.version, as_of=window_end
                    )
                    report = evaluate_gates(result, spec.promotion)
                    outcome = apply_gate_report(
                        ctx.store, registry, spec, report, triggered_by="bench"
                    )
                    row["outcome"] = outcome.status
                    row["reason"] = args["reason"]
                    row["gates"] = [g.name for g in report.failed]
                    if outcome.promoted:
                        champion()
                        ok, auc = recovers(
                            trained.version, day, trained.metrics.get("roc_auc", float("nan"))
                        )
                        out.promotions.append(
                            {
                                "day": day,
                                "version": trained.version,
                                "validation_roc_auc": trained.metrics.get("roc_auc"),
                                "next_week_roc_auc": auc,
                                "recovers": ok,
                            }
                        )
                out.days.append(row)
                if timeline:
                    print(
                        f"  {scenario} day {day:2d} {row['status']:<17} {row['decision']:<8} "
                        f"{row['outcome']:<9} v{row['champion']} {','.join(row['triggers'])}"
                        + (f"  failed: {','.join(row['gates'])}" if row.get("gates") else ""),
                        flush=True,
                    )
    out.seconds = time.monotonic() - started
    return out


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=list(SCENARIOS), nargs="+", default=list(SCENARIOS))
    parser.add_argument("--timeline", action="store_true", help="print every monitored day")
    parser.add_argument("--json", type=Path, help="also write the figures and days as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    replays = [replay(s, SCENARIOS[s], timeline=args.timeline) for s in args.scenario]
    figures = [r.figures() for r in replays]
    print(
        f"\n{DAYS} days x {ROWS_PER_DAY} visitors, change on day {CHANGE_DAY}, bootstrap "
        f"champion on day {BOOTSTRAP_DAY}, labels 7 days late (days counted from the change)"
    )
    header = (
        f"{'scenario':<15} {'alert':>6} {'retrain':>8} {'recovered':>10} {'false alarms':>13} "
        f"{'retrains':>9} {'rejected':>9} {'promoted':>9} {'acknowledged':>13} {'seconds':>8}"
    )
    print(header)
    for f in figures:
        print(
            f"{f['scenario']:<15} {_cell(f['to_first_alert']):>6} "
            f"{_cell(f['to_retrain_decision']):>8} {_cell(f['to_recovering_promotion']):>10} "
            f"{f['false_alarms']:>6} of {f['stable_days']:<3} {f['retrains']:>9} "
            f"{f['retrains_rejected']:>9} {f['retrains_promoted']:>9} "
            f"{_cell(f['acknowledged_day']):>13} {f['seconds']:>8}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "figures": figures,
                    "days": {r.scenario: r.days for r in replays},
                    "promotions": {r.scenario: r.promotions for r in replays},
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()

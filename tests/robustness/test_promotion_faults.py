"""Promotion survives being killed anywhere, and racing promoters record it once.

Each test model has a champion (v1), a challenger (v2) and a stored benchmark whose
gates pass, in a real MLflow registry (SQLite) and a real store (SQLite, and PostgreSQL
when DRIFTLINE_TEST_DATABASE_URL is set). ``driftline promote`` runs in a forked child
that SIGKILLs itself at one checkpoint (``DRIFTLINE_FAULT_KILL_AT``: between two registry
or store writes); then ``driftline promote`` runs again, and the model must have exactly
one champion, one ``promoted`` audit record and one alert, delivered once over real HTTP
to the local receiver.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from driftline.alerts.delivery import Destinations
from driftline.alerts.outbox import list_entries
from driftline.config.faults import FAULT_ENV
from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver
from driftline.lifecycle import audit
from driftline.lifecycle.benchmark import record_benchmark
from driftline.lifecycle.promotion import promote
from driftline.lifecycle.registry import CHALLENGER, CHAMPION, PREVIOUS, TAG, Registry
from driftline.lifecycle.results import BenchmarkResult, ModelScore
from driftline.specs import ModelSpec, load_spec

from ..conftest import SPECS_DIR

#: Every checkpoint of a promotion, in the order it passes them.
KILL_POINTS = (
    "promotion:intent",
    "promotion:previous-champion",
    "promotion:champion",
    "promotion:challenger-dropped",
    "promotion:audited",
    "promotion:tagged",
    "promotion:others-tagged",
)


def _metrics(auc: float) -> dict[str, float]:
    return {"roc_auc": auc, "pr_auc": auc - 0.4, "log_loss": 0.4, "brier": 0.13, "ece": 0.02}


def passing_benchmark(model: str) -> BenchmarkResult:
    """v2 clearly better than v1 on every gate (no segments, no MLflow run)."""
    return BenchmarkResult(
        model=model,
        window_start="2026-10-01T00:00:00+00:00",
        window_end="2026-10-08T00:00:00+00:00",
        rows=10_000,
        positives=2_000,
        primary_metric="roc_auc",
        challenger=ModelScore("2", _metrics(0.75), 200_000.0, 1_000_000),
        champion=ModelScore("1", _metrics(0.70), 200_000.0, 1_000_000),
        diff=0.05,
        ci_low=0.03,
        ci_high=0.07,
        confidence=0.95,
        bootstrap_samples=1000,
    )


class World:
    """One MLflow registry, one store and a specs folder; a model per test case."""

    def __init__(self, root: Path, db_url: str, webhook: str) -> None:
        self.specs = root / "specs"
        self.specs.mkdir()
        self.settings = Settings(
            home=root / "home",
            specs_dir=self.specs,
            pseudonym_key="k" * 32,
            database_url=db_url,
            slack_webhook_url=webhook,
        )
        self.env = {
            "DRIFTLINE_HOME": str(self.settings.home),
            "DRIFTLINE_SPECS_DIR": str(self.specs),
            "DRIFTLINE_PSEUDONYM_KEY": "k" * 32,
            "DRIFTLINE_DATABASE_URL": db_url,
            "DRIFTLINE_SLACK_WEBHOOK_URL": webhook,
        }
        self.registry = Registry.from_settings(self.settings)
        self.store = Store.from_settings(self.settings)

    def model(self, name: str) -> ModelSpec:
        """A model ``name`` (the shipped spec renamed) with champion v1, challenger v2 and
        a passing benchmark of v2 against v1."""
        data = yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())
        data["model"]["name"] = name
        path = self.specs / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        spec = load_spec(path)
        client = self.registry.client
        client.create_registered_model(name)
        folder = self.settings.resolved_home / "dummy-model"
        folder.mkdir(exist_ok=True)
        for _ in range(2):
            client.create_model_version(name, source=folder.as_uri())
        self.registry.set_alias(spec, CHAMPION, "1")
        self.registry.set_alias(spec, CHALLENGER, "2")
        record_benchmark(self.store, passing_benchmark(name))
        return spec

    def release(self) -> None:
        """Close every pooled connection before forking (the child opens its own)."""
        self.store.dispose()
        for obj in gc.get_objects():
            if isinstance(obj, sa.engine.Engine):
                obj.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[World, LocalReceiver]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'driftline.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with LocalReceiver() as rx:
        w = World(tmp_path, url, rx.url)
        for key, value in w.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv(FAULT_ENV, raising=False)
        yield w, rx
        w.store.dispose()


def _cli(*args: str) -> int:
    """``driftline ARGS`` in this process; the exit code."""
    from driftline.cli import main

    old = sys.argv
    sys.argv = ["driftline", *args]
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        sys.argv = old
    return 0


def _killed_at(point: str, model: str) -> int:
    """Run ``driftline promote`` in a forked child that SIGKILLs itself at ``point``;
    the child's exit code (-9 when it was killed)."""

    def child() -> None:
        for obj in gc.get_objects():  # never use the parent's pooled connections
            if isinstance(obj, sa.engine.Engine):
                obj.dispose(close=False)
        os.environ[FAULT_ENV] = point
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        os._exit(_cli("promote", "--model", model))

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(120)
    return int(proc.exitcode if proc.exitcode is not None else 1)


def assert_promoted_once(world: World, spec: ModelSpec, rx: LocalReceiver) -> None:
    assert world.registry.aliases(spec) == {CHAMPION: "2", PREVIOUS: "1"}
    decisions = audit.recent_decisions(world.store, spec.name, limit=50)
    promoted = [d for d in decisions if d.outcome == "promoted"]
    assert len(promoted) == 1, [(d.outcome, d.reason) for d in decisions]
    alerts = [e for e in list_entries(world.store, model=spec.name) if e.kind == "promoted"]
    assert [(e.channel, e.status) for e in alerts] == [("slack", "sent")]
    tags = world.registry.version(spec, "2").tags
    assert tags[f"{TAG}decision"] == "promoted"
    assert tags[f"{TAG}audit_id"] == str(promoted[0].id)
    assert world.registry.version(spec, "1").tags[f"{TAG}replaced_by"] == "2"
    headers = [p["blocks"][0]["text"]["text"] for p in rx.payloads()]
    ours = [h for h in headers if f" {spec.name} " in h and "promoted" in h]
    assert len(ours) == 1, ours
    assert ours[0].endswith(
        f"INFO · {spec.name} · Challenger v2 promoted to champion (replacing v1)"
    )


def test_a_promotion_killed_at_any_step_is_finished_by_running_it_again(
    world: tuple[World, LocalReceiver],
) -> None:
    w, rx = world
    for n, point in enumerate(KILL_POINTS):
        spec = w.model(f"killed_{n}")
        w.release()
        assert _killed_at(point, spec.name) == -9, f"{point} was never reached"
        assert _cli("promote", "--model", spec.name) == 0, point
        assert_promoted_once(w, spec, rx)
        # Once more: a repeat records nothing and sends nothing.
        assert _cli("promote", "--model", spec.name) == 0
        assert_promoted_once(w, spec, rx)


def test_racing_promoters_record_one_promotion_and_one_alert(
    world: tuple[World, LocalReceiver],
) -> None:
    from driftline.alerts.lifecycle import announcer, send_recorded

    w, rx = world
    spec = w.model("raced")
    outcomes = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def promoter(who: str) -> None:
        registry = Registry.from_settings(w.settings)
        start.wait()
        try:
            outcome = promote(
                w.store, registry, spec, triggered_by=who, announce=announcer(w.settings)
            )
            send_recorded(w.store, outcome.alert_id, lambda: _destinations(w))
            outcomes.append(outcome)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=promoter, args=(f"test:{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(o.status for o in outcomes) == ["promoted"] * 3
    assert len({o.audit_id for o in outcomes}) == 1
    assert sum(o.repeat_of is None for o in outcomes) == 1
    assert_promoted_once(w, spec, rx)


def _destinations(w: World) -> Destinations:
    return Destinations.from_settings(w.settings)

"""Scale-out for real: the committed ``deployments/prefect.yaml`` deployed to a real
``prefect server`` on loopback, a process work pool and two workers, with driftline's
store on PostgreSQL (MLflow on SQLite in the temporary home).

One test walks the whole path an operator takes: deploy, start workers, run the monitor
of both models in ``monitors/`` (one on each worker: each worker takes one flow run at a
time), see both runs completed by the workers and stored in PostgreSQL; then the
``driftline.drift.detected`` event starts a ``retrain-model`` run through the deployment
trigger, and a monitor run with a bad parameter fails on a worker without storing
anything. Every process is stopped at the end, whatever happened; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pandas as pd
import pytest
import yaml
from pydantic import SecretStr

from driftline.config.settings import Settings
from driftline.context import Context
from driftline.data import ingest
from driftline.data.store import Store
from driftline.devtools.simulate import simulate
from driftline.lifecycle.promotion import promote
from driftline.lifecycle.registry import TAG
from driftline.lifecycle.training import train
from driftline.monitoring.runs import list_runs
from driftline.ops.deployments import DRIFT_EVENT, WORK_POOL, model_resource

from ..conftest import REPO, SPECS_DIR

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MODELS = ("churn_risk", "purchase_propensity")
WORKERS = ("driftline-worker-1", "driftline-worker-2")
KEY = "s" * 32
# churn_risk's labels mature after 30 days, then 7 days of holdout and 14 of training:
# 56 days leave both models a full training window. Small days keep the test quick.
DAYS = 56
ROWS_PER_DAY = 1000
SEED = 5
SERVER_START_TIMEOUT = 120.0
RUN_TIMEOUT = 240.0
PREFECT = [sys.executable, "-m", "prefect"]
UUID = re.compile(r"UUID: ([0-9a-f-]{36})")

T = TypeVar("T")


# -- processes and waiting ---------------------------------------------------------------


class Processes:
    """Background processes, each in its own session so that stopping one stops its
    children too (a worker's flow-run processes, the server's uvicorn)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(
                args,
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started[name] = proc
        return proc

    def log(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- last lines of {name}.log ---\n" + "\n".join(text.splitlines()[-lines:])

    def logs_of(self, *names: str) -> str:
        return "\n".join(self.log(n) for n in names)

    def check_alive(self, name: str) -> None:
        code = self.started[name].poll()
        if code is not None:
            raise AssertionError(f"{name} exited with code {code}\n{self.log(name)}")

    def stop_all(self) -> None:
        """SIGTERM each process group (newest first), SIGKILL what is left after 20 s."""
        for proc in reversed(self.started.values()):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in reversed(self.started.values()):
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # the leader may be gone while its children still run: kill the group anyway
            _signal_group(proc, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextmanager
def processes(logs: Path) -> Iterator[Processes]:
    procs = Processes(logs)
    try:
        yield procs
    finally:
        procs.stop_all()


def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` every second until it returns something truthy, for at most
    ``timeout`` seconds; on timeout, fail with ``details()`` (e.g. the workers' logs)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(1.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_cli(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run one ``prefect`` command from the repository root; its output, or a failure."""
    done = subprocess.run(
        [*PREFECT, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{output[-4000:]}"
    return output


# -- environments -------------------------------------------------------------------------


def clean_environ() -> dict[str, str]:
    """This process's environment without Prefect or driftline settings (a test harness
    or a developer's shell must not leak into the server, the CLI or the workers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLINE_"))}
    env.update(
        DO_NOT_TRACK="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def prefect_env(prefect_home: Path, api_url: str) -> dict[str, str]:
    """For the server and the CLI: a Prefect home of its own, the loopback server's API.
    DRIFTLINE_PROJECT_DIR is deliberately unset, so `prefect deploy` keeps the pull
    step's placeholder and each worker resolves it from its own environment."""
    return {**clean_environ(), "PREFECT_HOME": str(prefect_home), "PREFECT_API_URL": api_url}


def worker_env(base: dict[str, str], settings: Settings, pg_url: str) -> dict[str, str]:
    """What an operator gives each worker: where driftline's state is, and the checkout."""
    return {
        **base,
        "DRIFTLINE_HOME": str(settings.home),
        "DRIFTLINE_DATABASE_URL": pg_url,
        "DRIFTLINE_SPECS_DIR": str(settings.specs_dir),
        "DRIFTLINE_PSEUDONYM_KEY": KEY,
        "DRIFTLINE_PROJECT_DIR": str(REPO),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }


# -- driftline's side: a home with data and a champion for both models ---------------------


def prepare_home(root: Path, pg_url: str) -> tuple[Settings, pd.Timestamp]:
    """Specs (the repository's, training on one thread), the store on PostgreSQL, both
    models' simulated traffic and the labels known by the end, and a promoted champion
    per model. Returns the settings and the end of the simulated data (midnight UTC)."""
    specs = root / "monitors"
    specs.mkdir()
    for model in MODELS:
        data = yaml.safe_load((SPECS_DIR / f"{model}.yaml").read_text())
        data.setdefault("training", {})["n_threads"] = 1
        (specs / f"{model}.yaml").write_text(yaml.safe_dump(data))
    settings = Settings(
        home=root / "home",
        database_url=SecretStr(pg_url),
        specs_dir=specs,
        pseudonym_key=SecretStr(KEY),
    )
    sim = simulate("stable", days=DAYS, rows_per_day=ROWS_PER_DAY, seed=SEED)
    end = pd.Timestamp(sim.timeline["start"]) + pd.Timedelta(days=DAYS)
    labels = {
        "purchase_propensity": sim.labels_known_by(end),
        "churn_risk": sim.churn_labels_known_by(end),
    }
    with Context.open(settings) as ctx:
        registry = ctx.registry()
        for model in MODELS:
            spec = ctx.spec(model)
            ingest.log_predictions(ctx.store, spec, sim.predictions, ctx.pseudonymizer())
            ingest.log_labels(ctx.store, spec, labels[model])
            train(ctx.store, registry, spec, triggered_by="test")
            outcome = promote(ctx.store, registry, spec, triggered_by="test")
            assert outcome.promoted, f"{model}: {outcome.reason}"
    return settings, end


# -- Prefect's side: reading the server's API ----------------------------------------------


class PrefectApi:
    """Reads of the loopback server's REST API (never through a proxy)."""

    def __init__(self, api_url: str) -> None:
        self.client = httpx.Client(base_url=api_url, trust_env=False, timeout=10)

    def healthy(self) -> bool:
        try:
            return self.client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()

    def deployments(self) -> dict[str, dict[str, Any]]:
        return {d["name"]: d for d in self.post("/deployments/filter", {})}

    def online_workers(self) -> set[str]:
        workers = self.post(f"/work_pools/{WORK_POOL}/workers/filter", {})
        return {w["name"] for w in workers if w.get("status") == "ONLINE"}

    def flow_run(self, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/flow_runs/{run_id}"))

    def finished(self, run_id: str) -> dict[str, Any] | None:
        run = self.flow_run(run_id)
        final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
        return run if run["state_type"] in final else None

    def runs_of(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
        return list(self.post("/flow_runs/filter", body))

    def automation_failures(self, since: datetime) -> list[str]:
        """Why automations' actions failed (e.g. the server refused a run's parameters)."""
        body = {
            "filter": {
                "event": {"name": ["prefect.automation.action.failed"]},
                "occurred": {"since": since.isoformat()},
            },
            "limit": 20,
        }
        events = self.post("/events/filter", body)["events"]
        return [str(e["payload"].get("reason")) for e in events]

    def workers_that_took(self, since: datetime, run_ids: Iterable[str]) -> dict[str, str] | None:
        """Flow run id -> name of the worker that submitted it (the workers' events), once
        there is an event for every run in ``run_ids``."""
        body = {
            "filter": {
                "event": {"name": ["prefect.worker.submitted-flow-run"]},
                "occurred": {"since": since.isoformat()},
            },
            "limit": 50,
        }
        taken: dict[str, str] = {}
        for event in self.post("/events/filter", body)["events"]:
            for related in event["related"]:
                if related["prefect.resource.role"] == "flow-run":
                    run_id = related["prefect.resource.id"].removeprefix("prefect.flow-run.")
                    taken[run_id] = event["resource"]["prefect.resource.name"]
        return taken if set(run_ids) <= set(taken) else None


def run_deployment(name: str, parameters: dict[str, Any], env: dict[str, str]) -> str:
    """`prefect deployment run` with parameters; the new flow run's id."""
    output = prefect_cli(["deployment", "run", name, "--params", json.dumps(parameters)], env)
    found = UUID.search(output)
    assert found, f"no flow run id in the output of `prefect deployment run {name}`:\n{output}"
    return found.group(1)


# -- the test ------------------------------------------------------------------------------


def test_two_workers_run_both_monitors_and_a_drift_event_starts_a_retrain(
    pg_url: str, tmp_path: Path
) -> None:
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path / "prefect-home", api_url)
    api = PrefectApi(api_url)
    started = datetime.now(UTC) - timedelta(minutes=1)
    with processes(tmp_path / "logs") as procs:
        # The server starts while driftline's data and champions are prepared. No
        # scheduler: the monitors' cron schedules must not add runs of their own here.
        server_args = ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
        procs.start("server", [*PREFECT, *server_args, "--no-ui", "--no-scheduler"], env)
        settings, end = prepare_home(tmp_path, pg_url)

        def server_up() -> bool:
            procs.check_alive("server")
            return api.healthy()

        wait_for(server_up, SERVER_START_TIMEOUT, "the Prefect server's /api/health")

        # Work pool, then every deployment of the committed file, as the README says.
        prefect_cli(["work-pool", "create", WORK_POOL, "--type", "process"], env)
        committed = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
        prefect_cli(
            ["--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"], env
        )
        deployments = api.deployments()
        assert set(deployments) == {d["name"] for d in committed["deployments"]}
        for name, deployment in deployments.items():
            assert deployment["work_pool_name"] == WORK_POOL, name
            # left for the workers to resolve: the deployer's environment did not have it
            assert deployment["pull_steps"] == committed["pull"], name
        for model in MODELS:
            (schedule,) = deployments[f"{model}-monitor"]["schedules"]
            assert schedule["schedule"]["cron"] == "0 6 * * *"

        # Two workers with driftline's environment; each runs one flow run at a time.
        wenv = worker_env(env, settings, pg_url)
        for name in WORKERS:
            pool = ["--pool", WORK_POOL, "--name", name, "--limit", "1"]
            procs.start(name, [*PREFECT, "worker", "start", *pool], wenv)

        def workers_online() -> bool:
            for name in WORKERS:
                procs.check_alive(name)
            return api.online_workers() >= set(WORKERS)

        wait_for(workers_online, 90, "both workers to be online")

        # The monitor of each model, for the last simulated day.
        window_end = end.isoformat()
        runs = {
            model: run_deployment(f"monitor-model/{model}-monitor", {"window_end": window_end}, env)
            for model in MODELS
        }
        finished = {
            model: wait_for(
                partial(api.finished, run_id),
                RUN_TIMEOUT,
                f"the {model} monitor run to finish",
                lambda: procs.logs_of(*WORKERS),
            )
            for model, run_id in runs.items()
        }
        for model, run in finished.items():
            assert run["state_type"] == "COMPLETED", (
                f"{model}: {run['state_type']} {run['state']['message']}\n"
                + procs.logs_of(*WORKERS)
            )
            assert run["work_pool_name"] == WORK_POOL
            assert run["deployment_id"] == deployments[f"{model}-monitor"]["id"]
            assert run["parameters"] == {"model": model, "window_end": window_end}

        # Each worker took one of them (the workers' own events say which).
        takers = wait_for(
            lambda: api.workers_that_took(started, runs.values()),
            30,
            "the workers' submitted-flow-run events",
        )
        assert sorted(takers[run_id] for run_id in runs.values()) == sorted(WORKERS)

        # driftline's PostgreSQL store holds each model's run for that window.
        store = Store(pg_url)
        try:
            stored = {model: list_runs(store, model) for model in MODELS}
        finally:
            store.dispose()
        for model, model_runs in stored.items():
            (monitored,) = model_runs
            assert monitored.window_end == end.to_pydatetime(), model
            assert monitored.status != "failed", f"{model}: {monitored.error}"
            assert monitored.champion_version == "1"
            assert monitored.rows_current and monitored.rows_current >= 500

        # A drift event for purchase_propensity (as the monitor emits it, the run id a
        # number) starts its retrain deployment through the trigger; at the same time a
        # churn_risk monitor run with a bad window end fails on the other worker.
        asked_by = stored["purchase_propensity"][0].id
        payload = json.dumps({"model": "purchase_propensity", "run_id": asked_by})
        resource = model_resource("purchase_propensity")
        prefect_cli(["event", "emit", DRIFT_EVENT, "--resource-id", resource, "-p", payload], env)
        bad = run_deployment("monitor-model/churn_risk-monitor", {"window_end": "soon"}, env)
        retrain_id = deployments["purchase_propensity-retrain"]["id"]
        (retrain,) = wait_for(
            lambda: api.runs_of(retrain_id),
            60,
            "the drift event to start a retrain",
            lambda: f"failed automation actions: {api.automation_failures(started)}",
        )
        assert retrain["created_by"]["type"] == "AUTOMATION"
        assert retrain["parameters"] == {
            "model": "purchase_propensity",
            "reason": "drift",
            "monitor_run_id": str(asked_by),
            "since": None,  # an event without a change point: the usual windows
        }
        retrained = wait_for(
            lambda: api.finished(retrain["id"]),
            RUN_TIMEOUT,
            "the retrain run to finish",
            lambda: procs.logs_of(*WORKERS),
        )
        assert retrained["state_type"] == "COMPLETED", (
            f"{retrained['state_type']} {retrained['state']['message']}\n" + procs.logs_of(*WORKERS)
        )
        assert retrained["state_name"] in {"Promoted", "Rejected"}
        assert retrained["work_pool_name"] == WORK_POOL
        failed = wait_for(
            lambda: api.finished(bad),
            RUN_TIMEOUT,
            "the bad monitor run to finish",
            lambda: procs.logs_of(*WORKERS),
        )
        assert failed["state_type"] == "FAILED", failed["state"]
        assert "soon" in (failed["state"]["message"] or "")
        # no retrain for churn_risk, nothing more for it in the store
        assert api.runs_of(deployments["churn_risk-retrain"]["id"]) == []
        # both ran on the workers too
        later = wait_for(
            lambda: api.workers_that_took(started, [retrain["id"], bad]),
            30,
            "the workers' events for the retrain and the bad run",
        )
        assert {later[retrain["id"]], later[bad]} <= set(WORKERS)

    # The challenger the event asked for, tagged with the monitor run that asked.
    with Context.open(settings) as ctx:
        versions = ctx.registry().versions(ctx.spec("purchase_propensity"))
        churn_runs = list_runs(ctx.store, "churn_risk")
    newest = versions[0]
    assert newest.version == "2"
    assert newest.tags[f"{TAG}reason"] == "drift"
    assert newest.tags[f"{TAG}monitor_run_id"] == str(asked_by)
    assert newest.tags[f"{TAG}triggered_by"].startswith("flow:retrain-model/")
    assert len(churn_runs) == 1

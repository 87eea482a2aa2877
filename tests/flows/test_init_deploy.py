"""`driftline init` in an empty folder, then `prefect deploy --all` there against the
session's Prefect server: the deployments are registered from the installed package
(entrypoints are module paths; nothing of this repository is on the path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import PREFECT_API_URL

from driftline.ops.starter import PREFECT_FILE, write_starter_project


def test_init_then_prefect_deploy_registers_the_starter_deployments(tmp_path: Path) -> None:
    project = write_starter_project(tmp_path / "project").root
    planned = yaml.safe_load((project / PREFECT_FILE).read_text())["deployments"]
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="driftline", type="process"), overwrite=True)
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("DRIFTLINE_PROJECT_DIR", None)
    # the installed package only: no checkout (a folder holding flows/) on the path, and
    # the command runs in the new folder
    env["PYTHONPATH"] = os.pathsep.join(
        p
        for p in env.get("PYTHONPATH", "").split(os.pathsep)
        if p and not (Path(p) / "flows").is_dir()
    )
    prefect = Path(sys.executable).with_name("prefect")
    done = subprocess.run(
        [str(prefect), "--no-prompt", "deploy", "--all"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        registered = {d.name: d for d in client.read_deployments()}
        for item in planned:
            deployment = registered[item["name"]]
            assert deployment.entrypoint == item["entrypoint"]
            assert deployment.entrypoint.startswith("driftline.flows.")
            assert deployment.work_pool_name == "driftline"
            assert deployment.pull_steps == [
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": "{{ $DRIFTLINE_PROJECT_DIR }}"
                    }
                }
            ]

"""Operating commands: dashboards as code and the local UIs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftline.cli.output import make_console, styled

if TYPE_CHECKING:
    from driftline.specs import ModelSpec

console = make_console()
dashboards_app = typer.Typer(help="Evidently dashboards as code.", no_args_is_help=True)


@dashboards_app.command("sync")
def dashboards_sync(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="One model (default: every spec).")
    ] = None,
) -> None:
    """Create or update each model's Evidently project and dashboard from dashboards/."""
    from driftline.config.settings import get_settings
    from driftline.ops.dashboards import sync_dashboard
    from driftline.specs import find_spec

    settings = get_settings()
    specs = [find_spec(model, settings.specs_dir)] if model else _valid_specs(settings.specs_dir)
    for spec in specs:
        result = sync_dashboard(settings.workspace_dir(), settings.dashboards_dir, spec)
        verb = "created" if result.created else "updated"
        console.print(
            f"{result.model}: {verb} project {result.project_id} with {result.panels} panels "
            f"from {result.source}"
        )


def _valid_specs(specs_dir: Path) -> list[ModelSpec]:
    """Every valid spec of the folder; each broken one is reported and left out."""
    from driftline.specs import scan_specs

    scan = scan_specs(specs_dir)
    _report(scan.problems)
    return scan.specs


def _report(problems: Sequence[Exception]) -> None:
    for problem in problems:
        console.print(
            f"skipped a broken spec (the other models carry on): {problem}",
            style="yellow",
            markup=False,
            highlight=False,
        )


def _wait_for_port(host: str, port: int, timeout: float) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.5)
    return False


def ui(
    evidently_port: Annotated[int, typer.Option(help="Evidently UI port.")] = 8000,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
    prefect_port: Annotated[int, typer.Option(help="Prefect server port.")] = 4200,
) -> None:
    """Start the Evidently, MLflow and Prefect UIs on 127.0.0.1 until Ctrl-C."""
    from driftline.config.settings import get_settings
    from driftline.ops.processes import ui_services

    settings = get_settings()
    host = "127.0.0.1"
    services = ui_services(
        settings,
        host=host,
        evidently_port=evidently_port,
        mlflow_port=mlflow_port,
        prefect_port=prefect_port,
    )
    logs = settings.resolved_home / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for service in services:
            log = (logs / f"{service.name.lower()}-ui.log").open("wb")
            procs.append(
                subprocess.Popen(
                    service.argv, stdout=log, stderr=subprocess.STDOUT, env=service.env
                )
            )
            up = _wait_for_port(host, service.port, timeout=90)
            state = ("up", "green") if up else ("not answering", "red")
            console.print(
                styled(
                    f"{service.name:<9} http://{host}:{service.port}  ",
                    state,
                    "" if up else f" (see {log.name})",
                )
            )
        console.print(f"logs in {logs}; press Ctrl-C to stop")
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        console.print("a UI process exited; stopping the others", style="red")
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


deployments_app = typer.Typer(help="Prefect deployments of every model.", no_args_is_help=True)


@deployments_app.command("render")
def deployments_render(
    out: Annotated[Path, typer.Option(help="Where to write the prefect.yaml.")] = Path(
        "deployments/prefect.yaml"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Only check that the file is up to date.")
    ] = False,
) -> None:
    """Write deployments/prefect.yaml from the model specs (monitor schedules, retrain
    triggers, nightly alerts flush), or check it is current."""
    from driftline.config.errors import SpecError
    from driftline.config.settings import get_settings
    from driftline.ops.deployments import plan_deployments, render_prefect_yaml
    from driftline.specs import scan_specs

    scan = scan_specs(get_settings().specs_dir)
    _report(scan.problems)
    text = render_prefect_yaml(plan_deployments(scan.specs))
    if check:
        if not out.is_file() or out.read_text() != text:
            raise SpecError(
                f"{out} is out of date with the specs: run `driftline deployments render`"
            )
        console.print(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    console.print(f"wrote {out}")
    if scan.problems:  # written for the others; the broken specs still need fixing
        raise SpecError(
            f"{len(scan.problems)} spec(s) could not be read and have no deployments; fix "
            "them and render again"
        )


def serve() -> None:
    """Serve every model's deployments (schedules and drift-triggered retrains) and the
    nightly alerts flush from this one process, without a work pool. Ctrl-C stops."""
    from driftline.config.settings import get_settings
    from driftline.flows.serve import serve_plan
    from driftline.ops.deployments import plan_deployments

    plan = plan_deployments(_valid_specs(get_settings().specs_dir))
    for item in plan:
        when = item.cron or f"on {item.trigger_event} ({item.trigger_resource})"
        console.print(f"{item.flow:<14} {item.name:<28} {when}")
    serve_plan(plan)

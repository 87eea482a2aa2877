"""Operating commands: dashboards as code and the local UIs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from driftline.cli.output import make_console, styled
from driftline.config.errors import ConfigError
from driftline.ops.processes import child_env

if TYPE_CHECKING:
    from driftline.config.settings import Settings
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
            f"skipped a broken spec (the other models carry on): {problem}", style="yellow"
        )


@dataclass
class _Service:
    """One UI server ``driftline ui`` runs: its command, its port and how to ask it."""

    name: str
    flag: str
    setting: str
    port: int
    command: list[str]
    health: str
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"


_HOST = "127.0.0.1"
_START_TIMEOUT = 240.0  # seconds; servers start slowly on small, busy machines


class _Stop(Exception):
    """SIGTERM or SIGHUP arrived: stop the children like Ctrl-C does."""


def _port_of(url: str | None, ui: str) -> int:
    """The port of ``url`` (a UI's setting), else that of ``DEFAULT_UI_URLS[ui]``."""
    from driftline.config.settings import DEFAULT_UI_URLS

    default = urlsplit(DEFAULT_UI_URLS[ui]).port or 80
    try:
        return urlsplit(url or "").port or default
    except ValueError:
        return default


def _listener(port: int) -> str | None:
    """Best effort: ``pid N (name)`` of the process listening on ``port`` (Linux /proc;
    only processes of this user can be seen), else None."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                    return f"pid {proc.name} ({cmd[:80]})"
    return None


def _check_port_free(service: _Service) -> None:
    """ConfigError naming the service, the port, who holds it and the flag to change."""
    with socket.socket() as sock:
        try:
            sock.bind((_HOST, service.port))
            return
        except OSError:
            pass
    holder = _listener(service.port)
    who = f"another program ({holder})" if holder else "another program"
    raise ConfigError(
        f"port {service.port} for the {service.name} UI is taken by {who}: stop it, or "
        f"choose a free port with {service.flag} N (and set {service.setting} to "
        f"http://{_HOST}:N so that links in alerts point there)"
    )


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _wait_until_up(service: _Service, timeout: float) -> bool:
    """True once the service answers its health URL; False when its process exits or
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc is not None and service.proc.poll() is not None:
            return False
        if _answers(service.url + service.health):
            return True
        time.sleep(0.5)
    return False


def _stop(services: list[_Service]) -> None:
    """SIGTERM each child's process group (a server's own workers included), then
    SIGKILL whatever is left after 15 s."""
    running = [s.proc for s in services if s.proc is not None]
    for proc in running:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in running:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _services(
    settings: Settings, evidently_port: int, mlflow_port: int, prefect_port: int
) -> list[_Service]:
    bin_dir = Path(sys.executable).parent

    def tool(name: str) -> str:
        found = bin_dir / name
        return str(found) if found.exists() else (shutil.which(name) or name)

    prefect_api = f"http://{_HOST}:{prefect_port}/api"
    return [
        _Service(
            "Evidently",
            "--evidently-port",
            "DRIFTLINE_EVIDENTLY_UI_URL",
            evidently_port,
            [
                tool("evidently"),
                *("ui", "--workspace", str(settings.workspace_dir())),
                *("--host", _HOST, "--port", str(evidently_port)),
            ],
            "/api/projects",
        ),
        _Service(
            "MLflow",
            "--mlflow-port",
            "DRIFTLINE_MLFLOW_UI_URL",
            mlflow_port,
            [
                tool("mlflow"),
                *("server", "--artifacts-destination", str(settings.mlflow_artifacts_dir())),
                *("--host", _HOST, "--port", str(mlflow_port), "--workers", "1"),
            ],
            "/health",
            # The store address may hold a password: the environment, not the command
            # line (which every local user can read in /proc/PID/cmdline).
            {"MLFLOW_BACKEND_STORE_URI": settings.tracking_uri()},
        ),
        _Service(
            "Prefect",
            "--prefect-port",
            "DRIFTLINE_PREFECT_UI_URL",
            prefect_port,
            [tool("prefect"), "server", "start", "--host", _HOST, "--port", str(prefect_port)],
            "/api/health",
            # The home's own Prefect database, and a UI that calls this server's API
            # (not 4200's, and not whatever ~/.prefect points at).
            {
                "PREFECT_HOME": str(settings.prefect_home()),
                "PREFECT_API_URL": prefect_api,
                "PREFECT_UI_API_URL": prefect_api,
                "PREFECT_SERVER_API_HOST": _HOST,
                "PREFECT_SERVER_API_PORT": str(prefect_port),
            },
        ),
    ]


def ui(
    evidently_port: Annotated[
        int | None,
        typer.Option(help="Evidently UI port. Default: DRIFTLINE_EVIDENTLY_UI_URL's, else 8000."),
    ] = None,
    mlflow_port: Annotated[
        int | None,
        typer.Option(help="MLflow UI port. Default: DRIFTLINE_MLFLOW_UI_URL's, else 5000."),
    ] = None,
    prefect_port: Annotated[
        int | None,
        typer.Option(help="Prefect server port. Default: DRIFTLINE_PREFECT_UI_URL's, else 4200."),
    ] = None,
) -> None:
    """Start the Evidently, MLflow and Prefect UIs of this home on 127.0.0.1 until Ctrl-C
    (or SIGTERM). Prefect runs on the home's own database (<home>/prefect).

    Exit codes: 0 stopped by a signal, 1 a UI process exited or never answered, 2 a port
    is taken (the message names it and the flag to change).
    """
    from driftline.config.settings import get_settings

    settings = get_settings()
    services = _services(
        settings,
        evidently_port or _port_of(settings.evidently_ui_url, "evidently"),
        mlflow_port or _port_of(settings.mlflow_ui_url, "mlflow"),
        prefect_port or _port_of(settings.prefect_ui_url, "prefect"),
    )
    for service in services:
        _check_port_free(service)
    logs = settings.resolved_home / "logs"
    logs.mkdir(exist_ok=True)

    def on_signal(signum: int, _frame: object) -> None:
        raise _Stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    healthy = True
    try:
        healthy = _run_services(services, logs, settings)
    except (KeyboardInterrupt, _Stop):
        console.print("stopping")
    finally:
        _stop(services)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not healthy:
        raise typer.Exit(code=1)


def _run_services(services: list[_Service], logs: Path, settings: Settings) -> bool:
    """Start each service and wait for it to answer, then until one exits; False when
    one never answered or exited (the caller stops the rest)."""
    for service in services:
        log_path = logs / f"{service.name.lower()}-ui.log"
        with log_path.open("wb") as log:
            service.proc = subprocess.Popen(
                service.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(service.env),
                start_new_session=True,  # its own group: stopping it stops its workers
            )
        if not _wait_until_up(service, timeout=_START_TIMEOUT):
            console.print(
                styled(
                    (f"{service.name} did not start", "bold red"),
                    f" (see {log_path}); stopping the others",
                )
            )
            return False
        console.print(styled(f"{service.name:<9} {service.url}  ", ("up", "green")))
    prefect = services[-1]
    console.print(
        f"Prefect state: {settings.prefect_home()}; to send flow runs here: "
        f"export PREFECT_API_URL={prefect.url}/api\nlogs in {logs}; press Ctrl-C to stop"
    )
    while all(s.proc is not None and s.proc.poll() is None for s in services):
        time.sleep(1)
    gone = next(s.name for s in services if s.proc is not None and s.proc.poll() is not None)
    console.print(f"the {gone} UI exited; stopping the others", style="red")
    return False


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
    text = render_prefect_yaml(plan_deployments(scan.specs), path=out.as_posix())
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


def init(
    folder: Annotated[
        Path, typer.Argument(help="The new project's folder (created if missing; must be empty).")
    ] = Path("."),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a folder that is not empty (overwrites the starter's own files).",
        ),
    ] = False,
) -> None:
    """Start a project from the installed package: a spec to edit, dashboards,
    prefect.yaml (flows by module path) and .env.example."""
    from driftline.ops.starter import STARTER_SPEC, write_starter_project

    project = write_starter_project(folder, force=force)
    console.print(styled(("wrote a driftline project in ", "green"), str(project.root)))
    for name in project.files:
        console.print(f"  {name}")
    console.print(
        f"next: edit {STARTER_SPEC}, run `driftline spec check`, then "
        "`driftline deployments render --out prefect.yaml` (see README.md there)"
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

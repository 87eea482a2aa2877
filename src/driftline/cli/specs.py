"""``driftline spec check``: validate model specs without touching any store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from driftline.cli.options import JsonOpt
from driftline.cli.output import make_console, print_json

console = make_console()
spec_app = typer.Typer(help="Model specs (monitors/*.yaml).", no_args_is_help=True)


def _check(path: Path) -> dict[str, Any]:
    """``{"file", "ok", "spec" | "error"}`` for one file: the spec with every default
    filled in, or why it is invalid. The schedule is also parsed by Prefect's own cron
    parser (what a deployment of it would use)."""
    from prefect.client.schemas.schedules import CronSchedule

    from driftline.config.errors import SpecError
    from driftline.specs import load_spec

    try:
        spec = load_spec(path)
    except SpecError as exc:
        return {"file": str(path), "ok": False, "error": str(exc)}
    try:
        CronSchedule(cron=spec.monitoring.schedule, timezone="UTC")
    except ValueError as exc:
        return {
            "file": str(path),
            "ok": False,
            "error": f"{path}: monitoring.schedule: Prefect refuses "
            f"{spec.monitoring.schedule!r}: {exc}",
        }
    return {"file": str(path), "ok": True, "spec": spec.model_dump(mode="json")}


@spec_app.command("check")
def spec_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Spec files to check. Default: every *.yaml in DRIFTLINE_SPECS_DIR."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate specs (strictly, as every command does) and print each one resolved, with
    its defaults filled in. Opens no store, registry or server.

    Exit codes: 0 every spec is valid, 2 any is not (each problem is printed)."""
    import yaml

    from driftline.config.errors import SpecError
    from driftline.config.settings import get_settings

    if not files:
        specs_dir = get_settings().specs_dir
        files = sorted(specs_dir.glob("*.yaml"))
        if not files:
            raise SpecError(f"no spec files (*.yaml) in {specs_dir}: name files to check")
    results = [_check(path) for path in files]
    if as_json:
        print_json({"specs": results})
    else:
        for result in results:
            if result["ok"]:
                console.rule(f"{result['file']}: valid", style="green")
                console.print(yaml.safe_dump(result["spec"], sort_keys=False), soft_wrap=True)
            else:
                console.print(result["error"], style="red", soft_wrap=True)
    if not all(r["ok"] for r in results):
        raise typer.Exit(code=2)

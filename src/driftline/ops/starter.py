"""``driftline init``: a starter project written from the templates installed with the
package (``driftline/templates/project``), so a team can start from ``pip install
driftline`` without a clone of this repository.

The project holds a commented spec to edit (``monitors/my_model.yaml``), the default
dashboard, ``prefect.yaml`` rendered from that spec (entrypoints are module paths of the
installed flows) and ``.env.example``. It is written into an empty (or new) folder only,
unless ``force`` is given; then the starter's own files are overwritten and every other
file is left alone.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from driftline.config.errors import ConfigError
from driftline.ops.deployments import plan_deployments, render_prefect_yaml
from driftline.specs import load_spec

#: Template files whose name in the project differs (setuptools' package data and some
#: packaging tools leave dotfiles out).
_RENAMED = {"env.example": ".env.example", "gitignore": ".gitignore"}
STARTER_SPEC = "monitors/my_model.yaml"
PREFECT_FILE = "prefect.yaml"


@dataclass(frozen=True)
class StarterProject:
    """What :func:`write_starter_project` wrote: the folder and the files, relative."""

    root: Path
    files: tuple[str, ...]


def _templates() -> Traversable:
    return resources.files("driftline").joinpath("templates", "project")


def starter_files() -> dict[str, str]:
    """Every file of the starter project (path relative to the project -> text), the
    ``prefect.yaml`` rendered from the starter spec. Raises ConfigError when the package
    was installed without its templates (a broken build)."""
    root = _templates()
    if not root.is_dir():
        raise ConfigError(
            "the project templates are not installed with driftline "
            f"({root}); reinstall the package (its wheel ships driftline/templates)"
        )
    files: dict[str, str] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for item in sorted(folder.iterdir(), key=lambda t: t.name):
            if item.name.startswith(("__", ".")):
                continue
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
            else:
                name = _RENAMED.get(item.name, item.name) if not prefix else item.name
                files[f"{prefix}{name}"] = item.read_text(encoding="utf-8")

    walk(root, "")
    with tempfile.TemporaryDirectory() as tmp:  # the loader reads a file, as users' specs
        path = Path(tmp) / "spec.yaml"
        path.write_text(files[STARTER_SPEC], encoding="utf-8")
        spec = load_spec(path)
    files[PREFECT_FILE] = render_prefect_yaml(plan_deployments([spec]), path=PREFECT_FILE)
    return files


def write_starter_project(target: Path, *, force: bool = False) -> StarterProject:
    """Write the starter project into ``target`` (created if missing).

    Raises ConfigError, writing nothing, when ``target`` is a file, or a folder that is
    not empty and ``force`` is false. Each file is written whole (a temporary file
    renamed into place), so an interrupted run never leaves half a file."""
    target = Path(target).expanduser()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} is a file, not a folder: name a new or empty folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} is not empty: name a new or empty folder, or pass --force to write "
            "the starter files into it (files of the same name are overwritten; others "
            "are left alone)"
        )
    files = starter_files()
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, 0o644)  # mkstemp makes it private; these are project files
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return StarterProject(target, tuple(files))


__all__ = [
    "PREFECT_FILE",
    "STARTER_SPEC",
    "StarterProject",
    "starter_files",
    "write_starter_project",
]

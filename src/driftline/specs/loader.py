"""Reading specs: YAML files to validated :class:`ModelSpec` values, with errors that
name the file, the key and the keys that are allowed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from driftline.config.errors import SpecError
from driftline.specs.model import MODEL_NAME
from driftline.specs.spec import ModelSpec


def _allowed_keys(cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at ``loc`` (the location of an unknown key)."""
    current: Any = cls
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        current = _section_class(field.annotation)
    if hasattr(current, "model_fields"):
        return [n for n, f in current.model_fields.items() if not f.exclude]
    return []


def _section_class(annotation: Any) -> Any:
    """The section model inside an annotation: ``SourceSection | None`` -> SourceSection."""
    if hasattr(annotation, "model_fields"):
        return annotation
    models = [a for a in get_args(annotation) if hasattr(a, "model_fields")]
    return models[0] if len(models) == 1 else annotation


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid model spec"]
    for item in error.errors():
        loc = tuple(item["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(ModelSpec, loc))
            lines.append(f"  - {key}: unknown key; allowed here: {allowed}")
        elif item["type"] == "missing":
            lines.append(f"  - {key}: required key is missing")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            if loc:
                lines.append(f"  - {key}: {msg}")
            else:  # rules across sections: one problem a line, each naming its key
                lines += [f"  - {problem}" for problem in msg.splitlines()]
    return "\n".join(lines)


def parse_spec(data: Any, source: str = "<spec>") -> ModelSpec:
    """Validate a spec given as a mapping; raise SpecError naming the bad keys."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a model spec must be a YAML mapping with a 'model' key")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc, source)) from None


def load_spec(path: Path | str) -> ModelSpec:
    """Read and validate one spec file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    spec = parse_spec(data, str(path))
    return spec.model_copy(update={"path": path})


def find_spec(model: str, specs_dir: Path) -> ModelSpec:
    """Load the spec of ``model`` from ``specs_dir`` (file ``<model>.yaml``). SpecError for
    a name that is not a model name (a path, absolute or relative, is refused before any
    file is read: specs come only from the specs folder)."""
    path = spec_file(model, specs_dir)
    spec = load_spec(path)
    if spec.name != model:
        raise SpecError(f"{path}: model.name is {spec.name!r} but the file is named {model!r}")
    return spec


def spec_file(model: str, specs_dir: Path) -> Path:
    """The spec file of ``model`` in ``specs_dir``, unread. SpecError for a name that is not
    a model name, or when the file does not exist (naming the specs found)."""
    if not MODEL_NAME.match(model):
        raise SpecError(
            f"{model!r} is not a model name: use lowercase letters, digits and underscores "
            f"(the name of a spec file in {specs_dir}, without .yaml), not a path"
        )
    path = specs_dir / f"{model}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in specs_dir.glob("*.yaml"))) or "none"
        raise SpecError(
            f"no spec for model {model!r}: expected {path} (specs found in {specs_dir}: {known})"
        )
    return path


@dataclass(frozen=True)
class SpecScan:
    """Every spec file of a folder: the valid specs (sorted by model name) and, for each
    file that is not one, its error (naming the file and what is wrong)."""

    specs: list[ModelSpec]
    problems: list[SpecError]


def scan_specs(specs_dir: Path) -> SpecScan:
    """Read every ``*.yaml`` of ``specs_dir``; a broken file is reported in ``problems``
    and the others are read anyway (one bad spec never hides the other models)."""
    specs, problems = [], []
    for path in sorted(specs_dir.glob("*.yaml")):
        try:
            specs.append(load_spec(path))
        except SpecError as exc:
            problems.append(exc)
        except OSError as exc:  # unreadable file
            problems.append(SpecError(f"{path}: cannot be read: {exc}"))
    return SpecScan(sorted(specs, key=lambda s: s.name), problems)


def list_specs(specs_dir: Path) -> list[ModelSpec]:
    """Every spec in ``specs_dir``, sorted by model name; SpecError naming every broken
    file when one is not valid (see :func:`scan_specs` to carry on without them)."""
    scan = scan_specs(specs_dir)
    if scan.problems:
        raise SpecError("\n".join(str(p) for p in scan.problems))
    return scan.specs

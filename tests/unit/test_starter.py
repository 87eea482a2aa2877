"""``driftline init``: the starter project from the package's templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftline.config.errors import ConfigError
from driftline.ops.starter import PREFECT_FILE, STARTER_SPEC, write_starter_project
from driftline.specs import list_specs

from ..conftest import REPO, cli_runner


def test_init_writes_a_project_whose_spec_and_deployments_agree(tmp_path: Path) -> None:
    project = write_starter_project(tmp_path / "new")
    root = project.root
    for name in (STARTER_SPEC, PREFECT_FILE, ".env.example", "dashboards/default.yaml"):
        assert (root / name).is_file(), name
    (spec,) = list_specs(root / "monitors")
    document = yaml.safe_load((root / PREFECT_FILE).read_text())
    names = {d["name"]: d for d in document["deployments"]}
    assert set(names) == {f"{spec.name}-monitor", f"{spec.name}-retrain", "alerts-flush"}
    assert names[f"{spec.name}-monitor"]["schedules"][0]["cron"] == spec.monitoring.schedule
    assert all(d["entrypoint"].startswith("driftline.flows.") for d in names.values())
    # the spec is there to be edited: it explains its keys
    assert (root / STARTER_SPEC).read_text().count("#") > 10
    assert "SLACK_WEBHOOK_URL=" in (root / ".env.example").read_text()


def test_the_starter_dashboard_is_the_projects_default() -> None:
    template = REPO / "src" / "driftline" / "templates" / "project" / "dashboards" / "default.yaml"
    assert template.read_text() == (REPO / "dashboards" / "default.yaml").read_text()


def test_init_refuses_a_folder_that_is_not_empty_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"not empty.*--force"):
        write_starter_project(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(ConfigError, match="is a file"):
        write_starter_project(tmp_path / "notes.txt")


def test_init_force_writes_the_starter_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "monitors").mkdir()
    (tmp_path / "monitors" / "my_model.yaml").write_text("old")
    write_starter_project(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / STARTER_SPEC).read_text() != "old"
    assert not [p for p in tmp_path.rglob(".*.*") if p.name.startswith(".my_model")]


def test_cli_init_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = cli_runner(monkeypatch, capsys)
    code, out = run("init", str(tmp_path / "p"))
    assert code == 0, out
    assert "prefect.yaml" in out
    code, out = run("init", str(tmp_path / "p"))
    assert code == 2
    assert "--force" in out and "Traceback" not in out

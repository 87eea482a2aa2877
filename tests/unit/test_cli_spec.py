"""``driftline spec check`` (no store touched) and settings read from a ``.env`` file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from driftline.config.settings import Settings
from tests.conftest import SPECS_DIR, Cli, cli_runner


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
    return cli_runner(monkeypatch, capsys)


def _bad_cron(tmp_path: Path) -> Path:
    data = yaml.safe_load((SPECS_DIR / "churn_risk.yaml").read_text())
    data.setdefault("monitoring", {})["schedule"] = "99 99 * * *"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_every_spec_resolved_with_defaults_and_nothing_created(cli: Cli, tmp_path: Path) -> None:
    code, text = cli("spec", "check")
    assert code == 0, text
    assert "purchase_propensity.yaml: valid" in text and "churn_risk.yaml: valid" in text
    assert "cooldown_minutes: 720" in text  # a default the files do not write
    assert "max_unmatched_label_share: 0.5" in text
    assert not (tmp_path / "home").exists()


def test_invalid_cron_is_refused_with_the_key_named(cli: Cli, tmp_path: Path) -> None:
    code, text = cli("spec", "check", str(_bad_cron(tmp_path)), str(SPECS_DIR / "churn_risk.yaml"))
    flat = " ".join(text.split())
    assert code == 2
    assert "bad.yaml: invalid model spec" in flat
    assert "monitoring.schedule: '99 99 * * *' is not a valid cron expression" in flat
    assert "churn_risk.yaml: valid" in flat  # the other file is still checked


def test_json_is_one_document(cli: Cli, tmp_path: Path) -> None:
    code, text = cli("spec", "check", str(_bad_cron(tmp_path)), "--json")
    assert code == 2
    (result,) = json.loads(text)["specs"]
    assert result["ok"] is False and "monitoring.schedule" in result["error"]
    code, text = cli("spec", "check", str(SPECS_DIR / "churn_risk.yaml"), "--json")
    assert code == 0
    spec = json.loads(text)["specs"][0]["spec"]
    assert spec["monitoring"]["schedule"] == "0 6 * * *" and spec["alerts"]["channels"] == ["slack"]


def test_settings_read_a_dotenv_file_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ("DRIFTLINE_SPECS_DIR", "DRIFTLINE_PREFECT_UI_URL", "DRIFTLINE_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / ".env").write_text(
        "DRIFTLINE_SPECS_DIR=team/monitors\n"
        "DRIFTLINE_PREFECT_UI_URL=https://prefect.example.com\n"
        "DRIFTLINE_SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T/B/from-dotenv\n"
        "OTHER_TOOL_SETTING=ignored\n"
    )
    settings = Settings()
    assert settings.specs_dir == Path("team/monitors")
    assert settings.prefect_ui_url == "https://prefect.example.com"
    assert settings.slack_webhook_url is not None
    assert "from-dotenv" not in repr(settings)  # still a secret
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", "elsewhere")
    assert Settings().specs_dir == Path("elsewhere")

"""`driftline alerts test/flush/list` against the local receiver, with settings from
the environment as a user would set them. The URL must never show in the output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftline.alerts.message import Alert
from driftline.alerts.outbox import enqueue
from driftline.cli.main import app
from driftline.config.errors import AlertError
from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver, Reply
from driftline.specs import AlertsSection

SPECS = Path(__file__).resolve().parents[2] / "monitors"
TOKEN = "cli-secret-token-42"


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    with LocalReceiver(path=f"/services/T1/B1/{TOKEN}") as rx:
        yield rx


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS))
    monkeypatch.delenv("DRIFTLINE_SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("DRIFTLINE_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("DRIFTLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return Settings()


def run(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["alerts", *args])
    return result.exit_code, result.output, result.exception


def test_a_test_alert_reaches_the_configured_webhook(
    env: Settings, receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_SLACK_WEBHOOK_URL", receiver.url)
    code, output, _ = run("test", "--model", "purchase_propensity")
    assert code == 0, output
    assert "slack: sent" in output
    (payload,) = receiver.payloads()
    assert "purchase_propensity · Test alert" in payload["blocks"][0]["text"]["text"]
    assert TOKEN not in output


def test_a_test_alert_without_a_url_says_what_to_set(env: Settings) -> None:
    code, _, error = run("test", "--model", "purchase_propensity")
    assert code != 0 and isinstance(error, AlertError)
    assert "DRIFTLINE_SLACK_WEBHOOK_URL" in str(error)


def test_a_refused_test_alert_is_an_error_that_hides_the_url(
    env: Settings, receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_SLACK_WEBHOOK_URL", receiver.url)
    receiver.script(Reply.no_service())
    code, output, error = run("test", "--model", "purchase_propensity")
    assert code != 0 and isinstance(error, AlertError)
    assert 'HTTP 404 "no_service"' in str(error)
    assert TOKEN not in str(error) and TOKEN not in output


def test_flush_sends_pending_alerts_and_list_shows_what_is_left(
    env: Settings, receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.from_settings(env)
    config = AlertsSection(cooldown_minutes=60)
    for key in ("a", "b", "c"):
        alert = Alert(
            model="purchase_propensity",
            kind="drift",
            severity="critical",
            title=f"drift {key}",
            dedupe_key=key,
        )
        enqueue(store, alert, config)
    enqueue(
        store,
        Alert(
            model="purchase_propensity",
            kind="drift",
            severity="critical",
            title="again",
            dedupe_key="a",
        ),
        config,
    )
    store.dispose()

    code, output, _ = run("flush")  # no URL configured yet: nothing is lost
    assert code == 0, output
    assert "sent 0, failed 0, left pending 3" in output
    assert "3 pending, 0 sent, 0 failed, 1 suppressed" in output
    assert "DRIFTLINE_SLACK_WEBHOOK_URL" in output

    monkeypatch.setenv("DRIFTLINE_SLACK_WEBHOOK_URL", receiver.url)
    receiver.script(Reply.ok(), Reply.invalid_payload(), Reply.ok())
    code, output, _ = run("flush")
    assert code == 0, output
    assert "sent 2, failed 1, left pending 0" in output
    assert "0 pending, 2 sent, 1 failed, 1 suppressed" in output
    assert TOKEN not in output

    code, output, _ = run("list", "--status", "failed")
    assert code == 0, output
    assert "invalid_payload" in output and "drift b" in output and "drift a" not in output
    code, output, _ = run("list", "--status", "lost")
    assert code != 0 and "choose one of" in output

"""The alert channel registry: the built-ins, a toy channel added through the registry API
(accepted in a spec, rendered and delivered by the outbox to a local HTTP receiver with
its own idea of success, its URL from its own environment variable), and unknown names
refused with the registered ones listed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from driftline.alerts.channels import CHANNELS, AlertChannel, SendResult, answer_text, refused
from driftline.alerts.delivery import DeliveryPolicy, Destinations
from driftline.alerts.message import Alert
from driftline.alerts.outbox import notify
from driftline.config.errors import SpecError
from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver, Reply
from driftline.specs import AlertsSection, ModelSpec, parse_spec

from ..conftest import SPECS_DIR

TOY_ENV = "DRIFTLINE_TEST_TOY_CHANNEL_URL"
TOKEN = "toy-channel-secret-token"
FAST = DeliveryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.01)


class ToyChannel(AlertChannel):
    """A chat tool that wants ``{"say": ...}`` and answers ``202 queued`` when it took it."""

    name = "toy"
    env_var = TOY_ENV
    description = "a toy chat tool (tests only)"

    def render(self, alert: Alert, config: AlertsSection) -> dict[str, Any]:
        return {"say": f"[{alert.severity.value}] {alert.model}: {alert.title}"}

    def classify(self, response: httpx.Response) -> SendResult:
        body = answer_text(response)
        if response.status_code == 202 and body == "queued":
            return SendResult("sent", status_code=202)
        if 200 <= response.status_code < 300:
            return SendResult("retry", f"HTTP {response.status_code} {body!r}, not queued")
        return refused(response, body)


@pytest.fixture
def toy() -> Iterator[AlertChannel]:
    channel = CHANNELS.register(ToyChannel())
    try:
        yield channel
    finally:
        CHANNELS.unregister("toy")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    yield st
    st.dispose()


def spec_with_channels(*channels: str) -> ModelSpec:
    data = yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())
    data["alerts"]["channels"] = list(channels)
    return parse_spec(data, "purchase_propensity.yaml")


def test_the_built_in_channels_are_registered() -> None:
    assert CHANNELS.names() == ["slack", "webhook"]
    slack, webhook = CHANNELS.get("slack"), CHANNELS.get("webhook")
    assert (slack.env_var, slack.secret_block) == (
        "DRIFTLINE_SLACK_WEBHOOK_URL",
        "driftline-slack-webhook",
    )
    assert (webhook.env_var, webhook.secret_block) == ("DRIFTLINE_WEBHOOK_URL", "driftline-webhook")
    assert all(e.source == "driftline (built in)" for e in CHANNELS.entries())


def test_an_unknown_channel_in_a_spec_is_an_error_naming_the_registered_ones() -> None:
    with pytest.raises(SpecError) as caught:
        spec_with_channels("slack", "teams")
    message = str(caught.value)
    assert "alerts.channels.1" in message
    assert "unknown alert channel 'teams'" in message
    assert "slack, webhook" in message
    with pytest.raises(SpecError, match="unknown alert channel 'teams'"):
        CHANNELS.get("teams")


def test_a_registered_channel_is_accepted_rendered_and_delivered(
    toy: AlertChannel,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = spec_with_channels("slack", "toy")
    assert spec.alerts.channels == ["slack", "toy"]
    with LocalReceiver(path=f"/hooks/{TOKEN}") as rx:
        monkeypatch.setenv(TOY_ENV, rx.url)
        monkeypatch.delenv("DRIFTLINE_SLACK_WEBHOOK_URL", raising=False)
        monkeypatch.delenv("DRIFTLINE_WEBHOOK_URL", raising=False)
        destinations = Destinations.from_settings(Settings(home=tmp_path / "home"))
        assert destinations.configured() == ["toy"]
        assert "toy=configured" in repr(destinations) and TOKEN not in repr(destinations)

        rx.script(Reply(200, "ok"), Reply(202, "queued"))  # Slack's success is not the toy's
        alert = Alert(model=spec.name, kind="test", severity="warning", title="Hello toy")
        result = notify(store, alert, spec.alerts, destinations, FAST, sleep=lambda _: None)
        payloads = rx.payloads()
    assert result.status_of("toy") == "sent"
    assert result.status_of("slack") == "pending"  # no URL: it waits for one
    assert [(d.channel, d.outcome, d.tries) for d in result.flushed.deliveries] == [
        ("slack", "not_attempted", 0),
        ("toy", "sent", 2),  # the 200 "ok" was not a success for the toy: tried again
    ]
    toy_row = next(e for e in result.enqueued.entries if e.channel == "toy")
    assert toy_row.payload() == {"say": "[warning] purchase_propensity: Hello toy"}
    assert payloads == [toy_row.payload()] * 2
    slack_row = next(e for e in result.enqueued.entries if e.channel == "slack")
    assert slack_row.payload()["blocks"][0]["type"] == "header"  # each channel renders its own


def test_an_unregistered_channel_is_gone(toy: AlertChannel) -> None:
    assert "toy" in CHANNELS.names()
    CHANNELS.unregister("toy")
    assert CHANNELS.names() == ["slack", "webhook"]
    with pytest.raises(SpecError, match="choose one of slack, webhook"):
        spec_with_channels("toy")


def test_a_channel_without_a_url_variable_cannot_be_registered() -> None:
    class Nameless(ToyChannel):
        name = "nameless"
        env_var = ""

    with pytest.raises(ValueError, match="env_var"):
        CHANNELS.register(Nameless())
    assert "nameless" not in CHANNELS

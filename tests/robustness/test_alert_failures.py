"""Alert problems never fail anything and never leak a secret: any ``Retry-After`` is
parsed defensively and clamped, one parked row never holds back newer ones, and a
webhook URL is redacted in every form an endpoint may echo it (real HTTP to the local
receiver, real outbox on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from driftline.alerts.channels import MAX_RETRY_AFTER, parse_retry_after
from driftline.alerts.delivery import Destinations
from driftline.alerts.lifecycle import retrain_started_alert
from driftline.alerts.outbox import OUTBOX_TABLE, enqueue, flush, list_entries
from driftline.config.times import utc_now
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver, Reply

from ..conftest import SPECS_DIR, Cli, cli_runner

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("99999999999999", MAX_RETRY_AFTER),  # the example: OverflowError before
        ("inf", MAX_RETRY_AFTER),
        ("Infinity", MAX_RETRY_AFTER),
        ("1e400", MAX_RETRY_AFTER),
        ("1000000000", MAX_RETRY_AFTER),  # parked the alert until 2058 before
        ("3601", MAX_RETRY_AFTER),
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("-inf", 0.0),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Mon, 30 Nov 2026 12:00:10 GMT", 10.0),
        ("Mon, 30 Nov 2026 11:00:00 GMT", 0.0),  # in the past
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Mon, 99 Foo 2026 99:99:99 GMT", None),
        ("Mon, 30 Nov 99999999 12:00:00 GMT", None),
    ],
)
def test_any_retry_after_is_parsed_defensively_and_clamped(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("header", ["99999999999999", "inf", "1000000000", "garbage", "-1"])
def test_a_rate_limited_row_is_parked_briefly_and_never_holds_back_newer_ones(
    store: Store, header: str
) -> None:
    limited = Reply(429, "rate_limited", {"Retry-After": header})
    with LocalReceiver(default=limited) as busy, LocalReceiver() as rx:
        first = enqueue(store, retrain_started_alert("purchase_propensity", reason="drift"))
        result = flush(store, Destinations({"slack": busy.url}), sleep=lambda _: None)
        after = utc_now()  # the wait is counted from the reply, however slow the flush was
        assert result.retry_later == 1 and result.sent == 0  # and it did not raise
        (parked,) = list_entries(store, status="pending")
        assert parked.id == first.entries[0].id and "429" in (parked.last_error or "")
        assert parked.next_attempt_at <= after + timedelta(seconds=MAX_RETRY_AFTER)
        newer = enqueue(store, retrain_started_alert("purchase_propensity", reason="manual"))
        again = flush(store, Destinations({"slack": rx.url}), sleep=lambda _: None)
        # the parked row is not due yet; the newer one goes out
        assert [(d.entry_id, d.outcome) for d in again.deliveries] == [
            (newer.entries[0].id, "sent")
        ]
        assert len(rx.payloads()) == 1


# -- secrets in error texts ----------------------------------------------------------------

SECRET_PATH = "/services/T0SECRET/B0SECRET/s3cr3tToken42"


@pytest.mark.parametrize(
    ("path", "echo"),
    [
        (SECRET_PATH + "/", SECRET_PATH),  # URL ends in "/", the endpoint echoes without
        (SECRET_PATH, SECRET_PATH + "/"),  # ... and the other way round
        (SECRET_PATH + "?tk=Zq9xSecretValue", "tk=Zq9xSecretValue"),  # the query alone
        (SECRET_PATH + "?tk=Zq9xSecretValue", SECRET_PATH),  # the path alone
        (SECRET_PATH, quote(SECRET_PATH, safe="")),  # percent-encoded, slashes too
        (SECRET_PATH, quote(SECRET_PATH, safe="").replace("%2F", "%2f")),  # lower-case hex
        ("/hooks/caf%C3%A9-s3cr3t-Token", "/hooks/café-s3cr3t-Token"),  # given encoded
    ],
)
def test_a_secret_url_is_redacted_in_every_form_wherever_error_text_goes(
    path: str,
    echo: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run: Cli = cli_runner(monkeypatch, capsys)
    with LocalReceiver(path=path, default=Reply(404, f"no_service: no hook at {echo}")) as rx:
        monkeypatch.setenv("DRIFTLINE_HOME", str(home))
        monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
        monkeypatch.setenv("DRIFTLINE_SLACK_WEBHOOK_URL", rx.url)
        code, tested = run("alerts", "test", "--model", "purchase_propensity")
        assert len(rx.requests) == 1 and rx.requests[0].path == path
    assert code == 2 and "HTTP 404" in tested and "redacted" in tested
    code, listed = run("alerts", "list")
    assert code == 0 and "HTTP 404" in listed
    store = Store(f"sqlite:///{home / 'driftline.db'}")
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text(f"SELECT last_error FROM {OUTBOX_TABLE}")).scalars().all()
    store.dispose()
    for text in (tested, listed, *stored):
        for leaked in ("s3cr3t", "Zq9xSecretValue", "T0SECRET", "T0secret", "t0secret"):
            assert leaked not in text, text

"""Consent withdrawal, erasure by the id as sent, and key rotation, through the SDK and
the CLI on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from driftline.cli import main
from driftline.config.errors import DataError, PrivacyError, RegistryError
from driftline.config.settings import Settings
from driftline.data import privacy
from driftline.data.privacy import Pseudonymizer, load_keys
from driftline.data.store import Store
from driftline.data.windows import read_window
from driftline.devtools.simulate import simulate
from driftline.sdk import forget_entity, log_labels, log_predictions, rotate_key, set_consent
from driftline.specs import find_spec

from ..conftest import SPECS_DIR

MODEL = "purchase_propensity"
TABLE = f"dl_pred_{MODEL}"


@pytest.fixture(scope="module")
def traffic() -> tuple[pd.DataFrame, pd.DataFrame]:
    sim = simulate("stable", days=2, rows_per_day=300, seed=11)
    return sim.predictions, sim.labels


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings on each database, with the key file outside the home folder."""
    home = tmp_path / "home"
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    yield Settings(
        home=home,
        specs_dir=SPECS_DIR,
        database_url=url,
        pseudonym_key_file=tmp_path / "keys" / "driftline.key",
    )


@pytest.fixture
def loaded(settings: Settings, traffic: tuple[pd.DataFrame, pd.DataFrame]) -> str:
    """The traffic stored; returns the busiest customer's id."""
    preds, labels = traffic
    privacy.write_key_file(settings.key_file(), privacy.new_key())
    log_predictions(MODEL, preds, settings=settings)
    log_labels(MODEL, labels, settings=settings)
    return str(preds["customer_id"].value_counts().index[0])


def rows_of(settings: Settings, key: str) -> list[tuple[str, bool | None]]:
    store = Store.from_settings(settings)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.text(f"SELECT request_id, consent FROM {TABLE} WHERE entity_key = :k"),
                {"k": key},
            )
            return [(r.request_id, r.consent) for r in rows]
    finally:
        store.dispose()


def pseudonym(settings: Settings, raw: str) -> str:
    return Pseudonymizer(*load_keys(settings)).pseudonymise(raw)


def test_consent_withdrawn_and_given_again(
    settings: Settings, loaded: str, traffic: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    preds, _ = traffic
    customer = loaded
    mine = preds[preds["customer_id"] == customer]
    key = pseudonym(settings, customer)
    consenting = int(mine["consent_analytics"].sum())
    # The id as a careless caller sends it: surrounding spaces name the same customer.
    changed = set_consent(MODEL, f"  {customer} ", False, settings=settings)
    assert changed == consenting
    assert {c for _, c in rows_of(settings, key)} == {False}
    spec = find_spec(MODEL, SPECS_DIR)
    store = Store.from_settings(settings)
    try:
        start, end = preds["event_ts"].min(), preds["event_ts"].max() + pd.Timedelta(seconds=1)
        window = read_window(store, spec, pd.Timestamp(start), pd.Timestamp(end))
        assert not set(mine["request_id"]) & set(window["request_id"])
    finally:
        store.dispose()
    assert set_consent(MODEL, customer, False, settings=settings) == 0  # idempotent
    assert set_consent(MODEL, customer, True, settings=settings) == len(mine)
    assert {c for _, c in rows_of(settings, key)} == {True}


def test_a_resent_row_applies_its_later_consent_to_the_customer(
    settings: Settings, loaded: str, traffic: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Sending one of a customer's requests again with the flag now false withdraws their
    consent for every stored row (and the count says so); the other values of a stored
    row still cannot change, and sending the flag true again gives consent back."""
    preds, _ = traffic
    mine = preds[preds["customer_id"] == loaded].sort_values("event_ts")
    key = pseudonym(settings, loaded)
    consenting = int(mine["consent_analytics"].sum())
    assert consenting > 0  # the busiest customer has consenting rows to lose
    resent = mine.tail(1).assign(consent_analytics=False)
    result = log_predictions(MODEL, resent, settings=settings)
    assert (result.inserted, result.already_stored) == (0, 1)
    assert result.consent_changed == consenting
    assert {c for _, c in rows_of(settings, key)} == {False}
    spec = find_spec(MODEL, SPECS_DIR)
    store = Store.from_settings(settings)
    try:
        start, end = preds["event_ts"].min(), preds["event_ts"].max() + pd.Timedelta(seconds=1)
        window = read_window(store, spec, pd.Timestamp(start), pd.Timestamp(end))
        assert not set(mine["request_id"]) & set(window["request_id"])
        others = store.summarize(spec).consenting
    finally:
        store.dispose()
    assert others == int(preds["consent_analytics"].sum()) - consenting
    with pytest.raises(DataError, match="stored already with other values"):
        log_predictions(MODEL, resent.assign(sessions_7d=999.0), settings=settings)
    again = log_predictions(MODEL, resent.assign(consent_analytics=True), settings=settings)
    assert again.consent_changed == len(mine)
    assert {c for _, c in rows_of(settings, key)} == {True}


def test_a_resent_consent_flag_leaves_the_new_rows_of_its_batch_as_they_were_sent(
    settings: Settings, loaded: str, traffic: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """One batch re-sends a stored request with consent withdrawn and carries a new,
    later request of the same customer with consent given: the stored rows lose consent
    (and only they are counted), the new row is stored with the flag it carries."""
    preds, _ = traffic
    mine = preds[preds["customer_id"] == loaded].sort_values("event_ts")
    key = pseudonym(settings, loaded)
    resent = mine.tail(1).assign(consent_analytics=False)
    new = mine.tail(1).assign(
        request_id="later-request",
        event_ts=mine["event_ts"].max() + pd.Timedelta(hours=1),
        consent_analytics=True,
    )
    result = log_predictions(MODEL, pd.concat([resent, new]), settings=settings)
    assert (result.inserted, result.already_stored) == (1, 1)
    assert result.consent_changed == int(mine["consent_analytics"].sum())
    flags = dict(rows_of(settings, key))
    assert bool(flags.pop("later-request"))
    assert set(flags.values()) == {False} and len(flags) == len(mine)


def test_forget_takes_the_id_as_it_was_sent(settings: Settings, loaded: str) -> None:
    key = pseudonym(settings, loaded)
    n = len(rows_of(settings, key))
    erased = forget_entity(MODEL, f"\t{loaded}  ", settings=settings)
    assert erased.predictions_deleted == n > 0
    assert rows_of(settings, key) == []
    with pytest.raises(PrivacyError, match="entity id is empty"):
        forget_entity(MODEL, "   ", settings=settings)


def test_forget_with_mlflow_unreachable_erases_nothing(
    settings: Settings, loaded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Baselines are erased before the store: when the registry cannot be reached, forget
    fails saying so and the store keeps the rows that say where to look (run it again)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    unreachable = settings.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9"})
    key = pseudonym(settings, loaded)
    n = len(rows_of(settings, key))
    with pytest.raises(RegistryError, match="cannot reach the MLflow"):
        forget_entity(MODEL, loaded, settings=unreachable)
    assert len(rows_of(settings, key)) == n > 0


def test_rotate_key_re_pseudonymises_every_row(
    settings: Settings, loaded: str, traffic: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    before = pseudonym(settings, loaded)
    n = len(rows_of(settings, before))
    old_keys = load_keys(settings)
    rotation = rotate_key(settings=settings)
    assert rotation.keys == 2 and sum(rotation.rows.values()) == len(traffic[0])
    assert load_keys(settings)[:1] == old_keys
    assert rows_of(settings, before) == []  # the old key alone finds nothing
    after = pseudonym(settings, loaded)
    assert len(rows_of(settings, after)) == n
    assert forget_entity(MODEL, loaded, settings=settings).predictions_deleted == n


def test_a_failed_rotation_changes_nothing(
    settings: Settings, loaded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = settings.key_file()
    text = key_file.read_text()
    before = pseudonym(settings, loaded)
    calls: list[str] = []

    def failing(pseudonym: str, new_key: bytes) -> str:
        calls.append(pseudonym)
        if len(calls) > 5:
            raise RuntimeError("the connection dropped")
        return "f" * 32

    monkeypatch.setattr(privacy, "repseudonymise", failing)
    with pytest.raises(RuntimeError):
        rotate_key(settings=settings)
    assert key_file.read_text() == text
    assert not key_file.with_name(key_file.name + ".rotating").exists()
    assert rows_of(settings, before) and not rows_of(settings, "f" * 32)


def test_rotation_needs_a_key_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, specs_dir=SPECS_DIR, pseudonym_key="k" * 32)
    with pytest.raises(PrivacyError, match="DRIFTLINE_PSEUDONYM_KEY_FILE"):
        rotate_key(settings=settings)


def test_cli_consent_and_rotate_key(
    settings: Settings,
    loaded: str,
    traffic: tuple[pd.DataFrame, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DRIFTLINE_HOME", str(settings.home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY_FILE", str(settings.key_file()))
    if settings.database_url is not None:
        monkeypatch.setenv("DRIFTLINE_DATABASE_URL", settings.database_url.get_secret_value())

    def cli(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["driftline", *args])
        with pytest.raises(SystemExit) as done:
            main()
        out = capsys.readouterr()
        return int(done.value.code or 0), out.out + out.err

    code, text = cli("privacy", "consent", "-m", MODEL, "--entity", loaded)
    assert code == 2 and "--withdraw or --give" in text
    code, text = cli("privacy", "consent", "-m", MODEL, "--entity", loaded, "--withdraw")
    assert code == 0 and "consent withdrawn" in text
    code, text = cli("privacy", "rotate-key")
    assert code == 0 and f"re-pseudonymised {len(traffic[0]):,} stored predictions" in text
    assert "chain of 2 keys" in text
    assert {c for _, c in rows_of(settings, pseudonym(settings, loaded))} == {False}

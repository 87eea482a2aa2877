from __future__ import annotations

import stat

import pandas as pd
import pytest

from driftline.config.settings import Settings
from driftline.data.privacy import Pseudonymizer, load_key


def test_pseudonyms_are_stable_keyed_and_not_the_id() -> None:
    a, b = Pseudonymizer(b"a" * 32), Pseudonymizer(b"b" * 32)
    assert a.pseudonymise("alice@example.com") == a.pseudonymise("alice@example.com")
    assert a.pseudonymise("alice@example.com") != b.pseudonymise("alice@example.com")
    assert a.pseudonymise("alice@example.com") != a.pseudonymise("bob@example.com")
    assert "alice" not in a.pseudonymise("alice@example.com")


def test_series_matches_scalar_and_keeps_index() -> None:
    p = Pseudonymizer(b"k" * 32)
    ids = pd.Series(["c1", "c2", "c1", 42], index=[10, 11, 12, 13])
    out = p.pseudonymise_series(ids)
    assert list(out.index) == [10, 11, 12, 13]
    assert out[10] == out[12] == p.pseudonymise("c1")
    assert out[13] == p.pseudonymise("42")


def test_short_key_rejected() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymizer(b"short")


def test_repr_hides_key() -> None:
    assert "secret" not in repr(Pseudonymizer(b"secret-key-0123456789"))


def test_key_file_generated_once_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path)
    first = load_key(settings)
    assert load_key(settings) == first
    mode = stat.S_IMODE((tmp_path / "pseudonym.key").stat().st_mode)
    assert mode == 0o600


def test_key_from_environment_wins(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", "from-env-0123456789")
    assert load_key(Settings(home=tmp_path)) == b"from-env-0123456789"
    assert not (tmp_path / "pseudonym.key").exists()

from __future__ import annotations

import pickle
import stat

import pandas as pd
import pytest

from driftline.config.errors import PrivacyError
from driftline.config.settings import Settings
from driftline.data.privacy import (
    Pseudonymizer,
    key_beside_store,
    load_keys,
    repseudonymise,
    write_key_file,
)


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
    # Each id by its own text: equal numbers of other types are other ids.
    mixed = p.pseudonymise_series(pd.Series([1, 1.0, True, "1", " 1"]))
    assert list(mixed) == [p.pseudonymise(v) for v in ("1", "1.0", "True", "1", "1")]
    assert pickle.loads(pickle.dumps(p)).pseudonymise("c1") == p.pseudonymise("c1")


def test_short_key_rejected() -> None:
    with pytest.raises(PrivacyError, match="shorter than 16 bytes"):
        Pseudonymizer(b"short")


def test_repr_hides_key() -> None:
    assert "secret" not in repr(Pseudonymizer(b"secret-key-0123456789"))


def test_key_file_generated_once_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path)
    first = load_keys(settings)
    assert load_keys(settings) == first
    mode = stat.S_IMODE((tmp_path / "pseudonym.key").stat().st_mode)
    assert mode == 0o600


def test_key_from_environment_wins(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", "from-env-0123456789")
    assert load_keys(Settings(home=tmp_path)) == [b"from-env-0123456789"]
    assert not (tmp_path / "pseudonym.key").exists()


def test_surrounding_spaces_name_the_same_customer() -> None:
    p = Pseudonymizer(b"k" * 32)
    assert p.pseudonymise("  bob@example.com ") == p.pseudonymise("bob@example.com")
    series = p.pseudonymise_series(pd.Series([" bob@example.com", "bob@example.com\t"]))
    assert set(series) == {p.pseudonymise("bob@example.com")}


def test_a_rotated_chain_maps_old_pseudonyms_to_the_new_ones() -> None:
    old = Pseudonymizer(b"a" * 32)
    new = old.rotated(b"b" * 32)
    stored = old.pseudonymise("alice@example.com")
    assert repseudonymise(stored, b"b" * 32) == new.pseudonymise("alice@example.com")
    assert new.pseudonymise("alice@example.com") != stored
    assert Pseudonymizer(b"b" * 32).pseudonymise("alice@example.com") != new.pseudonymise(
        "alice@example.com"
    )


def test_named_key_file_is_read_and_never_generated(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "elsewhere" / "driftline.key"
    settings = Settings(home=tmp_path / "home", pseudonym_key_file=key_file)
    with pytest.raises(PrivacyError, match="does not exist"):
        load_keys(settings)
    assert not key_file.exists()
    write_key_file(key_file, "f" * 64)
    assert load_keys(settings) == [b"f" * 64]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(PrivacyError, match="never overwritten"):
        write_key_file(key_file, "0" * 64)


def test_key_beside_the_store_warns_once(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "h"
    settings = Settings(home=home)
    with caplog.at_level("WARNING", logger="driftline.data.privacy"):
        load_keys(settings)
        load_keys(settings)
    warned = [r for r in caplog.records if "same folder as the store" in r.getMessage()]
    assert len(warned) == 1
    assert key_beside_store(settings, settings.key_file())
    apart = Settings(home=home, pseudonym_key_file=tmp_path / "keys" / "k")
    assert not key_beside_store(apart, apart.key_file())


def test_chunks_sharing_known_pseudonyms_get_those_of_the_whole_column() -> None:
    """The store pseudonymises a batch chunk by chunk, sharing the pseudonyms computed so
    far: each chunk's pseudonyms are those of the whole column, and a customer met in an
    earlier chunk is not hashed again."""
    p = Pseudonymizer(b"k" * 32)
    ids = pd.Series(["a", "b", "a", "c", 7, "b", "7", None], dtype=object)
    whole = p.pseudonymise_series(ids)
    known: dict[str, str] = {}
    chunks = [p.pseudonymise_series(ids.iloc[i : i + 3], known) for i in range(0, len(ids), 3)]
    assert pd.concat(chunks).tolist() == whole.tolist()
    assert known["a"] == p.pseudonymise("a") and len(known) == len(set(ids.astype(str)))
    known["a"] = "remembered"  # a known id is looked up, not hashed again
    assert p.pseudonymise_series(pd.Series(["a"], dtype=object), known).tolist() == ["remembered"]

"""Pseudonymisation of entity ids with a keyed HMAC.

Raw customer ids never reach the store: ingestion replaces them with
``HMAC-SHA256(key, id)`` (first 32 hex digits). The same id always maps to the same
pseudonym under the same key, so windows can still count customers and erasure can
find a customer's rows, while the key stays outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from driftline.config.errors import PrivacyError
from driftline.config.settings import Settings
from driftline.data.store import Store

log = logging.getLogger(__name__)

PSEUDONYM_HEX_CHARS = 32


def normalise_id(raw_id: object) -> str:
    """The form of an entity id that is pseudonymised: its text without surrounding
    whitespace. Ingestion, erasure and consent all go through it, so an id sent as
    ``"  bob@example.com "`` names the same customer as ``"bob@example.com"``."""
    return str(raw_id).strip()


class Pseudonymizer:
    """Maps raw entity ids to stable pseudonyms with a secret key, or a chain of keys.

    With one key the pseudonym is ``HMAC-SHA256(key, id)`` (first 32 hex digits). Each key
    rotation appends a key and re-pseudonymises the stored rows, so with keys ``k1, k2`` it
    is ``HMAC(k2, HMAC(k1, id))``: the old key alone no longer links an id to a row.
    """

    def __init__(self, *keys: bytes) -> None:
        if not keys:
            raise PrivacyError("a pseudonymizer needs at least one key")
        for key in keys:
            _checked(key, "the key chain")
        self._keys = keys
        # One keyed SHA-256 state per key, copied for each id: the key is not set up again
        # for every id (~25% less CPU per id than hmac.digest).
        self._macs = [hmac.new(key, digestmod=hashlib.sha256) for key in keys]

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymizer(keys={len(self._keys)}, ***)"

    def __reduce__(self) -> tuple[type[Pseudonymizer], tuple[bytes, ...]]:
        """Pickled and copied as its keys (a keyed hash state cannot be pickled)."""
        return (Pseudonymizer, self._keys)

    def pseudonymise(self, raw_id: object) -> str:
        """The pseudonym of one raw id (normalised first: :func:`normalise_id`)."""
        value = normalise_id(raw_id)
        for mac in self._macs:
            keyed = mac.copy()
            keyed.update(value.encode("utf-8"))
            value = keyed.hexdigest()[:PSEUDONYM_HEX_CHARS]
        return value

    def pseudonymise_series(self, ids: pd.Series, known: dict[str, str] | None = None) -> pd.Series:
        """Pseudonyms of a column of ids (object dtype, same index); each distinct id is
        normalised and hashed once. Text columns are factorised as they are (the ids a
        batch repeats are found before any per-id work), other columns by their text.

        ``known``: pseudonyms computed before (raw id text -> pseudonym), used and
        extended, so the chunks of one batch hash each customer once."""
        if pd.api.types.infer_dtype(ids, skipna=False) != "string":
            ids = ids.astype(str)  # 1, 1.0 and True are distinct ids: "1", "1.0", "True"
        codes, uniques = pd.factorize(ids, sort=False)
        if not known:
            mapped = [self.pseudonymise(u) for u in uniques]
        else:
            found = known.get
            mapped = [found(u) or self.pseudonymise(u) for u in uniques]
        if known is not None:
            known.update(zip(uniques, mapped, strict=True))
        return pd.Series(np.array(mapped, dtype=object)[codes], index=ids.index, dtype=object)

    def rotated(self, new_key: bytes) -> Pseudonymizer:
        """The pseudonymizer after appending ``new_key`` to the chain."""
        return Pseudonymizer(*self._keys, new_key)


def repseudonymise(pseudonym: str, new_key: bytes) -> str:
    """A stored pseudonym under a rotated chain (what :meth:`Pseudonymizer.rotated`
    computes for the same id): one more HMAC, without the raw id."""
    return _hmac(new_key, pseudonym)


def _hmac(key: bytes, value: str) -> str:
    return hmac.digest(key, value.encode("utf-8"), "sha256").hex()[:PSEUDONYM_HEX_CHARS]


def load_keys(settings: Settings) -> list[bytes]:
    """The key chain (oldest first) from ``DRIFTLINE_PSEUDONYM_KEY``, else from the key file
    (``DRIFTLINE_PSEUDONYM_KEY_FILE``, default ``<home>/pseudonym.key``: one key a line, a
    line added by each rotation). The default file is
    generated (mode 600) the first time; a named file must exist. Warns once per process
    when the key file sits in the folder of the SQLite store (a backup of that folder can
    then recompute every pseudonym). PrivacyError for a missing or short key."""
    if settings.pseudonym_key is not None:
        key = settings.pseudonym_key.get_secret_value().encode("utf-8")
        return [_checked(key, "DRIFTLINE_PSEUDONYM_KEY")]
    path = settings.key_file()
    if not path.exists():
        if settings.pseudonym_key_file is not None:
            raise PrivacyError(
                f"DRIFTLINE_PSEUDONYM_KEY_FILE names {path}, which does not exist. Point it "
                "at your key file, or create one: python -c 'import secrets; "
                f"print(secrets.token_hex(32))' > {path} && chmod 600 {path}"
            )
        write_key_file(path, new_key())
    _warn_if_beside_store(settings, path)
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise PrivacyError(f"the key file {path} is empty")
    return [_checked(line.encode("utf-8"), str(path)) for line in lines]


def new_key() -> str:
    """A fresh random key (64 hex digits, 256 bits)."""
    return secrets.token_hex(32)


def write_key_file(path: Path, key: str) -> None:
    """Create ``path`` holding ``key``, readable by its owner only (mode 600); never
    overwrites. PrivacyError when the file exists already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PrivacyError(f"{path} exists already: a key file is never overwritten") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")


def _checked(key: bytes, where: str) -> bytes:
    if len(key) < 16:
        raise PrivacyError(
            f"the pseudonymisation key from {where} is shorter than 16 bytes; use a random "
            "key of 64 hex digits (python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return key


_WARNED: set[Path] = set()


def key_beside_store(settings: Settings, key_file: Path) -> bool:
    """Whether ``key_file`` is in the folder of the store's SQLite file (the default home
    layout), where one backup holds both the pseudonyms and the key that recomputes them."""
    url = sa.engine.make_url(settings.store_url(create_home=False))
    if url.get_backend_name() != "sqlite" or not url.database:
        return False
    return Path(url.database).expanduser().resolve().parent == key_file.resolve().parent


def _warn_if_beside_store(settings: Settings, key_file: Path) -> None:
    if key_file in _WARNED or not key_beside_store(settings, key_file):
        return
    _WARNED.add(key_file)
    log.warning(
        "the pseudonymisation key %s is in the same folder as the store: anyone with a "
        "backup of that folder can recompute the pseudonym of a known email. Move the key "
        "elsewhere and set DRIFTLINE_PSEUDONYM_KEY_FILE (or DRIFTLINE_PSEUDONYM_KEY)",
        key_file,
    )


@dataclass(frozen=True)
class Rotation:
    """What a key rotation did: rows re-pseudonymised per table, keys now in the chain."""

    rows: dict[str, int]
    keys: int
    key_file: Path


def rotate_key(store: Store, settings: Settings) -> Rotation:
    """Append a new random key to the key file's chain and re-pseudonymise every stored
    row under it (:meth:`Store.rekey`, one transaction), so the old key alone no longer
    links a customer id to a row.

    The new chain is written beside the key file first (``<file>.rotating``, mode 600) and
    moved over it only after the store committed; a failure leaves the store and the key
    file as they were. PrivacyError when the key comes from DRIFTLINE_PSEUDONYM_KEY (the
    chain lives in a key file) or an earlier rotation was interrupted."""
    if settings.pseudonym_key is not None:
        raise PrivacyError(
            "the key comes from DRIFTLINE_PSEUDONYM_KEY; a rotation appends to a key file: "
            "write the key into a file of its own, set DRIFTLINE_PSEUDONYM_KEY_FILE to it, "
            "unset DRIFTLINE_PSEUDONYM_KEY, then rotate"
        )
    keys = load_keys(settings)
    path = settings.key_file()
    staged = path.with_name(path.name + ".rotating")
    if staged.exists():
        raise PrivacyError(
            f"{staged} exists: an earlier rotation stopped half-way. If it reported the "
            f"store re-pseudonymised, that file holds the matching keys: move it over {path}; "
            "otherwise delete it. Then rotate again."
        )
    fresh = new_key()
    write_key_file(staged, "\n".join([*(k.decode("utf-8") for k in keys), fresh]))
    try:
        rows = store.rekey(lambda key: repseudonymise(key, fresh.encode("utf-8")))
    except BaseException:
        staged.unlink()
        raise
    os.replace(staged, path)
    return Rotation(rows, len(keys) + 1, path)


def pseudonymizer_from(settings: Settings) -> Pseudonymizer:
    return Pseudonymizer(*load_keys(settings))

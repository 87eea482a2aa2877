"""Pseudonymisation of entity ids with a keyed HMAC.

Raw customer ids never reach the store: ingestion replaces them with
``HMAC-SHA256(key, id)`` (first 32 hex digits). The same id always maps to the same
pseudonym under the same key, so windows can still count customers and erasure can
find a customer's rows, while the key stays outside the database.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

import pandas as pd

from driftline.config.settings import Settings

PSEUDONYM_HEX_CHARS = 32


class Pseudonymizer:
    """Maps raw entity ids to stable pseudonyms with a secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymizer(key=***)"

    def pseudonymise(self, raw_id: str) -> str:
        """The pseudonym of one raw id."""
        digest = hmac.digest(self._key, str(raw_id).encode("utf-8"), "sha256")
        return digest.hex()[:PSEUDONYM_HEX_CHARS]

    def pseudonymise_series(self, ids: pd.Series) -> pd.Series:
        """Pseudonyms of a column of ids; each distinct id is hashed once."""
        codes, uniques = pd.factorize(ids.astype(str), sort=False)
        mapped = [self.pseudonymise(u) for u in uniques]
        return pd.Series(pd.array(mapped, dtype=object)[codes], index=ids.index, dtype=object)


def load_key(settings: Settings) -> bytes:
    """The key from ``DRIFTLINE_PSEUDONYM_KEY``, else from ``<home>/pseudonym.key``,
    generating that file (mode 600) the first time."""
    if settings.pseudonym_key is not None:
        return settings.pseudonym_key.get_secret_value().encode("utf-8")
    path: Path = settings.resolved_home / "pseudonym.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode("utf-8")


def pseudonymizer_from(settings: Settings) -> Pseudonymizer:
    return Pseudonymizer(load_key(settings))

"""The delivery journal: what an endpoint accepted, kept where a lost store cannot lose it.

Slack incoming webhooks have no idempotency key, so an outbox row that Slack accepted
but whose ``sent`` mark never reached the store (the connection dropped in between)
would be sent again by the next flush. :func:`driftline.alerts.outbox.flush` therefore
appends one line per accepted message to this local file (fsynced) *before* it marks the
row sent, and every flush first reconciles the file into the outbox (marking those rows
sent, never sending them) and drops the lines it recorded. Delivery is then exactly
once for a lost store connection; a process killed between the endpoint's answer and
the journal line can still send a message twice.

One JSON object a line: ``{"store": <digest of the store URL>, "id": <outbox row id>,
"alert_id": ..., "channel": ..., "at": <ISO time>}``. The file lives under the driftline
home (``alerts/delivered.jsonl``); a file lock serialises flushes of one home. Lines of
other stores are left alone; a torn last line (a crash mid-write) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from driftline.config.times import utc_now


@dataclass(frozen=True)
class Delivered:
    """One accepted message: the outbox row ``id`` of ``alert_id`` on ``channel``."""

    id: int
    alert_id: str
    channel: str


def store_key(store_url: str) -> str:
    """A short digest naming a store (its URL without the password) in the journal."""
    return hashlib.sha256(store_url.encode()).hexdigest()[:16]


class Journal:
    """The journal file at ``path`` for the store named by ``store`` (:func:`store_key`)."""

    def __init__(self, path: Path, store: str) -> None:
        self.path, self.store = path, store
        self._lock = FileLock(str(path) + ".lock")

    def append(self, delivered: Delivered) -> None:
        """Record an accepted message durably (appended, flushed, fsynced)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "store": self.store,
                "id": delivered.id,
                "alert_id": delivered.alert_id,
                "channel": delivered.channel,
                "at": utc_now().isoformat(),
            }
        )
        with self._lock, self.path.open("a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():  # after a torn last line (a crash mid-write), start a new one
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = "\n" + line
            f.write((line + "\n").encode())
            f.flush()
            os.fsync(f.fileno())

    def pending(self) -> list[Delivered]:
        """This store's accepted messages not yet dropped (in file order)."""
        with self._lock:
            return [d for key, d in self._read() if key == self.store]

    def drop(self, recorded: Iterable[Delivered]) -> None:
        """Remove the lines of ``recorded`` (now marked sent in the store)."""
        gone = set(recorded)
        if not gone:
            return
        with self._lock:
            lines = self._read()
            keep = [(k, d) for k, d in lines if not (k == self.store and d in gone)]
            if len(keep) == len(lines):
                return
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as f:
                for key, d in keep:
                    row = {"store": key, "id": d.id, "alert_id": d.alert_id, "channel": d.channel}
                    f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)

    def _read(self) -> list[tuple[str, Delivered]]:
        if not self.path.is_file():
            return []
        found: list[tuple[str, Delivered]] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                found.append(
                    (
                        str(row["store"]),
                        Delivered(int(row["id"]), str(row["alert_id"]), str(row["channel"])),
                    )
                )
            except (ValueError, KeyError, TypeError):  # a torn line from a crash mid-write
                continue
        return found


__all__ = ["Delivered", "Journal", "store_key"]

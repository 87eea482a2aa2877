"""Keeping secrets out of logs, messages, reprs and stored rows: the one place that does it.

Two kinds of secret reach driftline's texts. *Known* secrets (a webhook URL: anyone who
holds a Slack incoming-webhook URL can post to the channel) are registered with
:func:`register_secret` when they are read, and from then on :func:`redact` replaces them
(and their URL path) in any text, and a logging filter does the same for every record of
the loggers named by :func:`protect_loggers` (httpx logs each request's URL at INFO).
*Unknown* secrets that may hide in free text (an exception message, a note) are removed
by pattern in :func:`scrub`; :func:`hide_credentials` hides the user and password of one
URL (e.g. an MLflow tracking URI in a repr).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote

#: What a registered secret is replaced with.
REDACTED = "<redacted webhook url>"

# Secrets that may hide in free text (an exception message, a note).
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@]+@")
_SLACK_HOOK = re.compile(r"(?i)(hooks\.slack(?:-gov)?\.com/)\S+")
_SECRET_PARAM = re.compile(
    r"(?i)\b((?:access_?|api_?|auth_?)?(?:token|password|passwd|pwd|secret|key|sig|signature))"
    r"=[^\s&#'\"]+"
)


class _Redactor(logging.Filter):
    """Replaces registered secrets (every form of them, see :meth:`add`) in texts and log
    records."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Remember ``secret`` in every form an endpoint or a library may echo it: the
        whole URL, its path and its query string (each when at least 8 characters), with
        or without a trailing slash, each character as is or percent-encoded (either hex
        case), whichever way the URL was given."""
        import httpx  # here, not at the top: spec validation imports this module

        parts = {secret}
        try:
            parsed = httpx.URL(secret)
            raw = parsed.raw_path.decode("ascii", "replace")
            path, _, query = raw.partition("?")
            parts |= {p for p in (path, query) if len(p.strip("/")) >= 8}
        except Exception:  # malformed: the whole string is still redacted
            pass
        with self._lock:
            self._secrets |= {p for p in (unquote(p).rstrip("/") for p in parts) if p}
            forms = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(_any_encoding(f) + "/?" for f in forms))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None and text else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is not None:
            try:
                message = record.getMessage()
            except Exception:
                return True
            redacted = self.redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


def _any_encoding(text: str) -> str:
    """A regex matching ``text`` with any of its characters percent-encoded (UTF-8
    bytes, upper- or lower-case hex) or not."""
    pieces = []
    for char in text:
        encoded = "".join(
            "%" + "".join(f"[{d.upper()}{d.lower()}]" if d.isalpha() else d for d in f"{b:02x}")
            for b in char.encode("utf-8")
        )
        pieces.append(f"(?:{re.escape(char)}|{encoded})")
    return "".join(pieces)


_REDACTOR = _Redactor()


def register_secret(secret: str) -> None:
    """Remember ``secret`` (a URL: its path and query too) so that :func:`redact` and the
    log filter replace it from now on, for the rest of the process."""
    if secret:
        _REDACTOR.add(secret)


def protect_loggers(*names: str) -> None:
    """Redact registered secrets from every record logged to the loggers ``names``
    (a filter applies to records logged to that very logger, not to its children)."""
    for name in names:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced, in any of its forms (the URL, its
    path, its query; trailing slash or not; percent-encoded or not)."""
    return _REDACTOR.redact(text)


def scrub(text: str) -> str:
    """``text`` without anything that looks like a secret: registered secrets, Slack
    webhook paths, the user and password part of URLs, ``token=...``-style values."""
    text = redact(text)
    text = _SLACK_HOOK.sub(r"\1<redacted>", text)
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    return _SECRET_PARAM.sub(r"\1=***", text)


def hide_credentials(url: str) -> str:
    """One URL (e.g. a tracking URI) with its ``user:password@`` part shown as ``***@``."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url

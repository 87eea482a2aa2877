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
    """Replaces registered secrets (and their path and query) in texts and log records."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        import httpx  # here, not at the top: spec validation imports this module

        parts = {secret}
        try:
            parsed = httpx.URL(secret)
            tail = parsed.raw_path.decode("ascii", "replace")
            if len(tail) >= 8:
                parts.add(tail)
        except Exception:  # malformed: the whole string is still redacted
            pass
        with self._lock:
            self._secrets |= parts

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            try:
                message = record.getMessage()
            except Exception:
                return True
            redacted = self.redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


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
    """``text`` with every registered secret (and URL path of one) replaced."""
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

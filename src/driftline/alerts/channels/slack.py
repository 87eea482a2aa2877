"""The ``slack`` channel: a Slack incoming webhook, sent Block Kit with a plain-text fallback.

The URL comes from DRIFTLINE_SLACK_WEBHOOK_URL, or in flows from the Prefect Secret block
``driftline-slack-webhook``. Success is status 200 with the body ``ok``.

Slack rejects a message that breaks its limits (HTTP 400 ``invalid_blocks``), and a
rejected alert is a lost alert, so every piece of text is clipped to its limit here,
whatever the caller passed: hundreds of drifted columns, very long names, newlines,
``<``/``>``/``&`` (escaped, so a column name cannot ping ``<!channel>``). Lengths are
counted in UTF-16 code units, which is never less than the characters Slack counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from driftline.alerts.channels import (
    CHANNELS,
    AlertChannel,
    SendResult,
    answer_text,
    quoted,
    refused,
)
from driftline.alerts.message import Alert, FeatureDrift, Finding, Severity

if TYPE_CHECKING:
    import httpx

    from driftline.specs.alerts import AlertsSection

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
BLOCKS_MAX = 50
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_TEXT_MAX = 3000
FALLBACK_TEXT_MAX = 3000

_URL_MAX = 900  # longer link targets are named, not linked (3 links fit a section)
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}
_KIND_LABEL = {
    "drift": "drift",
    "quality": "data quality",
    "performance": "performance",
    "retrain_started": "retrain started",
    "promoted": "challenger promoted",
    "rejected": "challenger rejected",
    "rollback": "rollback",
    "flow_failed": "flow failed",
    "test": "test alert",
    "calendar_event": "calendar event",
}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (characters outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def clip(text: str, limit: int, *, mrkdwn: bool = True) -> str:
    """``text`` (escaped when ``mrkdwn``) cut to at most ``limit`` UTF-16 units.

    A cut text ends with an ellipsis; an escape sequence is never cut in half.
    """
    full = escape(text) if mrkdwn else text
    if utf16_len(full) <= limit:
        return full
    budget, used, pieces = limit - 1, 0, []
    for ch in text:
        piece = _ESCAPES.get(ch, ch) if mrkdwn else ch
        size = utf16_len(piece)
        if used + size > budget:
            break
        pieces.append(piece)
        used += size
    return "".join(pieces) + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _code(text: str, limit: int) -> str:
    """An inline code span of a name (backticks inside would end the span early)."""
    name = _one_line(text).replace("`", "'")
    return f"`{clip(name, limit)}`"


def _number(value: float) -> str:
    return f"{value:.3g}"


def _feature_line(item: FeatureDrift) -> str:
    threshold = f" (threshold {_number(item.threshold)})" if item.threshold is not None else ""
    method = clip(_one_line(item.method), 60)
    return f"• {_code(item.column, 200)}: {method} {_number(item.score)}{threshold}"


def _finding_line(item: Finding) -> str:
    parts = []
    if item.value is not None:
        parts.append(f"value {_number(item.value)}")
    if item.threshold is not None:
        parts.append(f"threshold {_number(item.threshold)}")
    numbers = f" ({', '.join(parts)})" if parts else ""
    detail = f": {clip(_one_line(item.detail), 250)}" if item.detail else ""
    return f"• *{clip(_one_line(item.name), 120)}*{detail}{numbers}"


def _bulleted(heading: str, lines: Sequence[str], total: int, max_items: int) -> str:
    """A heading and as many bullet lines as fit ``max_items`` and the section limit,
    then "… and N more" for the rest (``total`` counts items not passed in too)."""
    total = max(total, len(lines))

    def more(shown: int) -> str:
        return f"\n… and {total - shown:,} more" if total > shown else ""

    text = heading
    shown = 0
    for line in lines[:max_items]:
        candidate = f"{text}\n{line}"
        if utf16_len(candidate) + utf16_len(more(shown + 1)) > SECTION_TEXT_MAX:
            break
        text, shown = candidate, shown + 1
    return text + more(shown)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _field(label: str, value: str) -> dict[str, Any]:
    head = f"*{clip(_one_line(label), 100)}*\n"
    return {"type": "mrkdwn", "text": head + clip(value, FIELD_TEXT_MAX - utf16_len(head))}


def _fields(alert: Alert) -> list[dict[str, Any]]:
    pairs: list[tuple[str, str]] = []
    if alert.window is not None:
        start, end = alert.window.start, alert.window.end
        pairs.append(("Window", f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"))
    if alert.decision:
        pairs.append(("Decision", alert.decision))
    if alert.drift_share is not None:
        share = f"{alert.drift_share:.0%}"
        if alert.columns_drifted is not None and alert.columns_total:
            share += f" ({alert.columns_drifted:,} of {alert.columns_total:,} columns)"
        pairs.append(("Drift share", share))
    if alert.rows is not None:
        pairs.append(("Rows", f"{alert.rows:,}"))
    pairs.extend(alert.facts.items())
    return [_field(label, value) for label, value in pairs[:FIELDS_MAX]]


def _link(label: str, target: str) -> str:
    """A clickable link for http(s) targets, the path as code otherwise (a local file)."""
    if target.startswith(("https://", "http://")):
        url = escape(target).replace("|", "%7C").replace(" ", "%20")
        if utf16_len(url) <= _URL_MAX:
            return f"<{url}|{label}>"
        return f"{label} (address too long to show)"
    return f"{label}: {_code(target, 500)}"


def header_text(alert: Alert) -> str:
    """``:emoji: SEVERITY · model · title``, within the header limit (plain text)."""
    text = f"{_EMOJI[alert.severity]} {alert.severity.value.upper()} · {alert.model} · "
    return clip(text + _one_line(alert.title), HEADER_MAX, mrkdwn=False)


def fallback_text(alert: Alert) -> str:
    """The plain-text ``text`` of a Slack message (notifications, screen readers)."""
    parts = [f"[{alert.severity.value.upper()}] {alert.model}: {_one_line(alert.title)}"]
    if alert.decision:
        parts.append(f"decision {alert.decision}")
    if alert.drift_share is not None:
        parts.append(f"drift share {alert.drift_share:.0%}")
    if alert.rows is not None:
        parts.append(f"{alert.rows:,} rows")
    text = " | ".join(parts)
    if alert.drifted_features:
        top = ", ".join(_one_line(f.column) for f in alert.drifted_features[:3])
        text += f" | top drifted: {top}"
    return clip(text, FALLBACK_TEXT_MAX)


def slack_payload(
    alert: Alert, *, max_features: int = 10, max_findings: int = 10
) -> dict[str, Any]:
    """The JSON body for a Slack incoming webhook: fallback ``text`` and Block Kit blocks.

    Header (severity, model, title); summary; fields (window, decision, drift share,
    rows, facts); the top ``max_features`` drifted features; data-quality and
    performance findings and failing gates (``max_findings`` each); links; a footer.
    """
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": header_text(alert), "emoji": True},
        }
    ]
    if alert.summary.strip():
        blocks.append(_section(clip(alert.summary.strip(), SECTION_TEXT_MAX)))
    fields = _fields(alert)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if alert.drifted_features or alert.columns_drifted:
        heading = "*Top drifted features*"
        if alert.columns_drifted is not None and alert.columns_total:
            heading += f" ({alert.columns_drifted:,} of {alert.columns_total:,} columns drifted)"
        lines = [_feature_line(f) for f in alert.drifted_features[:max_features]]
        total = max(alert.columns_drifted or 0, len(alert.drifted_features))
        blocks.append(_section(_bulleted(heading, lines, total, max_features)))
    for heading, findings in (
        ("*Data quality*", alert.quality),
        ("*Performance*", alert.performance),
        ("*Failing gates*", alert.failing_gates),
    ):
        if findings:
            lines = [_finding_line(f) for f in findings[:max_findings]]
            blocks.append(_section(_bulleted(heading, lines, len(findings), max_findings)))
    links = alert.links.items()
    if links:
        text = "*Links:* " + " · ".join(_link(label, target) for label, target in links)
        blocks.append(_section(clip(text, SECTION_TEXT_MAX, mrkdwn=False)))
    footer = (
        f"driftline · {_KIND_LABEL[alert.kind]} · {alert.created_at:%Y-%m-%d %H:%M} UTC · "
        f"key {_code(alert.dedupe_key, 300)}"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": fallback_text(alert), "blocks": blocks[:BLOCKS_MAX]}


def slack_limit_violations(payload: dict[str, Any]) -> list[str]:
    """Every way ``payload`` breaks Slack's message limits (empty when it is valid)."""
    problems: list[str] = []
    text = payload.get("text")
    if not isinstance(text, str) or not text:
        problems.append("text: missing or empty")
    blocks = payload.get("blocks", [])
    if len(blocks) > BLOCKS_MAX:
        problems.append(f"{len(blocks)} blocks > {BLOCKS_MAX}")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header":
            n = utf16_len(block["text"]["text"])
            if block["text"].get("type") != "plain_text" or not 0 < n <= HEADER_MAX:
                problems.append(f"block {i}: header text length {n} (max {HEADER_MAX})")
        elif kind == "section":
            if "text" in block:
                n = utf16_len(block["text"]["text"])
                if not 0 < n <= SECTION_TEXT_MAX:
                    problems.append(f"block {i}: section text length {n}")
            fields = block.get("fields", [])
            if len(fields) > FIELDS_MAX:
                problems.append(f"block {i}: {len(fields)} fields > {FIELDS_MAX}")
            for field in fields:
                n = utf16_len(field["text"])
                if not 0 < n <= FIELD_TEXT_MAX:
                    problems.append(f"block {i}: field text length {n}")
            if "text" not in block and not fields:
                problems.append(f"block {i}: section without text or fields")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= CONTEXT_ELEMENTS_MAX:
                problems.append(f"block {i}: {len(elements)} context elements")
            for element in elements:
                n = utf16_len(element["text"])
                if not 0 < n <= CONTEXT_TEXT_MAX:
                    problems.append(f"block {i}: context text length {n}")
        else:
            problems.append(f"block {i}: unexpected type {kind!r}")
    return problems


class SlackChannel(AlertChannel):
    """Slack incoming webhooks: Block Kit within Slack's limits; ``200 ok`` is success."""

    name = "slack"
    env_var = "DRIFTLINE_SLACK_WEBHOOK_URL"
    secret_block = "driftline-slack-webhook"
    description = "Slack incoming webhook (Block Kit with a plain-text fallback)"

    def render(self, alert: Alert, config: AlertsSection) -> dict[str, Any]:
        """:func:`slack_payload` with the spec's ``max_features`` and ``max_findings``."""
        return slack_payload(
            alert, max_features=config.max_features, max_findings=config.max_findings
        )

    def classify(self, response: httpx.Response) -> SendResult:
        """Sent only on status 200 *and* body ``ok``: a 200 with another body (a proxy,
        a captive portal) or a 204 is retried later."""
        body = answer_text(response)
        if response.status_code == 200 and body == "ok":
            return SendResult("sent", status_code=200)
        if response.status_code == 200:
            return SendResult("retry", f'HTTP 200 but the body was {quoted(body)}, not "ok"', 200)
        return refused(response, body)


CHANNELS.register(SlackChannel())

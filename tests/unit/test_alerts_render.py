"""Slack Block Kit rendering: the content people see, and Slack's limits whatever the input."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.alerts.channels.slack import fallback_text, slack_limit_violations, slack_payload
from driftline.alerts.channels.webhook import webhook_payload
from driftline.alerts.message import Alert, FeatureDrift, Finding, Links, Window


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_within_limits(payload: dict[str, Any]) -> None:
    """Slack's documented limits, checked independently of the renderer's own checker."""
    json.dumps(payload)  # serialisable
    assert isinstance(payload["text"], str) and 0 < u16(payload["text"]) <= 3000
    blocks = payload["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < u16(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < u16(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(0 < u16(f["text"]) <= 2000 for f in fields)
        else:
            assert block["type"] == "context"
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < u16(e["text"]) <= 3000 for e in block["elements"])
    assert slack_limit_violations(payload) == []


def mrkdwn_texts(payload: dict[str, Any]) -> str:
    """Every text Slack parses as mrkdwn (the header is plain text: never parsed)."""
    parts = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block and block["type"] != "header":
            parts.append(block["text"]["text"])
        parts.extend(f["text"] for f in block.get("fields", []))
        parts.extend(e["text"] for e in block.get("elements", []))
    return "\n".join(parts)


def section_with(payload: dict[str, Any], heading: str) -> str:
    found = [
        b["text"]["text"]
        for b in payload["blocks"]
        if b["type"] == "section" and "text" in b and b["text"]["text"].startswith(heading)
    ]
    assert len(found) == 1, f"no single section starting with {heading!r}"
    return found[0]


def more_count(text: str) -> int:
    match = re.search(r"… and ([\d,]+) more$", text)
    return int(match.group(1).replace(",", "")) if match else 0


def drift_alert(n_features: int = 3, name_length: int = 12, **extra: Any) -> Alert:
    features = [
        FeatureDrift(column=f"f{i:04d}_" + "x" * name_length, method="psi", score=0.5 - i / 1e4)
        for i in range(n_features)
    ]
    base: dict[str, Any] = {
        "model": "purchase_propensity",
        "kind": "drift",
        "severity": "warning",
        "title": f"Drift in {n_features} features",
        "drifted_features": features,
    }
    base.update(extra)
    return Alert(**base)


def test_a_drift_alert_shows_header_fields_features_findings_and_links() -> None:
    alert = Alert(
        model="purchase_propensity",
        kind="drift",
        severity="critical",
        title="Drift in 6 of 14 features",
        summary="Channel mix moved towards paid social.",
        window=Window(start="2026-03-01T00:00:00Z", end="2026-03-08T00:00:00Z"),
        decision="retrain",
        drift_share=0.4286,
        columns_drifted=6,
        columns_total=14,
        rows=2931,
        drifted_features=[
            FeatureDrift(column="channel", method="jensenshannon", score=0.31, threshold=0.1),
            FeatureDrift(column="recency_days", method="wasserstein", score=0.18, threshold=0.1),
        ],
        quality=[Finding(name="missing share: email_open_rate", value=0.12, threshold=0.05)],
        performance=[Finding(name="roc_auc", detail="fell from 0.81 to 0.74", value=0.74)],
        links=Links(
            report_file="/srv/driftline/reports/purchase_propensity/2026-03-08.html",
            flow_run="http://127.0.0.1:4200/runs/flow-run/0b1c",
            model_version="http://127.0.0.1:5000/#/models/purchase_propensity/versions/3",
        ),
    )
    payload = slack_payload(alert)
    assert_within_limits(payload)
    header = payload["blocks"][0]
    assert header["type"] == "header"
    assert "CRITICAL" in header["text"]["text"]
    assert "purchase_propensity" in header["text"]["text"]
    fields = next(b for b in payload["blocks"] if "fields" in b)["fields"]
    labels = [f["text"].split("\n")[0] for f in fields]
    assert labels == ["*Window*", "*Decision*", "*Drift share*", "*Rows*"]
    assert "2026-03-01 00:00 → 2026-03-08 00:00 UTC" in fields[0]["text"]
    assert fields[1]["text"].endswith("retrain")
    assert "43% (6 of 14 columns)" in fields[2]["text"]
    assert fields[3]["text"].endswith("2,931")
    features = section_with(payload, "*Top drifted features*")
    assert "(6 of 14 columns drifted)" in features
    assert "`channel`: jensenshannon 0.31 (threshold 0.1)" in features
    assert features.index("channel") < features.index("recency_days")  # caller's order
    assert more_count(features) == 4  # 6 drifted, 2 listed
    assert "missing share: email_open_rate" in section_with(payload, "*Data quality*")
    assert "fell from 0.81 to 0.74" in section_with(payload, "*Performance*")
    links = section_with(payload, "*Links:*")
    assert "<http://127.0.0.1:4200/runs/flow-run/0b1c|Prefect flow run>" in links
    assert "|MLflow model version>" in links
    assert (
        "HTML report file (path on the monitoring host): "
        "`/srv/driftline/reports/purchase_propensity/2026-03-08.html`"
    ) in links
    assert payload["text"].startswith("[CRITICAL] purchase_propensity: Drift in 6 of 14 features")
    assert "top drifted: channel, recency_days" in payload["text"]


def test_unknown_fields_are_left_out() -> None:
    payload = slack_payload(
        Alert(model="churn", kind="retrain_started", severity="info", title="Retraining")
    )
    assert_within_limits(payload)
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds == ["header", "context"]
    assert "retrain started" in payload["blocks"][-1]["elements"][0]["text"]


def test_failing_gates_are_listed_for_a_rejected_challenger() -> None:
    alert = Alert(
        model="churn",
        kind="rejected",
        severity="warning",
        title="Challenger v5 rejected",
        failing_gates=[
            Finding(name="roc_auc_not_worse", detail="0.71 < champion 0.74", value=0.71),
            Finding(name="calibration", detail="ECE 0.09 > 0.05", value=0.09, threshold=0.05),
        ],
        facts={"Champion": "v4", "Challenger": "v5"},
    )
    payload = slack_payload(alert)
    assert_within_limits(payload)
    gates = section_with(payload, "*Failing gates*")
    assert "*roc_auc_not_worse*: 0.71 &lt; champion 0.74 (value 0.71)" in gates
    assert "(value 0.09, threshold 0.05)" in gates
    fields = next(b for b in payload["blocks"] if "fields" in b)["fields"]
    assert [f["text"] for f in fields] == ["*Champion*\nv4", "*Challenger*\nv5"]


def test_hundreds_of_drifted_columns_are_cut_to_max_features_with_and_n_more() -> None:
    payload = slack_payload(drift_alert(n_features=400), max_features=10)
    assert_within_limits(payload)
    features = section_with(payload, "*Top drifted features*")
    assert features.count("\n• ") == 10
    assert more_count(features) == 390


def test_very_long_names_fit_the_section_and_the_count_stays_right() -> None:
    payload = slack_payload(drift_alert(n_features=300, name_length=5000), max_features=50)
    assert_within_limits(payload)
    features = section_with(payload, "*Top drifted features*")
    shown = features.count("\n• ")
    assert 1 <= shown < 50  # the section limit, not max_features, cut the list
    assert shown + more_count(features) == 300


def test_the_and_n_more_line_always_fits_whatever_the_line_length() -> None:
    # Sweep name lengths so that the last listed line lands on every distance from the
    # section limit, including the ones where only "… and N more" would overflow it.
    for name_length in range(0, 240):
        payload = slack_payload(
            drift_alert(n_features=1000, name_length=name_length), max_features=50
        )
        section = section_with(payload, "*Top drifted features*")
        assert u16(section) <= 3000, name_length
        assert section.count("\n• ") + more_count(section) == 1000


def test_counts_beyond_the_listed_features_are_included_in_and_n_more() -> None:
    payload = slack_payload(drift_alert(n_features=5, columns_drifted=1200, columns_total=2000))
    features = section_with(payload, "*Top drifted features*")
    assert features.count("\n• ") == 5
    assert more_count(features) == 1195


def test_mrkdwn_control_characters_are_escaped_so_names_cannot_ping_the_channel() -> None:
    alert = drift_alert(
        n_features=0,
        title="<!channel> & co",
        drifted_features=[FeatureDrift(column="<!channel>", method="psi", score=1.0)],
        summary="see <https://evil.example|here>",
    )
    payload = slack_payload(alert)
    body = mrkdwn_texts(payload)
    assert "<!channel>" not in body
    assert "<https://evil.example" not in body
    assert "`&lt;!channel&gt;`" in section_with(payload, "*Top drifted features*")
    assert payload["text"].startswith("[WARNING] purchase_propensity: &lt;!channel&gt; &amp; co")
    assert payload["blocks"][0]["text"]["text"].endswith("<!channel> & co")  # plain text


def test_overlong_link_targets_are_named_not_linked() -> None:
    long_url = "https://mlflow.example/" + "a" * 5000
    payload = slack_payload(
        drift_alert(links=Links(report=long_url, flow_run=long_url, model_version=long_url))
    )
    assert_within_limits(payload)
    assert "Evidently report (address too long to show)" in section_with(payload, "*Links:*")


def test_the_limit_checker_reports_broken_payloads() -> None:
    broken = {
        "text": "",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
        + [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}]
        + [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}] * 49,
    }
    problems = slack_limit_violations(broken)
    assert any("text: missing" in p for p in problems)
    assert any("51 blocks" in p for p in problems)
    assert any("header text length 151" in p for p in problems)
    assert any("11 fields" in p for p in problems)
    assert any("section text length 3001" in p for p in problems)


def test_the_webhook_body_is_the_alert_itself() -> None:
    alert = drift_alert(rows=10, window=Window(start="2026-01-01", end="2026-01-02"))
    body = webhook_payload(alert)
    assert body["model"] == "purchase_propensity"
    assert body["drifted_features"][0]["method"] == "psi"
    assert Alert.model_validate(json.loads(json.dumps(body))) == alert


def test_fallback_text_is_plain_and_bounded() -> None:
    text = fallback_text(drift_alert(n_features=200, name_length=400, title="t" * 10_000))
    assert 0 < u16(text) <= 3000
    assert text.endswith("…")


# -- properties -------------------------------------------------------------------------


def text(min_size: int = 0, max_size: int = 300) -> st.SearchStrategy[str]:
    """Hypothesis' own text, or a short pattern repeated up to far beyond every limit
    (plain text rarely gets long; these hit escapes and astral characters at length)."""
    repeated = st.builds(
        lambda unit, n: unit * n,
        st.text(min_size=1, max_size=4) | st.sampled_from(["&", "<>", "😀", "a&b", "`"]),
        st.integers(max(1, min_size), 4000),
    )
    return st.text(min_size=min_size, max_size=max_size) | repeated


def worst_case_alert(n: int) -> Alert:
    """Every text at length, made of characters that grow when escaped or count twice."""
    nasty = "&<>😀" * 2000
    finding = Finding(name=nasty, detail=nasty, value=1e-300, threshold=-1e300)
    return Alert(
        model="m" * 64,
        kind="rejected",
        severity="critical",
        title=nasty,
        summary=nasty,
        decision=nasty,
        drift_share=1.0,
        columns_drifted=10**9,
        columns_total=10**9,
        rows=10**12,
        drifted_features=[FeatureDrift(column=nasty, method=nasty, score=1.0)] * n,
        quality=[finding] * n,
        performance=[finding] * n,
        failing_gates=[finding] * n,
        facts={f"{nasty}{i}": nasty for i in range(20)},
        links=Links(report=nasty, flow_run="https://x/" + nasty, model_version="https://x/a"),
        dedupe_key="k" * 255,
    )


def test_the_worst_case_alert_stays_within_limits() -> None:
    for n in (1, 60, 500):
        payload = slack_payload(worst_case_alert(n), max_features=50, max_findings=50)
        assert_within_limits(payload)
        assert len(payload["blocks"][0]["text"]["text"]) <= 150
        fields = next(b for b in payload["blocks"] if "fields" in b)["fields"]
        assert len(fields) == 10


names = text(min_size=1)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=32)
features = st.builds(
    FeatureDrift,
    column=names,
    method=text(min_size=1, max_size=80),
    score=numbers,
    threshold=st.none() | numbers,
)
findings = st.builds(
    Finding,
    name=names,
    detail=text(max_size=600),
    value=st.none() | numbers,
    threshold=st.none() | numbers,
)
targets = (
    st.none()
    | st.text(min_size=1, max_size=1200)
    | st.text(max_size=1200).map(lambda s: "https://example.com/" + s)
)
alerts = st.builds(
    Alert,
    model=st.text(min_size=1, max_size=64),  # the model's own limit
    kind=st.sampled_from(["drift", "quality", "performance", "rejected", "flow_failed"]),
    severity=st.sampled_from(["info", "warning", "critical"]),
    title=text(min_size=1, max_size=1000),
    summary=text(max_size=5000),
    decision=st.none() | text(max_size=3000),
    drift_share=st.none() | st.floats(0, 1),
    columns_drifted=st.none() | st.integers(0, 10**6),
    columns_total=st.none() | st.integers(0, 10**6),
    rows=st.none() | st.integers(0, 10**9),
    drifted_features=st.lists(features, max_size=120),
    quality=st.lists(findings, max_size=30),
    performance=st.lists(findings, max_size=30),
    failing_gates=st.lists(findings, max_size=30),
    facts=st.dictionaries(text(max_size=300), text(max_size=3000), max_size=15),
    links=st.builds(
        Links, report=targets, flow_run=targets, model_version=targets, report_file=targets
    ),
    dedupe_key=text(max_size=255).map(lambda s: s[:255]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert=alerts, max_features=st.integers(1, 50), max_findings=st.integers(1, 50))
def test_every_payload_respects_slacks_limits(
    alert: Alert, max_features: int, max_findings: int
) -> None:
    payload = slack_payload(alert, max_features=max_features, max_findings=max_findings)
    assert_within_limits(payload)
    if alert.drifted_features or alert.columns_drifted:
        section = section_with(payload, "*Top drifted features*")
        shown = section.count("\n• ")
        total = max(len(alert.drifted_features), alert.columns_drifted or 0)
        assert shown <= max_features
        assert shown + more_count(section) == total
    for heading, findings in (
        ("*Data quality*", alert.quality),
        ("*Performance*", alert.performance),
        ("*Failing gates*", alert.failing_gates),
    ):
        if findings:
            section = section_with(payload, heading)
            shown = section.count("\n• ")
            assert 1 <= shown <= max_findings
            assert shown + more_count(section) == len(findings)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(200, 600),
    name_length=st.integers(0, 3000),
    max_features=st.integers(1, 50),
)
def test_many_drifted_columns_with_long_names_stay_within_limits(
    n: int, name_length: int, max_features: int
) -> None:
    payload = slack_payload(drift_alert(n, name_length), max_features=max_features)
    assert_within_limits(payload)
    section = section_with(payload, "*Top drifted features*")
    assert section.count("\n• ") + more_count(section) == n

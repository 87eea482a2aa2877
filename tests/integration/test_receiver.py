"""The local webhook receiver: a real HTTP server that answers as scripted and records."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from driftline.devtools.receiver import LocalReceiver, Reply


def test_answers_follow_the_script_then_the_default_and_requests_are_recorded() -> None:
    with LocalReceiver(Reply.rate_limited(2), Reply.server_error()) as rx:
        assert rx.url.startswith("http://127.0.0.1:")
        answers = [httpx.post(rx.url, json={"n": i}) for i in range(3)]
        rx.script(Reply.invalid_payload())
        answers.append(httpx.post(rx.url, json={"n": 3}))
    assert [(a.status_code, a.text) for a in answers] == [
        (429, "rate_limited"),
        (500, "internal_error"),
        (200, "ok"),
        (400, "invalid_payload"),
    ]
    assert answers[0].headers["Retry-After"] == "2"
    assert rx.payloads() == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert rx.requests[0].headers["Content-Type"] == "application/json"


def test_another_path_is_answered_like_a_revoked_slack_webhook() -> None:
    with LocalReceiver() as rx:
        answer = httpx.post(rx.url.rsplit("/", 1)[0] + "/wrong", json={})
        assert (answer.status_code, answer.text) == (404, "no_service")
        assert rx.payloads() == []  # recorded, but not as a payload to the webhook
        assert len(rx.requests) == 1


def test_a_hang_outlasts_the_client_timeout_and_stop_releases_it() -> None:
    rx = LocalReceiver(Reply.hang(30)).start()
    url = rx.url
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json={}, timeout=0.2)
        assert rx.wait_for(1)
    finally:
        rx.stop()  # returns although a handler is still "hanging"
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json={}, timeout=0.5)


def test_requests_can_be_recorded_to_a_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "slack.jsonl"
    with LocalReceiver(record_to=path) as rx:
        httpx.post(rx.url, json={"text": "hello"})
        httpx.post(rx.url, content=b"not json")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["body"] for line in lines] == [{"text": "hello"}, "not json"]
    assert lines[0]["status"] == 200


def test_the_address_needs_a_running_receiver() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = LocalReceiver().url

"""A local stand-in for a Slack incoming webhook: a real HTTP server on loopback.

Tests script its answers (``200 ok``, 429 with ``Retry-After``, 500, 400
``invalid_payload``, a hang longer than the client's timeout) and read what it
received; the demo runs it when no real webhook is configured and prints the Slack
payloads it recorded. It listens on 127.0.0.1 on an ephemeral port, in a thread::

    with LocalReceiver() as receiver:                 # answers 200 "ok" by default
        receiver.script(Reply.rate_limited(1), Reply.ok())
        ...  # send to receiver.url
        receiver.payloads()                           # the JSON bodies, in order

A POST to any other path than the receiver's own gets Slack's ``404 no_service``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_PATH = "/services/T00000000/B00000000/driftline-local-receiver"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, body, headers, and a delay before answering."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def ok(cls) -> Reply:
        """Slack's success: 200 with body ``ok``."""
        return cls()

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> Reply:
        """429 with a ``Retry-After`` header (seconds)."""
        return cls(429, "rate_limited", {"Retry-After": f"{retry_after:g}"})

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status, "internal_error")

    @classmethod
    def invalid_payload(cls) -> Reply:
        """Slack's answer to a malformed message (permanent)."""
        return cls(400, "invalid_payload")

    @classmethod
    def no_service(cls) -> Reply:
        """Slack's answer for a revoked webhook (permanent)."""
        return cls(404, "no_service")

    @classmethod
    def hang(cls, seconds: float = 5.0) -> Reply:
        """Answer only after ``seconds`` (longer than the client's timeout: a hang)."""
        return cls(200, "ok", delay=seconds)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it, and the answer it chose."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    monotonic: float
    reply: Reply

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: LocalReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.receiver._take(self, body)
        if reply.delay > 0 and self.server.receiver._stopping.wait(reply.delay):
            return  # shutting down: drop the connection
        self._answer(reply)

    def do_GET(self) -> None:
        self._answer(Reply(405, "method_not_allowed"))

    def _answer(self, reply: Reply) -> None:
        data = reply.body.encode("utf-8")
        try:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (it timed out on a hang)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded, not logged


class LocalReceiver:
    """A scripted webhook endpoint on 127.0.0.1 that records every request.

    ``replies`` are used in order, one per request, then ``default`` for the rest.
    ``record_to`` appends each request as a JSON line (time, status, body) to a file.
    """

    def __init__(
        self,
        *replies: Reply,
        default: Reply | None = None,
        record_to: Path | str | None = None,
        path: str = DEFAULT_PATH,
    ) -> None:
        self._script: deque[Reply] = deque(replies)
        self._default = default or Reply.ok()
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._record_to = Path(record_to) if record_to is not None else None
        self._path = path
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> LocalReceiver:
        """Listen on an ephemeral loopback port, serving from a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.receiver = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how fast stop() returns
            name="driftline-receiver",
            daemon=True,
        )
        self._thread.start()
        log.info("local webhook receiver listening on 127.0.0.1:%d", self.port)
        return self

    def stop(self) -> None:
        """Stop serving and wake any request that is hanging on purpose."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> LocalReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- address ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the receiver is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The webhook URL to configure (Slack-like path on the loopback port)."""
        return f"http://127.0.0.1:{self.port}{self._path}"

    # -- script and records -------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next requests (after any still queued)."""
        with self._lock:
            self._script.extend(replies)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def payloads(self) -> list[Any]:
        """The JSON bodies received so far (requests to the right path only)."""
        return [r.json() for r in self.requests if r.path == self._path]

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` requests have arrived (False if ``timeout`` passes)."""
        end = time.monotonic() + timeout
        with self._arrived:
            while len(self._requests) < count:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
            return True

    def _take(self, handler: _Handler, body: bytes) -> Reply:
        path = handler.path
        with self._lock:
            if path != self._path:
                reply = Reply.no_service()
            else:
                reply = self._script.popleft() if self._script else self._default
            request = ReceivedRequest(
                method=handler.command,
                path=path,
                headers={k: v for k, v in handler.headers.items()},
                body=body,
                received_at=datetime.now(UTC),
                monotonic=time.monotonic(),
                reply=reply,
            )
            self._requests.append(request)
            self._arrived.notify_all()
        if self._record_to is not None:
            self._append(request)
        return reply

    def _append(self, request: ReceivedRequest) -> None:
        try:
            content: Any = request.json()
        except (UnicodeDecodeError, json.JSONDecodeError):
            content = request.body.decode("utf-8", "replace")
        line = json.dumps(
            {
                "received_at": request.received_at.isoformat(),
                "status": request.reply.status,
                "body": content,
            },
            ensure_ascii=False,
        )
        with self._lock, self._record_to.open("a", encoding="utf-8") as out:  # type: ignore[union-attr]
            out.write(line + "\n")

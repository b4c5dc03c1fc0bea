"""Local stand-ins for the DingTalk, WeCom and Feishu robots and an SMS gateway.

Each checks what the real service checks (docs/notify.md cites the sources), written here
independently of notify/ so a wrong rule in the relay fails a test instead of being
mirrored: the signature and its timestamp's freshness, the access token / key, the body's
shape, and the robot's rate limit, answered with the service's own error code. Every
request is recorded with its receipt time on the fake's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float  # the fake's monotonic clock
    accepted: bool
    answer: dict[str, Any]

    def text(self) -> str:
        """The human-readable part of the message, whatever the robot type."""
        b = self.body if isinstance(self.body, dict) else {}
        if "markdown" in b:
            md = b["markdown"]
            return str(md.get("text", md.get("content", "")))
        if b.get("msg_type") == "post":
            post = b["content"]["post"]
            lang = next(iter(post.values()))
            parts = [lang["title"]]
            for row in lang["content"]:
                parts.append(
                    "".join(
                        n.get("text", "") + (" " + n["href"] if "href" in n else "") for n in row
                    )
                )
            return "\n".join(parts)
        return json.dumps(b, ensure_ascii=False)

    def mentioned(self) -> list[str]:
        """Who this message @-mentions, by each robot's documented rule: DingTalk notifies
        ``at.atMobiles`` / ``at.atUserIds`` entries that also appear as ``@<id>`` in the
        text; WeCom markdown notifies ``<@userid>``; Feishu ``post`` notifies ``at`` nodes."""
        import re

        b = self.body if isinstance(self.body, dict) else {}
        if "at" in b:
            at = b["at"]
            ids = list(at.get("atMobiles", [])) + list(at.get("atUserIds", []))
            text = str(b.get("markdown", {}).get("text", ""))
            return [i for i in ids if f"@{i}" in text]
        if b.get("msgtype") == "markdown" and "content" in b.get("markdown", {}):
            return re.findall(r"<@([^>]+)>", b["markdown"]["content"])
        if b.get("msg_type") == "post":
            post = next(iter(b["content"]["post"].values()))
            return [n["user_id"] for row in post["content"] for n in row if n.get("tag") == "at"]
        return []


@dataclass
class FakeRobot:
    """``kind``: dingtalk | wecom | feishu | sms."""

    kind: str
    token: str = "tok-123"
    secret: str = ""
    rate: int = 20
    per_s: float = 60.0
    extra_limits: list[tuple[int, float]] = field(default_factory=list)  # Feishu's 5 per second
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    fail_next: int = 0  # answer HTTP 500 to this many requests first (a provider's bad minute)
    down: bool = False  # answer 503 to everything
    auth: str = ""  # sms: the Authorization header expected
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ rules

    def _check_sign(self, q: dict[str, str], body: Any) -> dict[str, Any] | None:
        now = self.wall()
        if self.kind == "dingtalk":
            if q.get("access_token") != self.token:
                return {"errcode": 300001, "errmsg": "token is not exist"}
            if not self.secret:
                return None
            ts, sign = q.get("timestamp", ""), q.get("sign", "")
            if not ts.isdigit() or abs(now * 1000 - int(ts)) > 3600 * 1000:
                return {"errcode": 310000, "errmsg": "invalid timestamp"}
            mac = hmac.new(
                self.secret.encode("utf-8"), f"{ts}\n{self.secret}".encode(), hashlib.sha256
            )
            if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign):
                return {"errcode": 310000, "errmsg": "sign not match"}
            return None
        if self.kind == "wecom":
            if q.get("key") != self.token:
                return {"errcode": 93000, "errmsg": "invalid webhook url"}
            return None
        if self.kind == "feishu":
            if not self.secret:
                return None
            ts, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
            if not ts.isdigit() or abs(now - int(ts)) > 3600:
                return {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
            mac = hmac.new(f"{ts}\n{self.secret}".encode(), b"", hashlib.sha256)
            if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign):
                return {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
            return None
        return None

    def _check_size(self, raw: bytes) -> dict[str, Any] | None:
        # DingTalk: "body 大小不合法;解决方案:请保持大小在 20000bytes 以内" (the errcode is
        # this fake's own; the text is DingTalk's as users report it). Feishu: 9499, "请求体
        # 大小不能超过20k" (taken as 20000 bytes). WeCom's 4096 is on the content, below.
        if self.kind == "dingtalk" and len(raw) > 20000:
            return {"errcode": 40035, "errmsg": "body 大小不合法;请保持大小在 20000bytes 以内"}
        if self.kind == "feishu" and len(raw) > 20000:
            return {"code": 9499, "msg": "Bad Request: 请求体大小不能超过20k"}
        return None

    def _check_body(self, body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            return {"errcode": 40035, "errmsg": "body is not a JSON object"}
        if self.kind == "dingtalk":
            md = body.get("markdown")
            if (
                body.get("msgtype") != "markdown"
                or not isinstance(md, dict)
                or not md.get("title")
                or not md.get("text")
            ):
                return {"errcode": 40035, "errmsg": "markdown needs title and text"}
        if self.kind == "wecom":
            md = body.get("markdown")
            if (
                body.get("msgtype") != "markdown"
                or not isinstance(md, dict)
                or not md.get("content")
            ):
                return {"errcode": 40008, "errmsg": "invalid message type"}
            if len(md["content"].encode("utf-8")) > 4096:
                return {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        if self.kind == "feishu":
            post = (
                body.get("content", {}).get("post")
                if isinstance(body.get("content"), dict)
                else None
            )
            if body.get("msg_type") != "post" or not isinstance(post, dict) or not post:
                return {"code": 9499, "msg": "Bad Request"}
        return None

    def _limited(self, now: float) -> bool:
        accepted = [r.at for r in self.received if r.accepted]
        for rate, per in [(self.rate, self.per_s), *self.extra_limits]:
            if sum(1 for t in accepted if t > now - per) >= rate:
                return True
        return False

    def _too_fast(self) -> dict[str, Any]:
        if self.kind == "dingtalk":
            return {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        if self.kind == "wecom":
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        return {"code": 11232, "msg": "frequency limited psm"}

    def handle(
        self, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            now = self.monotonic()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            status, answer = 200, {"errcode": 0, "errmsg": "ok"}
            if self.kind == "feishu":
                answer = {"code": 0, "data": {}, "msg": "success"}
            if self.down:
                status, answer = 503, {"error": "unavailable"}
            elif self.fail_next > 0:
                self.fail_next -= 1
                status, answer = 500, {"error": "internal"}
            elif self.kind == "sms":
                if self.auth and headers.get("authorization") != self.auth:
                    status, answer = 401, {"Code": "Unauthorized"}
                elif (
                    not isinstance(body, dict)
                    or not body.get("PhoneNumbers")
                    or not body.get("Text")
                ):
                    status, answer = 400, {"Code": "MissingParameter"}
                else:
                    answer = {"Code": "OK", "BizId": str(len(self.received))}
            else:
                err = (
                    self._check_size(raw)
                    or self._check_sign(query, body if isinstance(body, dict) else {})
                    or self._check_body(body)
                )
                if err is not None:
                    answer = err
                elif self._limited(now):
                    answer = self._too_fast()
            ok = status == 200 and answer.get(
                "errcode", answer.get("code", answer.get("Code"))
            ) in (0, "OK")
            self.received.append(Received(path, query, headers, body, now, ok, answer))
            return status, answer

    # ------------------------------------------------------------------ views

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.accepted]

    def refused(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if not r.accepted]

    def max_in_window(self, per_s: float | None = None) -> int:
        per = self.per_s if per_s is None else per_s
        times = sorted(r.at for r in self.accepted())
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - per:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        if self.kind == "dingtalk":
            return f"http://127.0.0.1:{port}/robot/send?access_token={self.token}"
        if self.kind == "wecom":
            return f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={self.token}"
        if self.kind == "feishu":
            return f"http://127.0.0.1:{port}/open-apis/bot/v2/hook/{self.token}"
        return f"http://127.0.0.1:{port}/sms/send"

    def start(self) -> FakeRobot:
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = robot.handle(parts.path, query, headers, raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeRobot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class SharedClock:
    """A fake clock shared by the relay and the fake robots (thread-safe)."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self._lock = threading.Lock()
        self._wall = datetime(2026, 11, 30, 8, 0, tzinfo=UTC).timestamp()
        self._mono = 1000.0

    def now(self) -> Any:
        from datetime import UTC, datetime

        with self._lock:
            return datetime.fromtimestamp(self._wall, UTC)

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self._wall += seconds
            self._mono += seconds


def alert(
    i: int,
    *,
    alertname: str = "GatewayDown",
    severity: str = "page",
    region: str = "north",
    site: str = "site-1",
    status: str = "firing",
    starts_at: str = "2026-11-30T07:48:00Z",
    extra_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {
        "alertname": alertname,
        "severity": severity,
        "region": region,
        "site": site,
        "gateway": f"gw-{i:04d}",
        **(extra_labels or {}),
    }
    return {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": f"Gateway gw-{i:04d} at site {site} ({region}) is down",
            "runbook_url": "https://runbooks.example/gateway-down.md",
            **(annotations or {}),
        },
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": f"fp{i:06d}",
    }


def webhook(
    alerts: list[dict[str, Any]],
    receiver: str = "north-oncall",
    status: str = "firing",
    group: str = "",
) -> dict[str, Any]:
    first = alerts[0]["labels"]
    return {
        "version": "4",
        "groupKey": group
        or '{{}}:{{alertname="{}", gateway="{}"}}'.format(first["alertname"], first["gateway"]),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": first["alertname"]},
        "commonLabels": {"alertname": first["alertname"]},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def post(url: str, body: Any) -> int:
    import urllib.error
    import urllib.request

    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def write_config(
    directory: Any,
    channels: dict[str, dict[str, Any]],
    routes: dict[str, list[str]] | None = None,
    **relay: Any,
) -> Any:
    """A TOML config in ``directory``; ``secret`` values go to files as the docs say."""
    from pathlib import Path

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "ack.key").write_text("test-ack-key-0123456789\n")
    lines = ["[relay]"]
    relay = {
        "listen": "127.0.0.1:0",
        "spool": str(d / "spool.sqlite"),
        "ack_secret_file": "ack.key",
        **relay,
    }
    for k, v in relay.items():
        lines.append(f"{k} = {json.dumps(v)}")
    for name, ch in channels.items():
        lines.append(f"\n[channels.{name}]")
        body = ch.pop("body", None)
        for k, v in ch.items():
            if k == "secret":
                (d / f"{name}.secret").write_text(v + "\n")
                lines.append(f'secret_file = "{name}.secret"')
            elif k == "auth":
                (d / f"{name}.auth").write_text(v + "\n")
                lines.append(f'auth_file = "{name}.auth"')
            else:
                lines.append(f"{k} = {json.dumps(v)}")
        if body is not None:
            lines.append(f"\n[channels.{name}.body]")
            for k, v in body.items():
                lines.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
    lines.append("\n[routes]")
    for receiver, names in (routes or {"north-oncall": list(channels)}).items():
        lines.append(f"{json.dumps(receiver)} = {json.dumps(names)}")
    path = d / "notify.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def drain(relay: Any, clock: SharedClock, limit_s: float = 3600.0) -> float:
    """Pump the sender, advancing the fake clock to each next wake-up, until idle.

    Returns the fake seconds it took. Fails if the queue is not empty after ``limit_s``.
    """
    spent = 0.0
    while True:
        wait = relay.sender.pump()
        if wait is None:
            return spent
        assert spent <= limit_s, f"still sending after {limit_s} fake seconds"
        step = max(wait, 0.001)
        clock.advance(step)
        spent += step

"""Each channel's wire rules: the request to send and what the answer means.

Sources for every rule are in docs/notify.md ("Channel rules"). The fake robots in
tests/notify check the same rules independently.

- DingTalk custom robot: POST the webhook URL (``access_token`` in it); when signing is on,
  ``string_to_sign = f"{timestamp_ms}\\n{secret}"``, HMAC-SHA256 keyed with the secret,
  base64, URL-encoded, appended as ``&timestamp=&sign=``; body ``msgtype: markdown`` with
  ``title`` and ``text``; success ``errcode == 0``; ``130101`` means sending too fast.
- WeCom group robot: POST the webhook URL (``key`` in it); ``msgtype: markdown`` with
  ``content`` (at most 4096 bytes, UTF-8); success ``errcode == 0``; ``45009`` means over the limit.
- Feishu custom bot: POST the webhook URL; when signing is on,
  ``string_to_sign = f"{timestamp_s}\\n{secret}"`` is the HMAC-SHA256 *key* over an empty
  message, base64, sent in the body as ``timestamp`` (seconds, string) and ``sign``;
  ``msg_type: post``; success ``code == 0``; ``11232`` and HTTP 429 mean rate limited.
- http (SMS / voice gateways): a URL and JSON body template; success is a 2xx answer, and
  optionally a JSON field equal to a value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import string
import urllib.parse
from dataclasses import dataclass
from typing import Any

from notify.config import Channel
from notify.render import Document, to_feishu_post, to_markdown, to_plain

RATE_LIMIT_CODES = {"dingtalk": {130101}, "wecom": {45009}, "feishu": {11232}}
# The most one message may be, in each channel's own measure (``message_size``; sources in
# docs/notify.md): DingTalk refuses a request body over 20000 bytes, WeCom markdown content
# over 4096 bytes (UTF-8), Feishu a request body over 20 KB (taken as 20000 bytes); the SMS
# text is ours to cap, at 500 characters (several SMS segments at most).
MAX_SIZE = {"dingtalk": 20000, "wecom": 4096, "feishu": 20000, "http": 500}


_ID = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")


def _ids(values: list[str]) -> list[str]:
    """Ids that go into markup (``@138...``, ``<@userid>``): the store validates them on
    the way in; a hand-edited row with markup in it is dropped here, not sent."""
    return [v for v in values if _ID.match(v)]


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    result: str  # ok | rate_limited | error
    detail: str


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value (already URL-encoded)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def build(channel: Channel, doc: Document, now_s: float, to: str = "") -> Request:
    """The request for one message; ``now_s`` is wall-clock seconds (signatures carry it)."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if channel.type == "dingtalk":
        title, text = to_markdown(doc)
        url = channel.url
        if channel.secret:
            ts = int(now_s * 1000)
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}timestamp={ts}&sign={dingtalk_sign(channel.secret, ts)}"
        body: Any = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        # DingTalk @-mentions: the mobile (or userId) in ``at`` AND "@<it>" in the text.
        mobiles = _ids([m.person.phone for m in doc.mentions if m.person.phone])
        user_ids = _ids(
            [m.person.im_id for m in doc.mentions if m.person.im_id and not m.person.phone]
        )
        if mobiles or user_ids:
            tags = " ".join(f"@{x}" for x in mobiles + user_ids)
            body["markdown"]["text"] = f"{text}\n\n{tags}"
            body["at"] = {"atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": False}
        return Request("POST", url, json.dumps(body, ensure_ascii=False).encode(), headers)
    if channel.type == "wecom":
        _, text = to_markdown(doc)
        # WeCom markdown mentions by userid only (<@userid>); mentioned_mobile_list is for
        # text messages, which would lose the formatting and the links.
        tags = " ".join(f"<@{i}>" for i in _ids([m.person.im_id for m in doc.mentions]))
        if tags:
            text = f"{text}\n\n{tags}"
        body = {"msgtype": "markdown", "markdown": {"content": text}}
        return Request("POST", channel.url, json.dumps(body, ensure_ascii=False).encode(), headers)
    if channel.type == "feishu":
        post = to_feishu_post(doc, channel.lang)
        ats = [{"tag": "at", "user_id": i} for i in _ids([m.person.im_id for m in doc.mentions])]
        if ats:
            next(iter(post.values()))["content"].append(ats)
        body = {"msg_type": "post", "content": {"post": post}}
        if channel.secret:
            ts = int(now_s)
            body = {"timestamp": str(ts), "sign": feishu_sign(channel.secret, ts), **body}
        return Request("POST", channel.url, json.dumps(body, ensure_ascii=False).encode(), headers)
    return _http(channel, doc, to, headers)


def message_size(channel: Channel, doc: Document, now_s: float) -> int:
    """What ``MAX_SIZE`` limits, measured on the very request ``build`` makes (mentions
    included): body bytes for DingTalk and Feishu, content bytes for WeCom, characters of
    the plain text for an SMS/voice provider."""
    if channel.type == "http":
        return len(to_plain(doc))
    req = build(channel, doc, now_s)
    if channel.type == "wecom":
        return len(json.loads(req.body)["markdown"]["content"].encode("utf-8"))
    return len(req.body)


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _fill(template: Any, values: dict[str, str], quote: bool = False) -> Any:
    """Substitute ``{title}``, ``{text}``, ``{to}`` inside the template's *strings*: the
    template stays the structure, so alert text can never add fields or break the JSON."""
    if isinstance(template, str):
        vals = {k: urllib.parse.quote(v, safe="") for k, v in values.items()} if quote else values
        return string.Formatter().vformat(template, (), _Values(vals))
    if isinstance(template, dict):
        return {k: _fill(v, values, quote) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values, quote) for v in template]
    return template


def _http(channel: Channel, doc: Document, to: str, headers: dict[str, str]) -> Request:
    values = {"title": doc.title, "text": to_plain(doc, 500), "to": to}
    url = _fill(channel.url, values, quote=True)
    body = b""
    if channel.method != "GET":
        template = channel.body if channel.body is not None else {"to": "{to}", "text": "{text}"}
        body = json.dumps(_fill(template, values), ensure_ascii=False).encode()
    return Request(channel.method, url, body, {**headers, **channel.headers})


def classify(channel: Channel, status: int, raw: bytes) -> Outcome:
    """What the robot's (or provider's) answer means for this message."""
    if status == 429:
        return Outcome("rate_limited", "HTTP 429")
    if status >= 300:
        return Outcome("error", f"HTTP {status}")
    if channel.type == "http":
        if not channel.ok_field:
            return Outcome("ok", f"HTTP {status}")
        try:
            value = json.loads(raw).get(channel.ok_field)
        except (ValueError, AttributeError):
            return Outcome("error", "answer is not a JSON object")
        if str(value) == channel.ok_value:
            return Outcome("ok", f"{channel.ok_field}={value}")
        return Outcome("error", f"{channel.ok_field}={str(value)[:100]}")
    try:
        answer = json.loads(raw)
    except ValueError:
        return Outcome("error", f"answer is not JSON: {raw[:100]!r}")
    if not isinstance(answer, dict):
        return Outcome("error", "answer is not a JSON object")
    field = "code" if channel.type == "feishu" else "errcode"
    code = answer.get(field, answer.get("StatusCode"))
    msg = str(answer.get("msg") or answer.get("errmsg") or answer.get("StatusMessage") or "")[:200]
    if code == 0:
        return Outcome("ok", "")
    if code in RATE_LIMIT_CODES.get(channel.type, set()):
        return Outcome("rate_limited", f"{field} {code} {msg}")
    return Outcome("error", f"{field} {code} {msg}")

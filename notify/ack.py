"""Signed, expiring acknowledgement links.

A link carries the alert (fingerprint + startsAt: one outage, not every outage of that
label set), the channel it was sent to and an expiry, signed with HMAC-SHA256 under the
relay's ack key. Opening the link shows a confirmation page; only its POST records the ack,
because chat apps fetch links to build previews and a preview must not acknowledge a page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class AckClaim:
    fingerprint: str
    starts_at: str
    channel: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(key: bytes, claim: AckClaim) -> str:
    body = _b64(
        json.dumps(
            [claim.fingerprint, claim.starts_at, claim.channel, claim.expires],
            separators=(",", ":"),
        ).encode()
    )
    sig = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def check_token(key: bytes, token: str, now: float) -> AckClaim | str:
    """The claim, or why the token is refused: 'malformed', 'bad_signature', 'expired'."""
    body, dot, sig = token.partition(".")
    if not dot or not body or not sig:
        return "malformed"
    want = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(want, sig):
        return "bad_signature"
    try:
        fp, starts_at, channel, expires = json.loads(_unb64(body))
        claim = AckClaim(str(fp), str(starts_at), str(channel), int(expires))
    except (ValueError, TypeError):
        return "malformed"
    if now > claim.expires:
        return "expired"
    return claim


def ack_url(public_url: str, key: bytes, claim: AckClaim) -> str:
    return f"{public_url}/ack?" + urllib.parse.urlencode({"t": make_token(key, claim)})

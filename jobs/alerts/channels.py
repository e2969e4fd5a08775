"""Sending one message to one channel: email, a signed webhook, or a Slack-compatible incoming webhook.

Webhook and Slack posts go through the same egress-guarded HTTP client as
http actions (`jobs.execution.guarded_http`): a channel URL can reach only
where a job's URL could. `send` never raises: it answers a `Result` (sent or
not, the response code, a short error), and a refusal by the egress policy
is `permanent` (a retry would be refused again).

A webhook's body is signed: `X-Scheduler-Timestamp` (Unix seconds) and
`X-Scheduler-Signature` = hex HMAC-SHA256(secret, f"{timestamp}.{body}").
The receiver recomputes it over the raw body and compares in constant time,
and refuses old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

import requests
from django.core.mail import send_mail

from jobs.alerts.content import Message
from jobs.execution import egress, guarded_http
from jobs.execution.executors import scrub
from jobs.models import Channel, ChannelKind

TIMESTAMP_HEADER = "X-Scheduler-Timestamp"
SIGNATURE_HEADER = "X-Scheduler-Signature"
ERROR_CHARS = 500
USER_AGENT = "scheduler-alerts/1"
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")\]]*")


@dataclass(frozen=True)
class Result:
    ok: bool
    code: int | None = None
    error: str = ""
    permanent: bool = False


def new_secret() -> str:
    """A webhook channel's signing secret (256 bits, hex)."""
    return secrets.token_hex(32)


def sign(secret: str, timestamp: str, body: str) -> str:
    """hex HMAC-SHA256 of f"{timestamp}.{body}" under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def send(
    channel: Channel,
    message: Message,
    *,
    policy: egress.Policy,
    timeout: float,
    from_email: str,
    now: float | None = None,
) -> Result:
    """Send `message` to `channel` once. Never raises."""
    try:
        if channel.kind == ChannelKind.EMAIL:
            send_mail(message.subject, message.text, from_email, [channel.target], fail_silently=False)
            return Result(ok=True)
        if channel.kind == ChannelKind.WEBHOOK:
            body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True)
            timestamp = str(int(now if now is not None else time.time()))
            headers = {
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(channel.secret, timestamp, body),
            }
            return _post(policy, channel.target, body, headers, timeout)
        if channel.kind == ChannelKind.SLACK:
            body = json.dumps({"text": f"*{message.subject}*\n{message.text}"}, separators=(",", ":"))
            return _post(policy, channel.target, body, {}, timeout)
        return Result(ok=False, error=f"unknown channel kind {channel.kind!r}", permanent=True)
    except egress.EgressRefused as exc:
        return Result(ok=False, error=f"egress refused: {exc.why}", permanent=True)
    except Exception as exc:  # SMTP, network, anything: recorded on the delivery, never raised
        return Result(ok=False, error=_error(f"{type(exc).__name__}: {exc}", channel))


def _post(policy: egress.Policy, url: str, body: str, headers: dict[str, str], timeout: float) -> Result:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        response = guarded_http.fetch(
            policy, "POST", url, headers=headers, body=body.encode(), timeout=(timeout, timeout)
        )
    except requests.Timeout:
        return Result(ok=False, error=f"timed out after {timeout:g} s")
    except requests.ConnectionError as exc:
        refused = _refusal(exc)
        if refused is not None:
            return Result(ok=False, error=f"egress refused: {refused.why}", permanent=True)
        return Result(ok=False, error=f"connection error: {_root(exc)}")
    try:
        answer = response.raw.read(ERROR_CHARS, decode_content=True) or b""
    finally:
        response.close()
    if 200 <= response.status_code < 300:
        return Result(ok=True, code=response.status_code)
    text = answer.decode("utf-8", errors="replace").strip()
    return Result(ok=False, code=response.status_code, error=f"HTTP {response.status_code}: {text}"[:ERROR_CHARS])


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (urllib3 and requests nest the cause in `args[0]` as well)."""
    chain: list[BaseException] = []
    current: object = exc
    while isinstance(current, BaseException) and all(current is not seen for seen in chain) and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__ or (current.args[0] if current.args else None)
    return chain


def _refusal(exc: BaseException) -> egress.EgressRefused | None:
    """The egress policy's refusal of a resolved address, wrapped by urllib3 and requests."""
    for cause in _causes(exc):
        if isinstance(cause, egress.EgressRefused):
            return cause
    return None


def _root(exc: BaseException) -> str:
    """The root cause in a few words: library messages carry object reprs and whole URLs."""
    for cause in _causes(exc):
        match = _ERRNO.search(str(cause))
        if match:
            return match.group(0).strip().rstrip(",")
    return type(_causes(exc)[-1]).__name__


def _error(text: str, channel: Channel) -> str:
    return scrub(text, [channel.secret] if channel.secret else [])[:ERROR_CHARS]

"""What an alert says: a subject and text for people, a JSON document for webhooks.

Job name, what happened, the slot, the error excerpt (already scrubbed of the
job's header values when the run was recorded), and links to the job's admin
page and to `explain` from the slot on. Never a secret: no header values, no
channel secrets, no action body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from jobs.models import Alert, AlertKind

#: An error is cut to this many characters in a message.
ERROR_EXCERPT_CHARS = 500
#: A grouped message lists at most this many alerts (and counts the rest).
DIGEST_LISTED = 50

_WHAT = {
    AlertKind.FAILED: "failed",
    AlertKind.RECOVERED: "recovered",
    AlertKind.PAUSED: "was paused",
    AlertKind.MISSED: "missed slots",
    AlertKind.LATE: "started late",
    AlertKind.STUCK: "has a stuck run",
    AlertKind.BROKEN: "channel broken",
    AlertKind.TEST: "test message",
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    payload: dict[str, Any]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def links(alert: Alert, *, base_url: str) -> dict[str, str]:
    """The job's admin page and its `explain` from a minute before the slot (none for a test or a deleted job)."""
    if alert.job_ref is None:
        return {}
    found = {"job": f"{base_url}/admin/jobs/job/{alert.job_ref}/change/"}
    since = (alert.slot or alert.created_at or datetime.now(UTC)) - timedelta(minutes=1)
    found["explain"] = f"{base_url}/api/v1/jobs/{alert.job_ref}/explain/?since={quote(_iso(since) or '')}"
    return found


def excerpt(text: str, limit: int = ERROR_EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build(alert: Alert, *, base_url: str) -> Message:
    """The message for `alert`."""
    details = dict(alert.details or {})
    what = _WHAT.get(alert.kind, alert.kind)
    if alert.kind == AlertKind.TEST:
        subject = "[scheduler] test message"
        lines = [f"A test message to the alert channel {details.get('channel', '')!r}: it works."]
    elif alert.kind == AlertKind.BROKEN:
        subject = f"[scheduler] alert channel {details.get('channel', '')} is broken"
        lines = [
            f"Every alert sent to the channel {details.get('channel', '')!r} since "
            f"{details.get('failing_since', '?')} has failed; alerts for it are not reaching you. "
            "Check its target, then send a test."
        ]
    else:
        subject = f"[scheduler] job {alert.job_name} {what}"
        lines = [f"Job {alert.job_name!r} {what}."]
    if alert.slot is not None:
        lines.append(f"Slot: {_iso(alert.slot)}")
    if details.get("status"):
        attempts = details.get("attempts")
        lines.append(f"Status: {details['status']}" + (f" after {attempts} attempt(s)" if attempts else ""))
    if details.get("reason"):
        lines.append(f"Reason: {details['reason']}")
    if details.get("error"):
        lines.append(f"Error: {excerpt(str(details['error']))}")
    if details.get("lateness_seconds") is not None:
        lines.append(
            f"Started {details['lateness_seconds']} s after its slot (alert threshold "
            f"{details.get('threshold_seconds')} s)."
        )
    if details.get("missed_slots"):
        lines.append(
            f"Missed slots: {details['missed_slots']}, from {details.get('first_slot')} to {details.get('last_slot')}"
            " (no scheduler was running)."
        )
    if details.get("failed_slots"):
        lines.append(f"Failed slots in a row before this: {details['failed_slots']}")
    found = links(alert, base_url=base_url)
    if found:
        lines.append(f"Job: {found['job']}")
        lines.append(f"Explain: {found['explain']}")
    payload = {
        "alert_id": str(alert.id),
        "kind": alert.kind,
        "job": {"id": str(alert.job_ref) if alert.job_ref else None, "name": alert.job_name},
        "slot": _iso(alert.slot),
        "details": {**details, **({"error": excerpt(str(details["error"]))} if details.get("error") else {})},
        "links": found,
        "created_at": _iso(alert.created_at),
        "text": "\n".join(lines),
    }
    return Message(subject=subject, text="\n".join(lines), payload=payload)


def build_digest(alerts: list[Alert], *, base_url: str) -> Message:
    """One message for several alerts to the same channel (a burst, grouped per ALERTS_GROUP_SECONDS)."""
    if len(alerts) == 1:
        return build(alerts[0], base_url=base_url)
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[alert.kind] = counts.get(alert.kind, 0) + 1
    summary = ", ".join(f"{count} {_WHAT.get(kind, kind)}" for kind, count in sorted(counts.items()))
    subject = f"[scheduler] {len(alerts)} alerts: {summary}"
    listed = [build(alert, base_url=base_url) for alert in alerts[:DIGEST_LISTED]]
    lines = [f"{len(alerts)} alerts ({summary}):"]
    for alert, message in zip(alerts, listed, strict=False):
        slot = f" (slot {_iso(alert.slot)})" if alert.slot else ""
        lines.append(f"- {message.text.splitlines()[0]}{slot}")
    if len(alerts) > DIGEST_LISTED:
        lines.append(f"... and {len(alerts) - DIGEST_LISTED} more: see the alert history in the admin.")
    lines.append(f"Alert history: {base_url}/admin/jobs/alert/")
    payload = {
        "kind": "digest",
        "count": len(alerts),
        "counts": counts,
        "alerts": [message.payload for message in listed],
        "text": "\n".join(lines),
    }
    return Message(subject=subject, text="\n".join(lines), payload=payload)

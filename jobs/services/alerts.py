"""Every write alerts lead to: channels, an alert on a job's change of state, its deliveries, each attempt.

When to alert is decided by `jobs.alerts.events`, what is said by
`jobs.alerts.content`, how it is sent by `jobs.alerts.channels`. Here:

- `alerts_after_run` (from `services.runs.after_run`) and `alert_after_pause`
  (from `services.jobs.job_pause`) raise at most one alert per change of
  state. They never raise an exception: a run's end or a pause must not fail
  because of its alert. The alert and its deliveries are written with the
  change (in its transaction where there is one); the delivery tasks are
  published once it commits.
- `delivery_attempt` (the `jobs.deliver_alert` task) tries one delivery once,
  under a conditional update of its attempt count (a duplicated message
  sends nothing twice), records the answer, and sends the next try with an
  exponential backoff until ALERTS_DELIVERY_ATTEMPTS.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.alerts import channels, content, events
from jobs.execution import dispatch, egress, executors, lifecycle, store
from jobs.models import Alert, AlertDelivery, AlertKind, Channel, ChannelKind, DeliveryStatus, Job, JobRun
from scheduler_site import metrics

logger = logging.getLogger(__name__)

CHANNEL_FIELDS = ("name", "kind", "target", "is_default")
MAX_CHANNELS_PER_JOB = 20


class DuplicateChannelName(ValidationError):
    """The owner already has a channel of this name (HTTP 409)."""

    http_status = 409
    error_code = "duplicate_name"

    def __init__(self, name: str) -> None:
        super().__init__({"name": [f'You already have a channel named "{name}".']})


# --- channels ----------------------------------------------------------------------------------


def _validate_target(kind: str, target: Any) -> str:
    if not isinstance(target, str) or not target.strip():
        raise ValidationError({"target": ["This field is required."]})
    target = target.strip()
    if len(target) > 2000:
        raise ValidationError({"target": ["Must be at most 2000 characters."]})
    if kind == ChannelKind.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise ValidationError({"target": ["Must be an email address."]}) from None
        return target
    try:
        # The same check, at the same moment, as an http action's URL: the literal URL
        # only; every delivery checks the addresses it connects to.
        egress.policy_for(settings).check_url(target)
    except egress.EgressRefused as exc:
        raise ValidationError({"target": [f"This URL is not allowed: {exc.why}."]}) from None
    return target


def _validate_channel(data: Mapping[str, Any], *, kind: str | None) -> dict[str, Any]:
    """Model fields for a channel from wire data; `kind` is the stored one on an update (it cannot change)."""
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - set(CHANNEL_FIELDS)):
        errors[key] = ["Unknown field."]
    out: dict[str, Any] = {}
    if "kind" in data:
        if kind is not None and data["kind"] != kind:
            errors["kind"] = ["A channel's kind cannot change; create another channel."]
        elif data["kind"] not in ChannelKind.values:
            errors["kind"] = [f"Must be one of: {', '.join(ChannelKind.values)}."]
        else:
            out["kind"] = kind = data["kind"]
    elif kind is None:
        errors["kind"] = ["This field is required."]
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
            errors["name"] = ["Must be a name of 1 to 100 characters."]
        else:
            out["name"] = name.strip()
    if "target" in data and kind is not None and "kind" not in errors:
        try:
            out["target"] = _validate_target(kind, data["target"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "is_default" in data:
        if not isinstance(data["is_default"], bool):
            errors["is_default"] = ["Must be true or false."]
        else:
            out["is_default"] = data["is_default"]
    if errors:
        raise ValidationError(errors)
    return out


def channel_create(*, owner: Any, data: Mapping[str, Any]) -> Channel:
    """A new channel; a webhook gets its signing secret (`channel.secret`: the caller shows it this once)."""
    errors: dict[str, list[str]] = {}
    for required in ("name", "kind", "target"):
        if required not in data:
            errors[required] = ["This field is required."]
    try:
        fields = _validate_channel(data, kind=None)
    except ValidationError as exc:
        errors = {**exc.message_dict, **errors}
    if errors:
        raise ValidationError(errors)
    channel = Channel(owner=owner, **fields)
    if channel.kind == ChannelKind.WEBHOOK:
        channel.secret = channels.new_secret()
    try:
        channel.save(force_insert=True)
    except IntegrityError as exc:  # the unique (owner, name) index answers
        raise DuplicateChannelName(channel.name) from exc
    return channel


def channel_update(*, channel: Channel, data: Mapping[str, Any]) -> Channel:
    """Change a channel's name, target or default flag; its kind and secret stay."""
    fields = _validate_channel(data, kind=channel.kind)
    fields.pop("kind", None)
    for name, value in fields.items():
        setattr(channel, name, value)
    if fields:
        if "target" in fields:
            channel.broken_since = None  # a new target gets a fresh start
            fields["broken_since"] = None
        try:
            channel.save(update_fields=list(fields))
        except IntegrityError as exc:
            raise DuplicateChannelName(channel.name) from exc
    return channel


def channel_delete(*, channel: Channel) -> None:
    """Delete a channel and its deliveries (jobs that named it fall back to their owner's defaults)."""
    channel.delete()


def channel_test(*, channel: Channel, send_now: bool = False, now: datetime | None = None) -> AlertDelivery:
    """A test message to the channel: a `test` alert and its delivery.

    Sent by a worker once this commits (the API and the admin answer at once,
    however slow the channel), or here and now with `send_now`: then the
    delivery comes back with its answer, and a failure is not retried.
    """
    now = now or timezone.now()
    alert = Alert(
        owner_id=channel.owner_id, job_name="", kind=AlertKind.TEST, details={"channel": channel.name}, created_at=now
    )
    alert.save(force_insert=True)
    delivery = AlertDelivery(alert=alert, channel=channel, created_at=now)
    delivery.save(force_insert=True)
    if not send_now:
        transaction.on_commit(lambda: _send([str(delivery.pk)]))
        return delivery
    return delivery_attempt(delivery_id=delivery.pk, now=now, retry=False) or delivery


def job_channel_ids(*, owner: Any, ids: Any) -> list[str]:
    """Validate a job's `alert_channels`: a list of the owner's channel ids (as strings, deduplicated)."""
    message = "Must be a list of ids of your alert channels."
    if not isinstance(ids, list):
        raise ValidationError({"alert_channels": [message]})
    try:
        wanted = list(dict.fromkeys(uuid.UUID(str(value)) for value in ids))
    except (ValueError, TypeError, AttributeError):
        raise ValidationError({"alert_channels": [message]}) from None
    if len(wanted) > MAX_CHANNELS_PER_JOB:
        raise ValidationError({"alert_channels": [f"At most {MAX_CHANNELS_PER_JOB} channels."]})
    if wanted:
        found = set(Channel.objects.filter(owner_id=owner.pk, pk__in=wanted).values_list("pk", flat=True))
        missing = [str(pk) for pk in wanted if pk not in found]
        if missing:
            raise ValidationError({"alert_channels": [f"Not your alert channels: {', '.join(missing)}."]})
    return [str(pk) for pk in wanted]


def channels_for(job: Job) -> list[Channel]:
    """Where the job's alerts go: the channels it names, else its owner's default channels."""
    owned = Channel.objects.filter(owner_id=job.owner_id)
    named = [uuid.UUID(str(pk)) for pk in (job.alert_channels or [])]
    if named:
        found = list(owned.filter(pk__in=named).order_by("name"))
        if found:
            return found
    return list(owned.filter(is_default=True).order_by("name"))


# --- raising alerts ------------------------------------------------------------------------------


def alerts_after_run(ended: lifecycle.Ended) -> Alert | None:
    """The alert a run's end leads to (failed, recovered), if any. Never raises."""
    job, run = ended.job, ended.run
    if job is None:
        return None
    kind = events.after_run(
        status=run.status, failures_before=ended.failures_before, failures_after=job.consecutive_failures
    )
    if kind is None:
        return None
    details: dict[str, Any] = {"run_id": str(run.pk), "status": run.status, "trigger": run.trigger}
    if kind == AlertKind.FAILED:
        secrets = [str(value) for value in (job.http_headers or {}).values()]
        details.update(
            reason=run.reason,
            attempts=run.attempt,
            error=content.excerpt(executors.scrub(run.error or "", secrets)),
        )
    else:
        details["failed_slots"] = ended.failures_before
    return _safely(lambda: alert_raise(job=job, kind=kind, slot=run.scheduled_for, details=details))


def alert_if_late(run: JobRun) -> Alert | None:
    """A scheduled run that just started later than its job's `alert_late_after_seconds`. Never raises."""
    job = run.job
    kind = events.late(
        trigger=run.trigger, lateness_seconds=run.lateness_seconds, threshold_seconds=job.alert_late_after_seconds
    )
    if kind is None:
        return None
    details = {
        "run_id": str(run.pk),
        "lateness_seconds": round(run.lateness_seconds or 0.0, 3),
        "threshold_seconds": job.alert_late_after_seconds,
        "worker": run.worker,
    }
    return _safely(lambda: alert_raise(job=job, kind=kind, slot=run.scheduled_for, details=details))


def alert_after_reap(ended: lifecycle.Ended) -> Alert | None:
    """A run the reaper found stuck (`worker lost`: still running long past its timeout) is an alert of its
    own, whatever the job's state; its failure then counts like any other. Never raises."""
    job, run = ended.job, ended.run
    if job is None or run.reason != "worker lost":
        return None
    details = {"run_id": str(run.pk), "status": run.status, "reason": run.reason, "worker": run.worker}
    return _safely(lambda: alert_raise(job=job, kind=AlertKind.STUCK, slot=run.scheduled_for, details=details))


def alerts_for_missed(*, missed: Mapping[str, Sequence[Any]]) -> int:
    """`missed` alerts for slots beat recorded as missed ({job id: [count, first slot, last slot]}).

    Called by a worker (the `jobs.alert_missed` task beat sends once per batch), so beat's pass pays
    one message, not the alerts. Returns how many alerts were raised (damped or silenced ones not).
    """
    raised = 0
    ids = [uuid.UUID(str(pk)) for pk in missed]
    for job in Job.objects.filter(pk__in=ids).order_by("id"):
        count, first, last = missed[str(job.pk)]
        details = {"missed_slots": count, "first_slot": first, "last_slot": last, "reason": "no scheduler was running"}
        slot = datetime.fromisoformat(last)
        if _safely(functools.partial(alert_raise, job=job, kind=AlertKind.MISSED, slot=slot, details=details)):
            raised += 1
    return raised


def alert_after_pause(*, job: Job, reason: str) -> Alert | None:
    """The alert a pause leads to: auto-paused, or paused because the owner was deactivated. Never raises."""
    kind = events.after_pause(reason=reason)
    if kind is None:
        return None
    details = {"reason": reason, "consecutive_failures": job.consecutive_failures}
    return _safely(lambda: alert_raise(job=job, kind=kind, details=details))


def _safely(raise_alert: Any) -> Alert | None:
    try:
        # A savepoint where the caller is in a transaction: a failed alert write
        # must not abort the run's or the pause's own writes.
        with transaction.atomic():
            return raise_alert()
    except Exception:
        logger.exception("alert not raised")
        return None


def alert_raise(
    *, job: Job, kind: str, slot: datetime | None = None, details: dict[str, Any] | None = None, now: Any = None
) -> Alert | None:
    """Record an alert for `job` and a delivery per channel; the deliveries are sent once this commits.

    None when the job's alerts are off, or an alert of the same kind went out
    for it within ALERTS_DAMPING_SECONDS (flapping).
    """
    now = now or timezone.now()
    if not job.alerts_enabled:
        return None
    window = settings.ALERTS_DAMPING_SECONDS
    if window:
        last = (
            Alert.objects.filter(job_ref=job.pk, kind=kind)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if events.damped(last_of_kind_at=last, now=now, window_seconds=window):
            logger.info("job %s: %s alert damped (another within %d s)", job.pk, kind, window)
            return None
    return _record(
        owner_id=job.owner_id,
        job=job,
        kind=kind,
        slot=slot,
        details=details or {},
        targets=channels_for(job),
        now=now,
    )


def _record(
    *,
    owner_id: Any,
    job: Job | None,
    kind: str,
    slot: datetime | None,
    details: dict[str, Any],
    targets: Iterable[Channel],
    now: datetime,
) -> Alert:
    alert = Alert(
        owner_id=owner_id,
        job=job,
        job_ref=job.pk if job is not None else None,
        job_name=job.name if job is not None else "",
        kind=kind,
        slot=slot,
        details=details,
        created_at=now,
    )
    alert.save(force_insert=True)
    deliveries = [AlertDelivery(alert=alert, channel=channel, created_at=now) for channel in targets]
    if deliveries:
        AlertDelivery.objects.bulk_create(deliveries)
    ids = [str(delivery.pk) for delivery in deliveries]
    logger.info(
        "alert %s (%s) for job %s: %d deliveries",
        alert.pk,
        kind,
        alert.job_ref,
        len(ids),
        extra={"job_id": str(alert.job_ref), "alert_kind": kind},
    )
    if ids:
        transaction.on_commit(lambda: _send(ids))
    return alert


def _send(delivery_ids: list[str], countdown: float = 0.0) -> None:
    for delivery_id in delivery_ids:
        # Not sent: the delivery stays `pending` (shown as such in the admin and the API).
        dispatch.send(dispatch.DELIVER_ALERT_TASK, [delivery_id], countdown=countdown)


# --- delivering ----------------------------------------------------------------------------------


#: The most deliveries one grouped message carries (the rest go in the next window's).
GROUP_MAX = 2000


def delivery_attempt(*, delivery_id: Any, now: datetime | None = None, retry: bool = True) -> AlertDelivery | None:
    """Try a pending delivery; returns it as recorded (None: not pending, or not this task's to send).

    Grouped per channel: the first task of a window (ALERTS_GROUP_SECONDS,
    aligned to the clock) sends every delivery of the channel that is due,
    the fresh ones and the retries whose backoff has passed, as one message;
    a task that finds its channel's window taken is sent again for the next
    window, where whichever comes first sends the group. Each delivery's
    attempt is claimed with a compare-and-set on its attempt count, so a
    duplicated message sends nothing twice. A failed try is followed by
    another after the backoff, until ALERTS_DELIVERY_ATTEMPTS; a refusal by
    the egress policy is final at once. With `retry` off (a test sent now),
    the delivery is sent alone, at once, and not retried.
    """
    delivery = AlertDelivery.objects.select_related("alert", "channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    now = now or timezone.now()
    channel = delivery.channel
    group = [delivery]
    if retry and settings.ALERTS_GROUP_SECONDS:
        wait = _window_taken(channel, now)
        if wait is not None:
            _send([str(delivery.pk)], countdown=wait)
            return None
        group = _due(channel, delivery, now)
    claimed = store.current().compare_and_set(
        AlertDelivery,
        [(d.pk, d.attempts, d.attempts + 1, now) for d in group],
        check="attempts",
        assign=["attempts", "last_attempt_at"],
    )
    group = [d for d in group if d.pk in claimed]
    if not group:
        return None
    for member in group:
        member.attempts += 1
        member.last_attempt_at = now
    alerts = [member.alert for member in group]
    message = content.build_digest(alerts, base_url=settings.ALERTS_BASE_URL)
    result = channels.send(
        channel,
        message,
        policy=egress.policy_for(settings),
        timeout=settings.ALERTS_HTTP_TIMEOUT_SECONDS,
        from_email=settings.DEFAULT_FROM_EMAIL,
    )
    _record_result(channel, group, result, now=now, retry=retry)
    return next((member for member in group if member.pk == delivery.pk), None)


def _window_taken(channel: Channel, now: datetime) -> float | None:
    """None if this task opens the channel's current window (it sends); else seconds until the next one."""
    seconds = settings.ALERTS_GROUP_SECONDS
    index = int(now.timestamp() // seconds)
    try:
        opened = cache.add(f"alerts:window:{channel.pk}:{index}", 1, timeout=seconds * 2)
    except Exception as exc:  # the cache is down: send ungrouped rather than not at all
        logger.warning("alert grouping skipped: cache unreachable (%s: %s)", type(exc).__name__, exc)
        return None
    if opened:
        return None
    # The next window's start, plus a little so the task lands inside it.
    return (index + 1) * seconds - now.timestamp() + 0.5


def _due(channel: Channel, delivery: AlertDelivery, now: datetime) -> list[AlertDelivery]:
    """The channel's pending deliveries due now: never tried, or tried and past their backoff (and this one)."""
    pending = (
        AlertDelivery.objects.select_related("alert")
        .filter(channel_id=channel.pk, status=DeliveryStatus.PENDING)
        .order_by("created_at", "id")[:GROUP_MAX]
    )
    due = []
    for member in pending:
        member.channel = channel
        if member.pk == delivery.pk or member.attempts == 0 or member.last_attempt_at is None:
            due.append(member)
            continue
        delay = events.retry_delay(attempts=member.attempts, backoff_seconds=settings.ALERTS_RETRY_BACKOFF_SECONDS)
        if member.last_attempt_at + timedelta(seconds=delay) <= now:
            due.append(member)
    if all(member.pk != delivery.pk for member in due):
        due.insert(0, delivery)  # beyond GROUP_MAX: it goes with this group all the same
    return due


def _record_result(
    channel: Channel, group: list[AlertDelivery], result: channels.Result, *, now: datetime, retry: bool
) -> None:
    """The answer of one send, recorded on every delivery it carried; the next tries sent, metrics counted."""
    fields: dict[str, Any] = {"last_response_code": result.code, "last_error": result.error}
    if result.ok:
        fields.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="")
        finished, again = group, []
    else:
        final = [m for m in group if result.permanent or not retry or m.attempts >= settings.ALERTS_DELIVERY_ATTEMPTS]
        finished, again = final, [m for m in group if m not in final]
    if result.ok:
        AlertDelivery.objects.filter(pk__in=[m.pk for m in group]).update(**fields)
    else:
        if finished:
            AlertDelivery.objects.filter(pk__in=[m.pk for m in finished]).update(status=DeliveryStatus.FAILED, **fields)
        if again:
            AlertDelivery.objects.filter(pk__in=[m.pk for m in again]).update(**fields)
    for member in group:
        for name, value in fields.items():
            setattr(member, name, value)
        if not result.ok and member in finished:
            member.status = DeliveryStatus.FAILED
    logger.info(
        "alert message to channel %s (%s), %d alert(s): %s%s",
        channel.pk,
        channel.kind,
        len(group),
        "sent" if result.ok else "failed",
        f": {result.error}" if result.error else "",
        extra={"count": len(group), "status": "sent" if result.ok else "failed"},
    )
    for member in finished:
        counter = metrics.ALERTS_SENT if result.ok else metrics.ALERTS_FAILED
        counter.labels(member.alert.kind, channel.kind).inc()
    if result.ok:
        if channel.broken_since is not None:
            Channel.objects.filter(pk=channel.pk).update(broken_since=None)
        return
    for member in again:
        delay = events.retry_delay(attempts=member.attempts, backoff_seconds=settings.ALERTS_RETRY_BACKOFF_SECONDS)
        _send([str(member.pk)], countdown=delay)
    if finished and any(member.alert.kind != AlertKind.TEST for member in finished):
        _safely(lambda: channel_mark_broken_if_due(channel=channel, now=now))


#: How long past its due time a pending delivery waits before the sweep sends it again, on top of the
#: grouping window (a task that finds its channel's window taken waits for the next one).
RESEND_GRACE_SECONDS = 60
#: The most deliveries one sweep looks at (the rest at the next sweep).
RESEND_MAX = 5000


def deliveries_resend_lost(*, now: datetime | None = None) -> int:
    """Send again the pending deliveries whose try is overdue; returns how many were sent or given up.

    A delivery's message can be lost: the broker refused it when the alert
    was recorded or a retry was scheduled (`_send` logs and goes on, so a
    stopped broker never blocks a run), or a worker died holding it. Without
    this sweep (the `system:resend-alerts` task) such a delivery would stay
    `pending` until another send to its channel happened to pick it up, and
    for a quiet channel that is never. A try is due at the delivery's
    creation (never tried) or after the backoff of its last attempt; one
    overdue by more than the grouping window plus RESEND_GRACE_SECONDS is
    published again. Sending twice is harmless: each attempt is claimed by a
    compare-and-set on its attempt count. A delivery that used all its
    attempts but is still pending lost its worker during the last one: it
    is recorded `failed`.
    """
    now = now or timezone.now()
    late = now - timedelta(seconds=settings.ALERTS_GROUP_SECONDS + RESEND_GRACE_SECONDS)
    pending = AlertDelivery.objects.filter(status=DeliveryStatus.PENDING, created_at__lt=late)
    candidates = list(pending.order_by("created_at", "id")[:RESEND_MAX])
    resend, given_up = [], []
    for delivery in candidates:
        if delivery.attempts >= settings.ALERTS_DELIVERY_ATTEMPTS:
            given_up.append(delivery.pk)
            continue
        due = delivery.created_at
        if delivery.attempts and delivery.last_attempt_at is not None:
            backoff = events.retry_delay(
                attempts=delivery.attempts, backoff_seconds=settings.ALERTS_RETRY_BACKOFF_SECONDS
            )
            due = delivery.last_attempt_at + timedelta(seconds=backoff)
        if due < late:
            resend.append(str(delivery.pk))
    if given_up:
        AlertDelivery.objects.filter(
            pk__in=given_up, status=DeliveryStatus.PENDING, attempts__gte=settings.ALERTS_DELIVERY_ATTEMPTS
        ).update(status=DeliveryStatus.FAILED, last_error="the worker was lost during the last attempt")
    if resend:
        logger.warning("alerts: %d pending deliveries overdue (their message was lost): sent again", len(resend))
        _send(resend)
    return len(resend) + len(given_up)


def channel_mark_broken_if_due(*, channel: Channel, now: datetime | None = None) -> bool:
    """Mark a channel broken when every delivery to it has failed for ALERTS_BROKEN_AFTER_SECONDS.

    Measured from the first failed delivery after its latest sent one (or from
    its creation). Marked once (a conditional update); its owner is then told
    through their other channels that are not broken.
    """
    now = now or timezone.now()
    if channel.broken_since is not None:
        return False
    deliveries = AlertDelivery.objects.filter(channel_id=channel.pk)
    last_sent = (
        deliveries.filter(status=DeliveryStatus.SENT).order_by("-created_at").values_list("created_at", flat=True)
    ).first()
    failed = deliveries.filter(status=DeliveryStatus.FAILED)
    if last_sent is not None:
        failed = failed.filter(created_at__gt=last_sent)
    first_failed = failed.order_by("created_at").values_list("created_at", flat=True).first()
    if first_failed is None or now - first_failed < timedelta(seconds=settings.ALERTS_BROKEN_AFTER_SECONDS):
        return False
    if Channel.objects.filter(pk=channel.pk, broken_since__isnull=True).update(broken_since=now) != 1:
        return False
    channel.broken_since = now
    others = Channel.objects.filter(owner_id=channel.owner_id, broken_since__isnull=True).exclude(pk=channel.pk)
    logger.warning("alert channel %s marked broken (failing since %s)", channel.pk, first_failed.isoformat())
    with store.current().atomic():
        _record(
            owner_id=channel.owner_id,
            job=None,
            kind=AlertKind.BROKEN,
            slot=None,
            details={
                "channel": channel.name,
                "channel_id": str(channel.pk),
                "failing_since": first_failed.isoformat(),
            },
            targets=list(others.order_by("name")),
            now=now,
        )
    return True


__all__ = [
    "DuplicateChannelName",
    "alert_after_pause",
    "alert_after_reap",
    "alert_if_late",
    "alert_raise",
    "alerts_after_run",
    "alerts_for_missed",
    "channel_create",
    "channel_delete",
    "channel_mark_broken_if_due",
    "channel_test",
    "channel_update",
    "channels_for",
    "deliveries_resend_lost",
    "delivery_attempt",
    "job_channel_ids",
]

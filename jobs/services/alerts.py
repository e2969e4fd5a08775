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

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.alerts import channels, content, events
from jobs.execution import dispatch, egress, executors, lifecycle, store
from jobs.models import Alert, AlertDelivery, AlertKind, Channel, ChannelKind, DeliveryStatus, Job
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


def delivery_attempt(*, delivery_id: Any, now: datetime | None = None, retry: bool = True) -> AlertDelivery | None:
    """Try a pending delivery once; returns it as recorded (None: not pending, or another worker's try).

    A failed try is followed by another (`retry`) after the backoff, until
    ALERTS_DELIVERY_ATTEMPTS; a refusal by the egress policy is final at once.
    """
    delivery = AlertDelivery.objects.select_related("alert", "channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    now = now or timezone.now()
    tried = delivery.attempts + 1
    # The attempt is claimed: a duplicated message (or a second worker) finds the count moved and sends nothing.
    claimed = AlertDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts
    ).update(attempts=tried, last_attempt_at=now)
    if claimed != 1:
        return None
    channel, alert = delivery.channel, delivery.alert
    message = content.build(alert, base_url=settings.ALERTS_BASE_URL)
    result = channels.send(
        channel,
        message,
        policy=egress.policy_for(settings),
        timeout=settings.ALERTS_HTTP_TIMEOUT_SECONDS,
        from_email=settings.DEFAULT_FROM_EMAIL,
    )
    fields: dict[str, Any] = {"last_response_code": result.code, "last_error": result.error}
    again = False
    if result.ok:
        fields.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="")
    elif result.permanent or not retry or tried >= settings.ALERTS_DELIVERY_ATTEMPTS:
        fields["status"] = DeliveryStatus.FAILED
    else:
        again = True
    AlertDelivery.objects.filter(pk=delivery.pk, attempts=tried).update(**fields)
    for name, value in {**fields, "attempts": tried, "last_attempt_at": now}.items():
        setattr(delivery, name, value)
    logger.info(
        "alert delivery %s to channel %s (%s): attempt %d %s%s",
        delivery.pk,
        channel.pk,
        channel.kind,
        tried,
        "sent" if result.ok else "failed",
        f": {result.error}" if result.error else "",
        extra={"alert_kind": alert.kind, "attempt": tried, "status": delivery.status},
    )
    if result.ok:
        metrics.ALERTS_SENT.labels(alert.kind, channel.kind).inc()
        if channel.broken_since is not None:
            Channel.objects.filter(pk=channel.pk).update(broken_since=None)
    elif again:
        delay = events.retry_delay(attempts=tried, backoff_seconds=settings.ALERTS_RETRY_BACKOFF_SECONDS)
        _send([str(delivery.pk)], countdown=delay)
    else:
        metrics.ALERTS_FAILED.labels(alert.kind, channel.kind).inc()
        if alert.kind != AlertKind.TEST:
            _safely(lambda: channel_mark_broken_if_due(channel=channel, now=now))
    return delivery


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
    "alert_raise",
    "alerts_after_run",
    "channel_create",
    "channel_delete",
    "channel_mark_broken_if_due",
    "channel_test",
    "channel_update",
    "channels_for",
    "delivery_attempt",
    "job_channel_ids",
]

"""Alert channels (written through the alert services) and the alert history (read-only, deliveries inline)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from jobs import services
from jobs.admin.shared import ReadOnlyAdmin, change_url, event_time, excerpt
from jobs.models import Alert, AlertDelivery, Channel, ChannelKind, DeliveryStatus, Job


class ChannelForm(forms.ModelForm):
    """Inputs in, the alert services decide (and save): the admin gives the API's messages."""

    class Meta:
        model = Channel
        fields = ("owner", "name", "kind", "target", "is_default")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = get_user_model().objects.order_by("username")

    def _post_clean(self) -> None:
        # The ModelForm's model validation is replaced by the services, which also write.
        if self.errors:
            return
        data = {key: self.cleaned_data[key] for key in ("name", "target", "is_default") if key in self.cleaned_data}
        try:
            if self.instance._state.adding:
                data["kind"] = self.cleaned_data["kind"]
                self.instance = services.channel_create(owner=self.cleaned_data["owner"], data=data)
            else:
                self.instance = services.channel_update(channel=self.instance, data=data)
        except ValidationError as exc:
            for key, found in exc.message_dict.items():
                field = key if key in self.fields else None
                for message in found:
                    self.add_error(field if field != NON_FIELD_ERRORS else None, message)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "owner", "kind", "target", "is_default", "state")
    list_select_related = ("owner",)
    list_filter = ("kind", "is_default", "owner")
    search_fields = ("name", "target", "owner__username")
    search_help_text = "Search by channel name, target or owner username."
    actions = ["send_test"]

    def get_fields(self, request: HttpRequest, obj: Channel | None = None) -> Any:
        if obj is None:
            return ("owner", "name", "kind", "target", "is_default")
        return ("owner_link", "name", "kind", "target", "is_default", "broken_since", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Channel | None = None) -> Any:
        # The owner and kind are set once; the secret is never shown after the create.
        return () if obj is None else ("owner_link", "kind", "broken_since", "created_at")

    @admin.display(description="Owner")
    def owner_link(self, channel: Channel) -> str:
        return format_html('<a href="{}">{}</a>', change_url(type(channel.owner), channel.owner_id), channel.owner)

    @admin.display(description="State")
    def state(self, channel: Channel) -> str:
        if channel.broken_since is None:
            return "working"
        return format_html('<span class="job-paused">broken since {}</span>', event_time(channel.broken_since))

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        # ChannelForm already saved through channel_create / channel_update while validating.
        if not change and obj.kind == ChannelKind.WEBHOOK:
            self.message_user(
                request,
                format_html(
                    "The signing secret of {} is <code>{}</code>. It is shown this once: copy it to the receiver.",
                    obj.name,
                    obj.secret,
                ),
                messages.WARNING,
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # Deliveries go with their channel; they are read-only on their own page.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed = {name for name in perms_needed if name != AlertDelivery._meta.verbose_name}
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        services.channel_delete(channel=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            services.channel_delete(channel=channel)

    @admin.action(description="Send a test message to the selected channels", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        count = sum(1 for channel in queryset if services.channel_test(channel=channel))
        self.message_user(
            request,
            f"Queued a test message to {count} channel{'' if count == 1 else 's'}; the alert history shows the answer.",
            messages.SUCCESS,
        )


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    fields = ("channel", "status", "attempts", "last_response_code", "error", "last_attempt", "sent")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertDelivery]:
        return super().get_queryset(request).select_related("channel")

    @admin.display(description="Last error")
    def error(self, delivery: AlertDelivery) -> str:
        return excerpt(delivery.last_error) or "—"

    @admin.display(description="Last attempt")
    def last_attempt(self, delivery: AlertDelivery) -> str:
        return event_time(delivery.last_attempt_at)

    @admin.display(description="Sent")
    def sent(self, delivery: AlertDelivery) -> str:
        return event_time(delivery.sent_at)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("when", "job_link", "kind", "slot_time", "delivered")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("job_name",)
    search_help_text = "Search by job name."
    fields = ("when", "job_link", "kind", "slot_time", "details")
    readonly_fields = ("when", "job_link", "slot_time")
    inlines = [DeliveryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.display(description="When", ordering="created_at")
    def when(self, alert: Alert) -> str:
        return event_time(alert.created_at)

    @admin.display(description="Slot", ordering="slot")
    def slot_time(self, alert: Alert) -> str:
        return event_time(alert.slot)

    @admin.display(description="Job", ordering="job_name")
    def job_link(self, alert: Alert) -> str:
        if alert.job_ref is None:
            return "—"
        if alert.job_id is None:
            return format_html('{} <span class="quiet">{}</span>', alert.job_name, "(deleted)")
        return format_html('<a href="{}">{}</a>', change_url(Job, alert.job_id), alert.job_name)

    @admin.display(description="Deliveries")
    def delivered(self, alert: Alert) -> str:
        deliveries = list(alert.deliveries.all())
        if not deliveries:
            return format_html('<span class="quiet">{}</span>', "no channel")
        counts = {status: sum(1 for d in deliveries if d.status == status) for status in DeliveryStatus.values}
        return ", ".join(f"{count} {status}" for status, count in counts.items() if count)

"""Users in the admin: staff create them, reset passwords, and deactivate them.

Deactivation always goes through `accounts.services.user_deactivate`, which
pauses the user's jobs; their tokens stop working on the next request because
the JWT authentication rejects inactive users. Creating a user and resetting a
password use Django's own UserAdmin pages (the "Reset password" form is linked
from the password field of a user's page).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User
from accounts.services import user_deactivate


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_active", "is_staff", "jobs_link", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("username", "email", "first_name", "last_name")
    actions = ("deactivate",)

    @admin.display(description="Jobs")
    def jobs_link(self, user: User) -> str:
        # A link, not a count: no per-row query and no join (MongoDB).
        url = reverse("admin:jobs_job_changelist") + f"?owner__id__exact={user.pk}"
        return format_html('<a href="{}">{}</a>', url, "jobs")

    @admin.action(
        description="Deactivate selected users (pauses their jobs, stops their tokens)", permissions=["change"]
    )
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for user in queryset:
            if user.pk == request.user.pk:
                self.message_user(request, "You cannot deactivate yourself.", messages.ERROR)
                continue
            if user.is_active:
                user_deactivate(user=user, actor=request.user)
                done += 1
        self.message_user(request, f"Deactivated {done} user{'s' if done != 1 else ''}; their jobs are paused.")

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # Unticking "active" on a user's page is a deactivation: save the other
        # changes, then let the service deactivate (it pauses the user's jobs).
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if deactivating:
            obj.is_active = True
        super().save_model(request, obj, form, change)
        if deactivating:
            user_deactivate(user=obj, actor=request.user)

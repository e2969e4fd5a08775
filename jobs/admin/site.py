"""The admin site itself: its titles and the pages that belong to no model, such as the overview.

`scheduler_site.apps.SchedulerAdminConfig` makes `default_site()` the default
site, so `admin.site` is a SchedulerAdminSite and `@admin.register` lands here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from jobs.diagnostics import overview


class SchedulerAdminSite(admin.AdminSite):
    site_header = "Scheduler administration"
    site_title = "Scheduler admin"
    index_title = "Operations"
    # "View site": the service has no public pages; its API documentation is what a visitor can use.
    site_url = "/api/docs/"

    def get_urls(self) -> list[Any]:
        # Ahead of the default patterns, whose last one catches every unknown URL.
        return [path("overview/", self.admin_view(self.overview_view), name="overview"), *super().get_urls()]

    def overview_view(self, request: HttpRequest) -> TemplateResponse:
        """/admin/overview/: job counts, the last 24 h of runs by status and hour, the next fires."""
        if not request.user.has_perm("jobs.view_job"):
            raise PermissionDenied
        context = {
            **self.each_context(request),
            "title": "Overview",
            "subtitle": None,
            **overview.build(now=timezone.now()),
            "job_changelist": reverse("admin:jobs_job_changelist"),
            "run_changelist": reverse("admin:jobs_jobrun_changelist"),
        }
        return TemplateResponse(request, "admin/overview.html", context)


@cache
def default_site() -> SchedulerAdminSite:
    """The one instance behind `admin.site` (AdminConfig.default_site accepts a callable).

    Not the class itself: Django builds `admin.site` by importing this module,
    which runs `jobs/admin/__init__` first, whose pages register on `admin.site`
    while it is being built. With the class, that nested build and the outer one
    would make two sites and keep the second, without the pages; both get this one.
    """
    return SchedulerAdminSite()

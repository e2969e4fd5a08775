"""Only staff enter the admin: every admin page, the overview and the preview send others to the login."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

PAGES = [
    "/admin/",
    "/admin/overview/",
    "/admin/jobs/job/",
    "/admin/jobs/job/add/",
    "/admin/jobs/jobrun/",
    "/admin/jobs/jobevent/",
    "/admin/jobs/channel/",
    "/admin/jobs/channel/add/",
    "/admin/jobs/alert/",
    "/admin/accounts/user/",
    "/admin/django_celery_beat/periodictask/",
]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitor_is_sent_to_login(db: Any, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", PAGES)
def test_non_staff_user_cannot_enter(user: Any, url: str) -> None:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_user_cannot_log_in_with_the_admin_form(user: Any) -> None:
    response = Client().post("/admin/login/?next=/admin/", {"username": user.username, "password": user.raw_password})
    assert response.status_code == 200  # the form again, with an error
    assert "staff account" in response.content.decode()


def test_non_staff_user_cannot_preview_or_act_on_a_job(user: Any, make_job: Any) -> None:
    job = make_job(user)
    client = Client()
    client.force_login(user)
    for url in ("/admin/jobs/job/preview/", f"/admin/jobs/job/{job.pk}/do/pause/"):
        response = client.post(url, {"kind": "phrase", "phrase": "every 5 minutes"})
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    job.refresh_from_db()
    assert job.enabled


@pytest.mark.parametrize("url", PAGES)
def test_staff_user_sees_every_page(staff_client: Client, url: str) -> None:
    assert staff_client.get(url).status_code == 200


def test_a_refusal_inside_the_admin_keeps_the_admins_layout(db: Any) -> None:
    from accounts.models import User

    clerk = User.objects.create_user(username="clerk", password="s3cret-Passw0rd", is_staff=True)  # no permissions
    client = Client()
    client.force_login(clerk)
    response = client.get("/admin/jobs/job/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Scheduler administration" in html  # the admin's header
    assert 'class="breadcrumbs"' in html and "Permission denied" in html
    assert 'href="/admin/logout/"' in html or "logout" in html  # still signed in, with a way out


def test_view_site_leads_to_the_api_documentation(staff_client: Client) -> None:
    html = staff_client.get("/admin/").content.decode()
    assert '<a href="/api/docs/">View site</a>' in html

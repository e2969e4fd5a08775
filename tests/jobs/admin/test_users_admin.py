"""Users: staff create them, reset passwords and deactivate them (which pauses their jobs and stops their tokens)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

from jobs.models import Job, PauseReason

User = get_user_model()


def test_staff_creates_a_user(staff_client: Client) -> None:
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {"username": "carol", "usable_password": "true", "password1": "Tr1cky-Pass-42", "password2": "Tr1cky-Pass-42"},
    )
    assert response.status_code == 302
    carol = User.objects.get(username="carol")
    assert carol.check_password("Tr1cky-Pass-42") and carol.is_active and not carol.is_staff


def test_staff_resets_a_password(staff_client: Client, user: Any) -> None:
    response = staff_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "N3w-Passw0rd-xyz", "password2": "N3w-Passw0rd-xyz", "usable_password": "true"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("N3w-Passw0rd-xyz")


def test_deactivate_action_pauses_jobs_and_stops_tokens(
    staff_client: Client, user: Any, make_job: Any, login: Any
) -> None:
    jobs = [make_job(user), make_job(user)]
    api = login(user)
    assert api.get("/api/v1/me/").status_code == 200
    response = staff_client.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [str(user.pk)]}, follow=True
    )
    assert "Deactivated 1 user; their jobs are paused." in [str(m) for m in response.context["messages"]]
    user.refresh_from_db()
    assert not user.is_active
    for job in jobs:
        job.refresh_from_db()
        assert (job.enabled, job.paused_reason) == (False, PauseReason.OWNER_DEACTIVATED)
    assert api.get("/api/v1/me/").status_code == 401


def test_unticking_active_on_the_users_page_deactivates_through_the_service(
    staff_client: Client, user: Any, make_job: Any
) -> None:
    job = make_job(user)
    data = {
        "username": user.username,
        "first_name": "Alice",
        "last_name": "",
        "email": user.email,
        # is_active left out: the checkbox is unticked.
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    response = staff_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert (user.is_active, user.first_name) == (False, "Alice")
    assert Job.objects.get(pk=job.pk).paused_reason == PauseReason.OWNER_DEACTIVATED


def test_staff_cannot_deactivate_themselves(staff_client: Client, staff: Any) -> None:
    response = staff_client.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [str(staff.pk)]}, follow=True
    )
    assert "You cannot deactivate yourself." in [str(m) for m in response.context["messages"]]
    staff.refresh_from_db()
    assert staff.is_active


def test_user_list_links_to_their_jobs(staff_client: Client, user: Any) -> None:
    html = staff_client.get("/admin/accounts/user/").content.decode()
    assert f'href="/admin/jobs/job/?owner__id__exact={user.pk}"' in html

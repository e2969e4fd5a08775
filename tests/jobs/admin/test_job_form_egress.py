"""The admin's job form and the egress policy: a refused URL is an error on the URL input; Follow redirects."""

from __future__ import annotations

from typing import Any

from django.test import Client

from jobs.models import Job
from tests import factories
from tests.jobs.admin.rendered import RenderedForm

from .conftest import http_action


def add_page(client: Client) -> RenderedForm:
    page = RenderedForm(client, "/admin/jobs/job/add/", form_id="job_form")
    return page.set("name", "egress").set("phrase", "every day at 02:30").set("action_type", "http")


def test_a_refused_url_is_an_error_on_the_url_input_and_nothing_is_saved(staff_client: Client) -> None:
    page = add_page(staff_client).set("http_url", "http://169.254.169.254/latest/meta-data/")
    response = page.submit()
    assert response.status_code == 200
    form = response.context["adminform"].form
    (message,) = form.errors["http_url"]
    assert message.startswith("This URL is not allowed: 169.254.169.254 is a link-local address")
    assert form["http_url"].value() == "http://169.254.169.254/latest/meta-data/"
    assert not Job.objects.filter(name="egress").exists()


def test_a_non_canonical_address_is_refused_with_its_form(staff_client: Client) -> None:
    response = add_page(staff_client).set("http_url", "http://0x7f.1:8000/").submit()
    assert "hexadecimal" in response.context["adminform"].form.errors["http_url"][0]


def test_follow_redirects_is_off_by_default_and_can_be_ticked(staff_client: Client) -> None:
    page = add_page(staff_client).set("http_url", "https://hooks.example.com/run")
    assert "http_follow_redirects" in page.fields
    assert ("http_follow_redirects", "on") not in page.data
    response = page.set("http_follow_redirects", "on").submit()
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Job.objects.get(name="egress").http_follow_redirects is True


def test_the_change_page_shows_and_keeps_follow_redirects(staff_client: Client, user: Any) -> None:
    job = factories.job(user, action=http_action(follow_redirects=True))
    page = RenderedForm(staff_client, f"/admin/jobs/job/{job.pk}/change/", form_id="job_form")
    assert ("http_follow_redirects", "on") in page.data
    assert page.submit().status_code == 302
    job.refresh_from_db()
    assert job.http_follow_redirects is True
    page = RenderedForm(staff_client, f"/admin/jobs/job/{job.pk}/change/", form_id="job_form")
    assert page.untick("http_follow_redirects").submit().status_code == 302
    job.refresh_from_db()
    assert job.http_follow_redirects is False

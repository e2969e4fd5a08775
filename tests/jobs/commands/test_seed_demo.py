"""seed_demo: the demo login and jobs; the health-check job only where the egress policy allows its address."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from jobs.models import Job

pytestmark = pytest.mark.django_db


def seed(**kwargs: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", "--password", "demo-password-1", stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_the_health_check_job_is_skipped_with_a_warning_when_its_address_is_not_allowed(settings: Any) -> None:
    settings.JOBS_HTTP_ALLOWED_NETWORKS = []
    out, err = seed()
    assert "skipped job 'demo-http-check'" in err
    assert "127.0.0.1 is a loopback address" in err
    assert "JOBS_HTTP_ALLOWED_NETWORKS=127.0.0.1" in err
    assert set(Job.objects.values_list("name", flat=True)) == {"demo-heartbeat", "demo-weekly-report"}
    assert "Demo login" in out


def test_the_health_check_job_is_created_where_the_operator_allows_its_address(settings: Any) -> None:
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.1"]
    _, err = seed(base_url="http://127.0.0.1:8123")
    assert err == ""
    assert Job.objects.get(name="demo-http-check").http_url == "http://127.0.0.1:8123/healthz"

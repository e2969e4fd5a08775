"""`/api/v1/channels/`: CRUD of one's own alert channels (staff: all), the secret shown once, test messages."""

from __future__ import annotations

import pytest

from jobs import services
from jobs.models import Alert, AlertDelivery, AlertKind, Channel, DeliveryStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/channels/"


def create(client, **fields):
    data = {"name": "hook", "kind": "webhook", "target": "https://hooks.example.com/alerts", **fields}
    return client.post(URL, data, format="json")


def test_create_a_webhook_shows_its_secret_once(api, user):
    response = create(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["secret"]) == 64
    assert {k: body[k] for k in ("name", "kind", "target", "is_default", "owner", "broken_since")} == {
        "name": "hook",
        "kind": "webhook",
        "target": "https://hooks.example.com/alerts",
        "is_default": True,
        "owner": "alice",
        "broken_since": None,
    }
    assert Channel.objects.get(pk=body["id"]).secret == body["secret"]
    # Never again: not in the detail, the list, or a change's answer.
    detail = api.get(f"{URL}{body['id']}/")
    assert "secret" not in detail.json() and body["secret"] not in detail.content.decode()
    assert body["secret"] not in api.get(URL).content.decode()
    changed = api.patch(f"{URL}{body['id']}/", {"name": "renamed"}, format="json")
    assert changed.status_code == 200 and "secret" not in changed.json()


def test_email_and_slack_channels_have_no_secret(api):
    mail = create(api, name="mail", kind="email", target="ops@example.com").json()
    slack = create(api, name="slack", kind="slack", target="https://hooks.slack.com/services/T/B/x").json()
    assert mail["secret"] == "" and slack["secret"] == ""


@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ({"target": "http://127.0.0.1/hook"}, "target", "This URL is not allowed"),
        ({"target": "http://169.254.169.254/latest/meta-data"}, "target", "This URL is not allowed"),
        ({"target": "http://localhost:8000/admin/"}, "target", "This URL is not allowed"),
        ({"target": "file:///etc/passwd"}, "target", "only http and https"),
        ({"kind": "email", "target": "not-an-address"}, "target", "email address"),
        ({"kind": "pager"}, "kind", "Must be one of"),
        ({"name": ""}, "name", "1 to 100"),
        ({"secret": "mine"}, "secret", "Unknown field"),
    ],
)
def test_invalid_channels_are_a_400(api, fields, key, message):
    response = create(api, **fields)
    assert response.status_code == 400, response.content
    assert message in str(response.json()), response.json()
    assert key in str(response.json())


def test_a_duplicate_name_is_a_409(api):
    assert create(api).status_code == 201
    response = create(api)
    assert response.status_code == 409
    assert Channel.objects.count() == 1


def test_the_kind_cannot_change(api):
    channel = create(api).json()
    response = api.patch(f"{URL}{channel['id']}/", {"kind": "slack"}, format="json")
    assert response.status_code == 400
    assert "cannot change" in str(response.json())


def test_a_changed_url_is_checked_by_the_egress_policy_too(api):
    channel = create(api).json()
    response = api.patch(f"{URL}{channel['id']}/", {"target": "http://10.0.0.5/"}, format="json")
    assert response.status_code == 400
    assert Channel.objects.get(pk=channel["id"]).target == "https://hooks.example.com/alerts"


def test_users_see_only_their_own_channels_and_staff_see_all(api, make_user, login, staff):
    mine = create(api).json()
    bob = login(make_user("bob"))
    theirs = create(bob, name="bob-hook").json()
    assert [c["id"] for c in api.get(URL).json()["results"]] == [mine["id"]]
    for method in ("get", "patch", "delete"):
        assert getattr(api, method)(f"{URL}{theirs['id']}/", {}, format="json").status_code == 404
    assert api.post(f"{URL}{theirs['id']}/test/").status_code == 404
    listed = login(staff).get(URL).json()["results"]
    assert {c["id"] for c in listed} == {mine["id"], theirs["id"]}


def test_delete(api):
    channel = create(api).json()
    assert api.delete(f"{URL}{channel['id']}/").status_code == 204
    assert not Channel.objects.exists()


def test_anonymous_is_a_401(anon, db):
    assert anon.get(URL).status_code == 401


def test_an_unknown_query_parameter_is_a_400(api):
    assert api.get(URL, {"kind": "email"}).status_code == 400


def test_send_a_test_queues_a_delivery(api, user, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("jobs.execution.dispatch.send", lambda task, args, countdown=0.0: queued.append(args) or True)
    channel = create(api).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{URL}{channel['id']}/test/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["attempts"], body["channel"]) == (DeliveryStatus.PENDING, 0, channel["id"])
    assert queued == [[body["id"]]]
    assert Alert.objects.get().kind == AlertKind.TEST
    assert AlertDelivery.objects.get().pk.hex == body["id"].replace("-", "")
    assert services  # the service behind it is tested in tests/jobs/alerts/test_delivery.py

"""Notifications over /api/notifications: each user's own, unread counts, marking read, no create."""

import pytest

from messaging.models import Notification
from messaging.services.notifications import notify
from tenancy.context import company_context

from ..conftest import bearer_client
from ..factories import NotificationFactory, UserFactory
from ..unscoped import unscoped

URL = "/api/notifications"

pytestmark = pytest.mark.django_db


def snapshot(notification) -> dict:
    """The stored row, dismissed or not."""
    with unscoped():
        return Notification._base_manager.filter(pk=notification.pk).values().get()


def listed_titles(client, **params) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return sorted(row["title"] for row in response.json()["results"])


@pytest.fixture
def inbox(user_a, user_b, company_a):
    """Two unread and one read notification of user A, one of a colleague of A, one of user B."""
    colleague = UserFactory(company=company_a)
    return {
        "a1": NotificationFactory(user=user_a, title="A new text", kind=Notification.Kind.SMS_RECEIVED),
        "a2": NotificationFactory(user=user_a, title="A missed call", kind=Notification.Kind.MISSED_CALL),
        "a_read": NotificationFactory(user=user_a, title="A old news", read_at="2026-01-01T09:00:00Z"),
        "colleague": NotificationFactory(user=colleague, title="Colleague voicemail"),
        "b": NotificationFactory(user=user_b, title="B new text"),
        "colleague_user": colleague,
    }


def test_each_user_lists_only_their_own_notifications(inbox, client_a, client_b):
    """A sees A's three, not the colleague's nor B's; B sees only B's."""
    assert listed_titles(client_a) == ["A missed call", "A new text", "A old news"]
    assert listed_titles(client_b) == ["B new text"]
    assert listed_titles(bearer_client(inbox["colleague_user"])) == ["Colleague voicemail"]


def test_a_colleagues_or_other_companys_notification_is_a_404_and_stays_unread(inbox, client_a):
    """Reading, marking or dismissing someone else's notification is a 404 and changes nothing."""
    for key in ("colleague", "b"):
        foreign = inbox[key]
        before = snapshot(foreign)

        for response in (
            client_a.get(f"{URL}/{foreign.pk}"),
            client_a.post(f"{URL}/{foreign.pk}/read"),
            client_a.delete(f"{URL}/{foreign.pk}"),
        ):
            assert response.status_code == 404, response.content
        assert snapshot(foreign) == before


def test_unread_filter(inbox, client_a, client_b):
    """?unread=true lists the unread ones, ?unread=false the read ones, each user their own."""
    assert listed_titles(client_a, unread="true") == ["A missed call", "A new text"]
    assert listed_titles(client_a, unread="false") == ["A old news"]
    assert listed_titles(client_b, unread="true") == ["B new text"]
    assert listed_titles(client_b, unread="false") == []


def test_unread_count_counts_the_users_own(inbox, client_a, client_b):
    """GET unread-count answers each user's own unread number."""
    assert client_a.get(f"{URL}/unread-count").json() == {"unread": 2}
    assert client_b.get(f"{URL}/unread-count").json() == {"unread": 1}
    assert bearer_client(inbox["colleague_user"]).get(f"{URL}/unread-count/").json() == {"unread": 1}


def test_marking_one_read_keeps_its_first_read_time(inbox, client_a, client_b):
    """POST read marks A's notification read once; the count drops for A only."""
    target = inbox["a1"]

    first = client_a.post(f"{URL}/{target.pk}/read")
    second = client_a.post(f"{URL}/{target.pk}/read")

    assert first.status_code == second.status_code == 200
    assert first.json()["is_read"] is True
    assert first.json()["read_at"] is not None
    assert second.json()["read_at"] == first.json()["read_at"]
    assert client_a.get(f"{URL}/unread-count").json() == {"unread": 1}
    assert client_b.get(f"{URL}/unread-count").json() == {"unread": 1}
    assert client_b.post(f"{URL}/{target.pk}/read").status_code == 404


def test_read_all_marks_only_the_users_own(inbox, client_a, client_b):
    """POST read-all marks A's unread ones, answers how many, and leaves the colleague's and B's unread."""
    colleague_before, b_before = snapshot(inbox["colleague"]), snapshot(inbox["b"])

    response = client_a.post(f"{URL}/read-all")
    again = client_a.post(f"{URL}/read-all")

    assert response.status_code == 200
    assert response.json() == {"marked": 2}
    assert again.json() == {"marked": 0}
    assert listed_titles(client_a, unread="true") == []
    assert snapshot(inbox["colleague"]) == colleague_before
    assert snapshot(inbox["b"]) == b_before
    assert client_b.get(f"{URL}/unread-count").json() == {"unread": 1}


def test_notifications_are_not_created_or_edited_through_the_api(inbox, client_a, company_a):
    """POST on the collection, PUT and PATCH are 405, and nothing is stored or changed."""
    before = snapshot(inbox["a1"])
    with company_context(company_a):
        count = Notification.objects.count()

    created = client_a.post(URL, {"kind": "info", "title": "Fake alert"}, format="json")
    put = client_a.put(f"{URL}/{inbox['a1'].pk}", {"kind": "info", "title": "Changed"}, format="json")
    patched = client_a.patch(f"{URL}/{inbox['a1'].pk}", {"title": "Changed"}, format="json")

    assert created.status_code == put.status_code == patched.status_code == 405
    with company_context(company_a):
        assert Notification.objects.count() == count
    assert snapshot(inbox["a1"]) == before


def test_dismissing_a_notification_hides_it_from_list_and_count(inbox, client_a):
    """DELETE dismisses A's own notification: gone from the list and the unread count, kept in the table."""
    response = client_a.delete(f"{URL}/{inbox['a1'].pk}")

    assert response.status_code == 204
    assert listed_titles(client_a) == ["A missed call", "A old news"]
    assert client_a.get(f"{URL}/unread-count").json() == {"unread": 1}
    assert snapshot(inbox["a1"])["is_deleted"] is True


def test_a_notification_from_the_service_reaches_its_user_only(user_a, user_b, client_a, client_b, company_a):
    """notify() in company A shows up in A's list with its target, and never in B's."""
    with company_context(company_a):
        [created] = notify(
            user_a, kind=Notification.Kind.VOICEMAIL, title="Voicemail from Grace", target=user_a
        )

    body = client_a.get(URL).json()["results"]

    assert [(row["id"], row["kind"], row["is_read"]) for row in body] == [
        (str(created.pk), "voicemail", False)
    ]
    assert body[0]["target_type"] == "user"
    assert client_b.get(URL).json()["results"] == []

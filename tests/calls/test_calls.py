"""The call log at /api/calls and click-to-call through Twilio, for two companies."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from calls.models import Call
from calls.tasks import place_call
from core.tasks import requeue_stalled_sends
from messaging.models import Notification
from messaging.twilio import public_url
from tenancy.context import company_context

from ..factories import (
    CallFactory,
    ContactFactory,
    PhoneNumberFactory,
    UserFactory,
)
from ..unscoped import as_the_platform_unaudited, stored

CALLER_PHONE = "+14155550111"


def calls_of(company) -> list[Call]:
    with company_context(company):
        return list(Call.objects.all())


def notifications_of(company) -> list[Notification]:
    with company_context(company):
        return list(Notification.objects.all())


def listed_ids(client, **params) -> list[str]:
    response = client.get("/api/calls", params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def caller_a(user_a):
    user_a.phone = CALLER_PHONE
    with as_the_platform_unaudited():
        user_a.save(update_fields=["phone"])
    return user_a


@pytest.fixture
def caller_number_a(company_a, caller_a, twilio_a):
    """A voice number of company A that rings caller_a, with Twilio set up."""
    return PhoneNumberFactory(company=company_a, user=caller_a)


@pytest.fixture
def callee_a(company_a):
    """The contact of company A that the calls go to."""
    return ContactFactory(company=company_a, phone="+14155550900")


@pytest.fixture
def any_number_b(company_b):
    """A number of company B, owned by a user of its own."""
    return PhoneNumberFactory(company=company_b)


# The call log


def test_the_log_shows_each_company_its_own_calls(client_a, client_b, company_a, company_b):
    """A lists and reads its call with every field; B sees only its own and gets 404 for A's."""
    call_a = CallFactory(
        phone_number__company=company_a,
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        started_at=datetime(2025, 3, 4, 10, 0, tzinfo=UTC),
    )
    call_b = CallFactory(phone_number__company=company_b)

    assert listed_ids(client_a) == [str(call_a.pk)]
    assert listed_ids(client_b) == [str(call_b.pk)]
    body = client_a.get(f"/api/calls/{call_a.pk}").json()
    assert body["direction"] == "outbound"
    assert (body["from_number"], body["to_number"]) == (call_a.from_number, call_a.to_number)
    assert (body["status"], body["duration_seconds"]) == ("completed", 60)
    assert body["started_at"] == "2025-03-04T10:00:00Z"
    assert body["recording_url"] == call_a.recording_url
    assert (body["contact"], body["user"]) == (str(call_a.contact_id), str(call_a.user_id))
    assert body["contact_name"] == str(call_a.contact)
    assert body["company"] == str(company_a.pk)
    assert client_b.get(f"/api/calls/{call_a.pk}").status_code == 404


def test_the_log_filters_by_direction_status_user_contact_voicemail_and_time(client_a, company_a):
    """Each filter keeps exactly the matching calls."""
    number = PhoneNumberFactory(company=company_a)
    other_user = UserFactory(company=company_a)
    early = CallFactory(phone_number=number, started_at=datetime(2025, 1, 1, tzinfo=UTC))
    voicemail = CallFactory(
        phone_number=number,
        direction="inbound",
        status="no-answer",
        is_voicemail=True,
        started_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    busy = CallFactory(
        phone_number=number, status="busy", user=other_user, started_at=datetime(2025, 3, 1, tzinfo=UTC)
    )

    assert listed_ids(client_a, direction="inbound") == [str(voicemail.pk)]
    assert set(listed_ids(client_a, status=["busy", "no-answer"])) == {str(busy.pk), str(voicemail.pk)}
    assert listed_ids(client_a, user=str(other_user.pk)) == [str(busy.pk)]
    assert listed_ids(client_a, contact=str(early.contact_id)) == [str(early.pk)]
    assert listed_ids(client_a, is_voicemail="true") == [str(voicemail.pk)]
    assert listed_ids(
        client_a, started_after="2025-01-15T00:00:00Z", started_before="2025-02-15T00:00:00Z"
    ) == [str(voicemail.pk)]
    assert client_a.get("/api/calls", {"status": "ringing-loudly"}).status_code == 400


def test_the_log_searches_numbers_and_notes_and_orders(client_a, company_a):
    """?search= finds a call by number or notes; ?ordering= sorts by duration."""
    number = PhoneNumberFactory(company=company_a)
    short = CallFactory(phone_number=number, to_number="+14155550321", duration_seconds=5)
    long = CallFactory(phone_number=number, notes="Asked for a renewal quote", duration_seconds=900)

    assert listed_ids(client_a, search="4155550321") == [str(short.pk)]
    assert listed_ids(client_a, search="renewal") == [str(long.pk)]
    assert listed_ids(client_a, ordering="-duration_seconds") == [str(long.pk), str(short.pk)]
    assert listed_ids(client_a, ordering="duration_seconds") == [str(short.pk), str(long.pk)]


def test_patch_changes_notes_and_contact_but_not_what_twilio_reported(client_a, company_a):
    """Notes and contact change; status, duration, numbers and recording stay as Twilio reported them."""
    call = CallFactory(phone_number__company=company_a)
    other_contact = ContactFactory(company=company_a)

    response = client_a.patch(
        f"/api/calls/{call.pk}",
        {
            "notes": "Wants a demo",
            "contact": str(other_contact.pk),
            "status": "failed",
            "duration_seconds": 1,
            "to_number": "+19005550100",
            "recording_url": "https://evil.example/x.mp3",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    after = stored(Call, call.pk)
    assert (after.notes, after.contact_id) == ("Wants a demo", other_contact.pk)
    assert (after.status, after.duration_seconds) == ("completed", 60)
    assert (after.to_number, after.recording_url) == (call.to_number, "")


def test_patch_refuses_another_companys_contact_and_call(client_a, client_b, company_a, company_b):
    """A's call cannot point at B's contact (400), and B cannot change A's call (404); nothing changes."""
    call = CallFactory(phone_number__company=company_a, notes="original")
    contact_b = ContactFactory(company=company_b)

    foreign_contact = client_a.patch(f"/api/calls/{call.pk}", {"contact": str(contact_b.pk)}, format="json")
    foreign_call = client_b.patch(f"/api/calls/{call.pk}", {"notes": "hijacked"}, format="json")

    assert foreign_contact.status_code == 400 and "contact" in foreign_contact.json()
    assert foreign_call.status_code == 404
    after = stored(Call, call.pk)
    assert (after.contact_id, after.notes) == (call.contact_id, "original")


def test_delete_hides_the_call_and_keeps_it(client_a, client_b, company_a):
    """B's DELETE of A's call is a 404; A's DELETE soft-deletes it."""
    call = CallFactory(phone_number__company=company_a)

    assert client_b.delete(f"/api/calls/{call.pk}").status_code == 404
    assert stored(Call, call.pk).is_deleted is False
    assert client_a.delete(f"/api/calls/{call.pk}").status_code == 204

    assert stored(Call, call.pk).is_deleted is True
    assert listed_ids(client_a) == []


# Click-to-call


def test_click_to_call_rings_the_caller_then_dials_the_contact(
    client_a, caller_a, caller_number_a, callee_a, twilio_fake, company_a, django_capture_on_commit_callbacks
):
    """The call is recorded, then Twilio is asked to ring the caller's phone from the company number."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["direction"], body["status"], body["to_number"]) == ("outbound", "queued", callee_a.phone)
    assert (body["from_number"], body["user"], body["contact"]) == (
        caller_number_a.number,
        str(caller_a.pk),
        str(callee_a.pk),
    )
    [request] = twilio_fake.sent("Calls")
    assert (request["To"], request["From"]) == (CALLER_PHONE, caller_number_a.number)
    connect = "/api/twilio/voice/connect?" + urlencode({"call": body["id"], "number": caller_number_a.number})
    assert request["Url"] == public_url(connect)
    status = "/api/twilio/voice/status?" + urlencode({"number": caller_number_a.number})
    assert request["StatusCallback"] == public_url(status)
    assert request["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    call = stored(Call, body["id"])
    assert call.status == "initiated"
    assert call.twilio_sid.startswith("CA")
    assert call.attempts == 1


def test_click_to_call_to_a_number_links_its_contact(
    client_a, caller_number_a, callee_a, twilio_fake, django_capture_on_commit_callbacks
):
    """Calling a number that belongs to a contact links the call to that contact."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post("/api/calls", {"to": callee_a.phone}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["contact"] == str(callee_a.pk)
    assert twilio_fake.sent("Calls")[0]["To"] == CALLER_PHONE


def test_click_to_call_prefers_the_callers_own_number(
    client_a, caller_a, company_a, callee_a, twilio_a, twilio_fake, django_capture_on_commit_callbacks
):
    """Without from_number, the call goes out from the caller's own voice number, not the first one."""
    PhoneNumberFactory(company=company_a, number="+12025550001")
    PhoneNumberFactory(company=company_a, number="+12025550002", user=caller_a, voice_enabled=False)
    own = PhoneNumberFactory(company=company_a, number="+12025550003", user=caller_a)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    assert response.json()["from_number"] == own.number
    assert twilio_fake.sent("Calls")[0]["From"] == own.number


def test_click_to_call_falls_back_to_the_companys_first_voice_number(
    client_a, caller_a, company_a, callee_a, twilio_a, twilio_fake, django_capture_on_commit_callbacks
):
    """A caller with no number of their own calls from the company's first voice-enabled number."""
    PhoneNumberFactory(company=company_a, number="+12025550011", voice_enabled=False)
    first = PhoneNumberFactory(company=company_a, number="+12025550012")
    PhoneNumberFactory(company=company_a, number="+12025550013")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    assert response.json()["from_number"] == first.number


def test_click_to_call_from_a_chosen_company_number(
    client_a, company_a, caller_number_a, callee_a, twilio_fake, django_capture_on_commit_callbacks
):
    """An explicit voice-enabled from_number of the company is used."""
    chosen = PhoneNumberFactory(company=company_a, number="+12025550021")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            "/api/calls", {"contact": str(callee_a.pk), "from_number": chosen.number}, format="json"
        )

    assert response.status_code == 201, response.content
    assert twilio_fake.sent("Calls")[0]["From"] == chosen.number


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "to"),
        ({"to": "4155550100"}, "to"),
        ({"to": "+14155550100", "from_number": "+12025559999"}, "from_number"),
    ],
    ids=["nothing-to-call", "not-e164", "not-our-number"],
)
def test_click_to_call_with_bad_input_is_a_400_on_the_field(
    body, field, client_a, caller_number_a, twilio_fake, company_a
):
    """Missing or malformed targets and numbers the company does not own are refused, nothing recorded."""
    response = client_a.post("/api/calls", body, format="json")

    assert response.status_code == 400 and field in response.json(), response.content
    assert calls_of(company_a) == []
    assert twilio_fake.requests == []


def test_click_to_call_refuses_other_companys_contact_and_number(
    client_a, caller_number_a, any_number_b, company_a, company_b, twilio_fake
):
    """B's contact is a 400 on contact; B's number is a 400 on from_number; nothing is recorded."""
    contact_b = ContactFactory(company=company_b)

    contact = client_a.post("/api/calls", {"contact": str(contact_b.pk)}, format="json")
    number = client_a.post(
        "/api/calls", {"to": "+14155550100", "from_number": any_number_b.number}, format="json"
    )

    assert contact.status_code == 400 and "contact" in contact.json()
    assert number.status_code == 400 and "from_number" in number.json()
    assert calls_of(company_a) == calls_of(company_b) == []
    assert twilio_fake.requests == []


def test_click_to_call_refuses_a_number_without_voice(client_a, company_a, caller_number_a, twilio_fake):
    """A company number that cannot make calls is a 400 on from_number."""
    sms_only = PhoneNumberFactory(company=company_a, voice_enabled=False)

    response = client_a.post(
        "/api/calls", {"to": "+14155550100", "from_number": sms_only.number}, format="json"
    )

    assert response.status_code == 400 and "from_number" in response.json()
    assert calls_of(company_a) == []


def test_click_to_call_refuses_a_contact_without_phone(client_a, company_a, caller_number_a, twilio_fake):
    """A contact with no number cannot be called."""
    contact = ContactFactory(company=company_a, phone="")

    response = client_a.post("/api/calls", {"contact": str(contact.pk)}, format="json")

    assert response.status_code == 400 and "contact" in response.json()
    assert calls_of(company_a) == []


def test_click_to_call_needs_the_callers_own_phone(
    client_a, user_a, company_a, twilio_a, callee_a, twilio_fake
):
    """A caller with no phone on their profile gets a 409 saying so; nothing is recorded or sent."""
    PhoneNumberFactory(company=company_a)
    user_a.phone = ""
    with as_the_platform_unaudited():
        user_a.save(update_fields=["phone"])

    response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    assert response.status_code == 409
    assert "your own phone number" in response.json()["detail"]
    assert calls_of(company_a) == []
    assert twilio_fake.requests == []


def test_click_to_call_needs_twilio_settings(client_a, caller_a, company_a, callee_a, twilio_fake):
    """Without the company's Twilio account the call is refused with a 409 pointing at the settings."""
    PhoneNumberFactory(company=company_a)

    response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    assert response.status_code == 409
    assert "/api/twilio-settings" in response.json()["detail"]
    assert calls_of(company_a) == []


def test_click_to_call_needs_a_voice_number(client_a, caller_a, twilio_a, callee_a, company_a):
    """A company without a voice-enabled number gets a 409 saying to add one."""
    response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    assert response.status_code == 409
    assert "voice-enabled phone number" in response.json()["detail"]
    assert calls_of(company_a) == []


def test_a_twilio_error_marks_the_call_failed_and_tells_the_caller(
    client_a,
    caller_a,
    caller_number_a,
    callee_a,
    twilio_fake,
    company_a,
    company_b,
    django_capture_on_commit_callbacks,
):
    """Twilio's refusal is stored on the call and the caller gets a send-failed notification."""
    twilio_fake.fail_next(400, 21210, "The source phone number provided is not yet verified.")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    call = stored(Call, response.json()["id"])
    assert call.status == "failed"
    assert "21210" in call.error_message and "not yet verified" in call.error_message
    assert call.twilio_sid is None
    [notice] = notifications_of(company_a)
    assert (notice.user_id, notice.kind, notice.target_id) == (caller_a.pk, "send_failed", call.pk)
    assert notifications_of(company_b) == []
    assert client_a.get(f"/api/calls/{call.pk}").json()["status"] == "failed"


def test_a_redelivered_task_places_the_call_once(
    client_a, caller_number_a, callee_a, twilio_fake, company_a, django_capture_on_commit_callbacks
):
    """The same place_call delivered twice rings the caller once."""
    with django_capture_on_commit_callbacks(execute=False):
        response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")
    kwargs = {"company_id": str(company_a.pk), "call_id": response.json()["id"]}

    place_call.apply(kwargs=kwargs, throw=True)
    place_call.apply(kwargs=kwargs, throw=True)

    assert len(twilio_fake.sent("Calls")) == 1
    assert stored(Call, kwargs["call_id"]).attempts == 1


def test_a_task_naming_another_companys_call_places_nothing(
    client_a, caller_number_a, callee_a, twilio_fake, company_b, django_capture_on_commit_callbacks
):
    """A task run inside company B cannot place company A's queued call."""
    with django_capture_on_commit_callbacks(execute=False):
        response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")

    place_call.apply(kwargs={"company_id": str(company_b.pk), "call_id": response.json()["id"]}, throw=True)

    assert twilio_fake.requests == []
    assert stored(Call, response.json()["id"]).status == "queued"


def test_a_call_recorded_during_a_broker_outage_is_placed_when_the_outbox_runs(
    client_a, caller_number_a, callee_a, twilio_fake, settings, django_capture_on_commit_callbacks
):
    """A queued call whose task never reached a worker is placed by the outbox, once."""
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = -1
    with django_capture_on_commit_callbacks(execute=False):
        response = client_a.post("/api/calls", {"contact": str(callee_a.pk)}, format="json")
    assert stored(Call, response.json()["id"]).status == "queued"
    assert twilio_fake.requests == []

    requeue_stalled_sends()
    requeue_stalled_sends()

    assert len(twilio_fake.sent("Calls")) == 1
    assert stored(Call, response.json()["id"]).status == "initiated"

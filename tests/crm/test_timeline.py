"""The timeline of a contact, account and deal: every app's entries about it, newest first, in few queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.timeline import timeline_sources

from ..conftest import bearer_client
from ..factories import (
    AccountFactory,
    CallFactory,
    ContactFactory,
    DealFactory,
    DocumentFactory,
    EmailFactory,
    NoteFactory,
    PhoneNumberFactory,
    QuoteFactory,
    SmsMessageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(company_a, user_a):
    """A's account with one contact and one deal of theirs, and one entry of every type about them."""
    account = AccountFactory(company=company_a, owner=user_a, name="Initech")
    contact = ContactFactory(company=company_a, account=account, first_name="Grace", last_name="Hopper")
    deal = DealFactory(company=company_a, account=account, contact=contact, name="Renewal", stage="lead")
    number = PhoneNumberFactory(company=company_a, user=user_a)
    CallFactory(company=company_a, phone_number=number, contact=contact)
    SmsMessageFactory(company=company_a, phone_number=number, contact=contact, body="See you at ten")
    EmailFactory(company=company_a, contact=contact, subject="Our proposal")
    DocumentFactory(file__company=company_a, contact=contact, deal=deal, name="Master agreement")
    QuoteFactory(company=company_a, deal=deal, contact=contact, account=account, title="Year two")
    client = bearer_client(user_a)
    assert client.patch(f"/api/deals/{deal.pk}", {"stage": "proposal"}, format="json").status_code == 200
    note = client.post(
        "/api/notes", {"body": "Wants a pilot first.", "contact": str(contact.pk)}, format="json"
    )
    assert note.status_code == 201, note.content
    return {"account": account, "contact": contact, "deal": deal, "client": client}


def timeline(client, path, **params):
    response = client.get(f"{path}/timeline", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_contacts_timeline_holds_every_type_newest_first(record):
    """Calls, texts, e-mails, documents, quotes, the deal's stage change and notes, with summaries."""
    body = timeline(record["client"], f"/api/contacts/{record['contact'].pk}")
    entries = body["results"]
    assert [entry["type"] for entry in entries] == [
        "note",
        "stage_change",
        "quote",
        "document",
        "email",
        "sms",
        "call",
    ]
    assert body["count"] == 7
    summaries = {entry["type"]: entry["summary"] for entry in entries}
    assert summaries["note"] == "Wants a pilot first."
    assert summaries["stage_change"] == "Renewal: lead → proposal"
    assert summaries["sms"] == "outbound text, sent: See you at ten"
    assert summaries["email"] == "E-mail, sent: Our proposal"
    assert summaries["document"] == "Document Master agreement, draft"
    assert summaries["quote"].startswith("Quote #") and "Year two" in summaries["quote"]
    assert summaries["call"].startswith("outbound call, completed: ")
    times = [entry["occurred_at"] for entry in entries]
    assert times == sorted(times, reverse=True)


def test_a_deal_and_an_account_show_what_concerns_them(record):
    """The deal shows its document, quote and stage change; the account everything of its contact and deal."""
    deal_types = [e["type"] for e in timeline(record["client"], f"/api/deals/{record['deal'].pk}")["results"]]
    assert deal_types == ["stage_change", "quote", "document"]
    account = timeline(record["client"], f"/api/accounts/{record['account'].pk}")["results"]
    assert sorted(entry["type"] for entry in account) == sorted(
        ["note", "stage_change", "quote", "document", "email", "sms", "call"]
    )


def test_another_companys_record_has_no_timeline(record, client_b, company_b):
    """B gets 404 for A's contact, account and deal timelines, exactly like a missing record."""
    for kind in ("contacts", "accounts", "deals"):
        record_id = record[kind.removesuffix("s")].pk
        response = client_b.get(f"/api/{kind}/{record_id}/timeline")
        assert response.status_code == 404
        assert "Grace" not in response.content.decode()
    own = ContactFactory(company=company_b)
    assert client_b.get(f"/api/contacts/{own.pk}/timeline").json()["count"] == 0


def test_a_deleted_entry_leaves_the_timeline(record):
    """A soft-deleted note is no longer listed."""
    client, contact = record["client"], record["contact"]
    note_id = next(
        e["id"] for e in timeline(client, f"/api/contacts/{contact.pk}")["results"] if e["type"] == "note"
    )
    assert client.delete(f"/api/notes/{note_id}").status_code == 204
    assert "note" not in {e["type"] for e in timeline(client, f"/api/contacts/{contact.pk}")["results"]}


def test_the_timeline_pages_newest_first(record, company_a):
    """Pages follow one order; page 2 continues where page 1 stopped."""
    contact = record["contact"]
    for number in range(5):
        NoteFactory(company=company_a, contact=contact, body=f"Note {number}")
    path = f"/api/contacts/{contact.pk}"
    first = timeline(record["client"], path, page_size=3)
    second = timeline(record["client"], path, page_size=3, page=2)
    assert [e["summary"] for e in first["results"]] == ["Note 4", "Note 3", "Note 2"]
    assert second["results"][0]["summary"] == "Note 1"
    assert first["count"] == 12 and first["next"] is not None


def test_the_timeline_costs_the_same_queries_for_one_entry_and_thirty(
    company_a, user_a, django_assert_max_num_queries
):
    """A page of 30 entries of every type takes no more queries than a page of one."""
    client = bearer_client(user_a)
    contact = ContactFactory(company=company_a)
    NoteFactory(company=company_a, contact=contact)
    with CaptureQueriesContext(connection) as one:
        assert timeline(client, f"/api/contacts/{contact.pk}")["count"] == 1
    number = PhoneNumberFactory(company=company_a, user=user_a)
    for _ in range(6):
        NoteFactory(company=company_a, contact=contact)
        CallFactory(company=company_a, phone_number=number, contact=contact)
        SmsMessageFactory(company=company_a, phone_number=number, contact=contact)
        EmailFactory(company=company_a, contact=contact)
        DocumentFactory(file__company=company_a, contact=contact)
    with django_assert_max_num_queries(len(one)):
        assert timeline(client, f"/api/contacts/{contact.pk}")["count"] == 31


def test_every_domain_app_subscribes_its_entries():
    """The apps above the sales core subscribe their sources; the sales core imports none of them."""
    assert {source.type for source in timeline_sources()} == {
        "note",
        "stage_change",
        "call",
        "sms",
        "email",
        "document",
        "quote",
    }

"""Notes about a contact, an account or a deal: written by the signed-in user, about exactly one record."""

import pytest

from crm.models import Note

from ..factories import ContactFactory, DealFactory, NoteFactory
from ..unscoped import stored

pytestmark = pytest.mark.django_db


def test_a_note_is_written_by_the_signed_in_user_about_one_record(client_a, user_a, company_a, company_b):
    """The author comes from the token, never the body; the note names its one record."""
    contact = ContactFactory(company=company_a)
    response = client_a.post(
        "/api/notes", {"body": "Call back Friday.", "contact": str(contact.pk), "user": "x"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["user"], body["contact"], body["account"], body["deal"]) == (
        str(user_a.pk),
        str(contact.pk),
        None,
        None,
    )
    assert stored(Note, body["id"]).company_id == company_a.pk


@pytest.mark.parametrize("targets", [{}, {"contact": True, "deal": True}], ids=["none", "two"])
def test_a_note_about_no_record_or_two_is_a_400(client_a, company_a, company_b, targets):
    """Naming no record, or two, is a 400 that stores nothing."""
    deal = DealFactory(account__company=company_a)
    payload = {"body": "Orphan"}
    if targets.get("contact"):
        payload["contact"] = str(deal.contact_id)
    if targets.get("deal"):
        payload["deal"] = str(deal.pk)
    response = client_a.post("/api/notes", payload, format="json")
    assert response.status_code == 400
    assert "exactly one" in response.json()["detail"]
    assert client_a.get("/api/notes").json()["count"] == 0


def test_notes_filter_by_record_and_stay_in_their_company(client_a, client_b, company_a, company_b):
    """`?contact=` narrows the list; B sees none of A's notes and cannot point a note at A's contact."""
    mine, other = NoteFactory(company=company_a), NoteFactory(company=company_a)
    listed = client_a.get("/api/notes", {"contact": str(mine.contact_id)}).json()["results"]
    assert [row["id"] for row in listed] == [str(mine.pk)]
    assert client_b.get("/api/notes").json()["count"] == 0
    foreign = client_b.post("/api/notes", {"body": "x", "contact": str(other.contact_id)}, format="json")
    assert foreign.status_code == 400 and "contact" in foreign.json()


def test_changing_a_note_changes_its_text_and_never_its_record(client_a, company_a, company_b):
    """A PATCH changes the body; naming a record in it is a 400 on that field, and nothing changes."""
    note = NoteFactory(company=company_a, body="Before")
    deal = DealFactory(account__company=company_a)
    assert client_a.patch(f"/api/notes/{note.pk}", {"body": "After"}, format="json").json()["body"] == "After"
    response = client_a.patch(f"/api/notes/{note.pk}", {"deal": str(deal.pk)}, format="json")
    assert response.status_code == 400
    assert response.json() == {"deal": ["A note stays with the record it is about."]}
    assert (stored(Note, note.pk).deal_id, stored(Note, note.pk).contact_id) == (None, note.contact_id)


def test_a_changed_note_is_answered_as_the_schema_says(client_a, company_a, company_b):
    """A note names one record; the answer's other two relations are null, and the schema allows it."""
    note = NoteFactory(company=company_a, body="Before")
    schema = client_a.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    answer = client_a.patch(f"/api/notes/{note.pk}", {"body": "After"}, format="json").json()

    component = schema["components"]["schemas"]["NoteChange"]
    for name in ("contact", "account", "deal"):
        assert answer[name] is None or name == "contact"
        assert component["properties"][name].get("nullable") is True, name

"""Isolation-matrix registration of /api/notes."""

from crm.models import Note

from ..factories import ContactFactory, NoteFactory
from ..isolation import Registration


def note_payload(company) -> dict:
    """A note about a contact of the company."""
    return {"body": "Prefers calls after lunch.", "contact": str(ContactFactory(company=company).id)}


REGISTRATIONS = {Note: Registration(NoteFactory, note_payload)}

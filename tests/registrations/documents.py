"""Isolation-matrix registration of /api/documents (a document is built on a file of its company)."""

from documents.models import Document

from ..factories import ContactFactory, DealFactory, DocumentFactory, FileFactory
from ..isolation import Registration


def document_payload(company) -> dict:
    deal = DealFactory(company=company, account__company=company)
    return {
        "name": "Master services agreement",
        "file": str(FileFactory(company=company, content=b"%PDF-1.4 agreement").id),
        "contact": str(ContactFactory(company=company).id),
        "deal": str(deal.id),
        "message": "Please sign by Friday.",
    }


REGISTRATIONS = {
    Document: Registration(
        DocumentFactory, document_payload, owned_by=lambda company: {"file__company": company}
    )
}

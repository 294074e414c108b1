"""Deterministic demo documents: a draft, one signed by all, one half-signed, one declined.

Their signing links are random and e-mailed to nobody, so no demo link can be opened; send a
draft from the API or the admin to try signing.
"""

import hashlib
import random
from datetime import UTC, datetime, timedelta

from crm.demo import seeded_uuid
from crm.models import Contact
from files import services as file_services
from files.demo import agreement_pdf, nda_text

from .models import Document, DocumentSignature

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
# Documentation addresses (RFC 5737) and a common browser, for the demo audit trails.
SIGNER_IPS = ["203.0.113.10", "198.51.100.23", "192.0.2.77"]
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
# (document name, file, status, signer outcomes in order); a signer outcome is a signature status.
PLAN = [
    ("Mutual NDA", "nda", Document.Status.DRAFT, []),
    ("Master services agreement", "msa", Document.Status.COMPLETED, ["signed", "signed"]),
    ("Master services agreement (renewal)", "msa", Document.Status.SENT, ["signed", "viewed"]),
    ("Data processing addendum", "nda", Document.Status.DECLINED, ["declined", "voided"]),
]


def _token_hash(rng: random.Random) -> str:
    """The hash of a token nobody holds: demo links exist but cannot be opened."""
    return hashlib.sha256(rng.getrandbits(256).to_bytes(32, "big")).hexdigest()


def _event(name: str, at: datetime, ip: str | None, **detail) -> dict:
    return {"event": name, "at": at.isoformat(), "ip": ip, "user_agent": BROWSER if ip else "", **detail}


def seed_documents(company, users, rng: random.Random, per_company: int) -> dict[str, int]:
    """Documents for one company's contacts with their signers' trails; the caller sets the company."""
    owner = users[0]
    files = {
        "msa": file_services.store_bytes(
            agreement_pdf(company), name="master-services-agreement.pdf", user=owner, file_id=seeded_uuid(rng)
        ),
        "nda": file_services.store_bytes(
            nda_text(company), name="mutual-nda.txt", user=owner, file_id=seeded_uuid(rng)
        ),
    }
    contacts = list(Contact.objects.exclude(email="").order_by("email")[: len(PLAN) + 1])
    documents, signatures = [], []
    for n, (name, file_key, status, outcomes) in enumerate(PLAN):
        file = files[file_key]
        contact = contacts[n] if n < len(contacts) else None
        sent_at = NOW - timedelta(days=30 - 7 * n) if outcomes else None
        document = Document(
            id=seeded_uuid(rng),
            company=company,
            user=owner,
            name=name,
            file=file,
            contact=contact,
            status=status,
            message="Please review and sign at your convenience." if outcomes else "",
            sha256_at_send=file.sha256 if outcomes else "",
            sent_at=sent_at,
            expires_at=sent_at + timedelta(days=365) if sent_at else None,
        )
        signers = [contact, contacts[n + 1] if n + 1 < len(contacts) else None]
        for order, outcome in enumerate(outcomes, start=1):
            signatures.append(
                _signature(rng, company, document, order, outcome, signers[order - 1], file.sha256)
            )
        if status == Document.Status.COMPLETED:
            document.completed_at = signatures[-1].signed_at
        documents.append(document)
    Document.objects.bulk_create(documents)
    DocumentSignature.objects.bulk_create(signatures)
    return {"documents": len(documents), "document_signatures": len(signatures)}


def _signature(rng, company, document, order, outcome, contact, sha256) -> DocumentSignature:
    """One signer's record and trail, `outcome` being where their signature stands."""
    name = contact.full_name if contact is not None else f"Signer {order}"
    email = contact.email if contact is not None else f"signer{order}@{company.slug}-customer.example"
    ip = SIGNER_IPS[(order - 1) % len(SIGNER_IPS)]
    signature = DocumentSignature(
        id=seeded_uuid(rng),
        company=company,
        document=document,
        order=order,
        signer_name=name,
        signer_email=email,
        status=outcome,
    )
    if outcome == DocumentSignature.Status.VOIDED:
        signature.events = [_event("voided", document.sent_at + timedelta(days=2), None)]
        return signature
    sent = document.sent_at + timedelta(days=order - 1)
    viewed = sent + timedelta(hours=3)
    signature.token_hash = _token_hash(rng)
    signature.token_expires_at = document.expires_at
    signature.sent_at, signature.viewed_at = sent, viewed
    signature.events = [_event("sent", sent, None), _event("viewed", viewed, ip)]
    acted = viewed + timedelta(minutes=12)
    if outcome == DocumentSignature.Status.SIGNED:
        signature.signed_at = signature.token_used_at = acted
        signature.typed_name = name
        signature.document_sha256 = sha256
        signature.events.append(_event("signed", acted, ip, method="typed", sha256=sha256))
    elif outcome == DocumentSignature.Status.DECLINED:
        signature.declined_at = signature.token_used_at = acted
        signature.decline_reason = "Our legal team needs changes to section 4."
        signature.events.append(_event("declined", acted, ip, reason=signature.decline_reason))
    return signature

"""/api/documents: drafts, sending for signature in order, voiding, resending, expiry and the e-mail tasks."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from documents import services
from documents.models import Document, DocumentSignature
from documents.tasks import dispatch_overdue_documents, requeue_stalled_signature_requests
from files.services import current_sha256
from messaging.models import Email, Notification
from tenancy.context import company_context

from ..conftest import bearer_client
from ..factories import ContactFactory, DocumentFactory, DocumentSignatureFactory, FileFactory, UserFactory
from ..unscoped import as_the_platform_unaudited

SIGN_LINK = re.compile(r"(https?://\S+)/sign/([A-Za-z0-9_-]+)")
SIGNERS = [
    {"name": "Ada Lovelace", "email": "ada@customer.example"},
    {"name": "Bob Byte", "email": "bob@customer.example"},
]
OWNER_BROWSER = {"REMOTE_ADDR": "198.51.100.4", "HTTP_USER_AGENT": "OwnerBrowser/2.0"}


def signing_tokens(messages=None) -> dict[str, str]:
    """The signing tokens e-mailed so far, by recipient address (the latest per recipient)."""
    tokens = {}
    for message in mail.outbox if messages is None else messages:
        found = SIGN_LINK.search(message.body)
        if found:
            tokens[message.to[0]] = found.group(2)
    return tokens


def send(client, document, capture, signers=SIGNERS, **options):
    """POST /api/documents/{id}/send and run what is queued after commit (the e-mails)."""
    with capture(execute=True):
        return client.post(
            f"/api/documents/{document.pk}/send",
            {"signers": signers, **options},
            format="json",
            **OWNER_BROWSER,
        )


def signatures_of(document, company) -> list[DocumentSignature]:
    with company_context(company):
        return list(DocumentSignature.objects.filter(document=document).order_by("order"))


def reload(document, company) -> Document:
    with company_context(company):
        return Document.objects.get(pk=document.pk)


@pytest.fixture
def draft_a(company_a, user_a):
    return DocumentFactory(
        file__company=company_a, file__user=user_a, file__content=b"%PDF-1.4 contract A", name="Contract A"
    )


@pytest.fixture
def draft_b(company_b, user_b):
    return DocumentFactory(file__company=company_b, file__user=user_b, name="Contract B")


# Drafts


def test_create_document_links_a_file_and_contact_of_the_company(client_a, client_b, company_a, user_a):
    """A user creates a draft from a company file; it is theirs, and company B does not see it."""
    file = FileFactory(company=company_a, content=b"%PDF-1.4 offer")
    contact = ContactFactory(company=company_a)

    response = client_a.post(
        "/api/documents",
        {"name": "Offer", "file": str(file.pk), "contact": str(contact.pk), "message": "Sign please"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["user"] == str(user_a.pk)
    assert body["company"] == str(company_a.pk)
    assert body["signatures"] == []
    assert client_a.get(f"/api/documents/{body['id']}").status_code == 200
    assert client_b.get(f"/api/documents/{body['id']}").status_code == 404
    assert body["id"] not in {row["id"] for row in client_b.get("/api/documents").json()["results"]}


def test_create_document_with_another_companys_file_is_refused(client_b, company_a, company_b):
    """Company B naming company A's file id gets a 400 on `file`, and nothing is stored."""
    foreign_file = FileFactory(company=company_a)

    response = client_b.post(
        "/api/documents", {"name": "Stolen", "file": str(foreign_file.pk)}, format="json"
    )

    assert response.status_code == 400
    assert "file" in response.json()
    with company_context(company_b):
        assert not Document.objects.exists()
    with company_context(company_a):
        assert not Document.objects.exists()


def test_documents_filter_by_status(client_a, draft_a, company_a, django_capture_on_commit_callbacks):
    """?status= narrows the list to documents in that state."""
    other = DocumentFactory(file__company=company_a, name="Other")
    assert send(client_a, other, django_capture_on_commit_callbacks).status_code == 200

    drafts = client_a.get("/api/documents", {"status": "draft"}).json()["results"]
    sent = client_a.get("/api/documents", {"status": "sent"}).json()["results"]

    assert [row["id"] for row in drafts] == [str(draft_a.pk)]
    assert [row["id"] for row in sent] == [str(other.pk)]


# Sending


def test_send_fixes_the_hash_and_emails_only_the_first_signer(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks, settings
):
    """Sending fixes the file's SHA-256, orders the signers and e-mails a link to the first one only."""
    settings.PUBLIC_BASE_URL = "https://crm.example"
    before = timezone.now()

    response = send(
        client_a, draft_a, django_capture_on_commit_callbacks, expires_in_days=5, message="By Friday"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "sent"
    assert body["message"] == "By Friday"
    document = reload(draft_a, company_a)
    with company_context(company_a):
        assert (
            document.sha256_at_send
            == current_sha256(document.file)
            == hashlib.sha256(b"%PDF-1.4 contract A").hexdigest()
        )
    assert before + timedelta(days=5) <= document.expires_at <= timezone.now() + timedelta(days=5)
    first, second = signatures_of(draft_a, company_a)
    assert [(s.order, s.signer_email, s.status) for s in (first, second)] == [
        (1, "ada@customer.example", "sent"),
        (2, "bob@customer.example", "pending"),
    ]
    assert [s["signer_email"] for s in body["signatures"]] == ["ada@customer.example", "bob@customer.example"]
    assert [message.to for message in mail.outbox] == [["ada@customer.example"]]
    link = SIGN_LINK.search(mail.outbox[0].body)
    assert link.group(1) == "https://crm.example"
    assert "By Friday" in mail.outbox[0].body
    token = link.group(2)
    assert first.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert first.token_expires_at == document.expires_at
    assert second.token_hash is None
    assert first.events[0]["event"] == "sent"
    assert (first.events[0]["ip"], first.events[0]["user_agent"]) == ("198.51.100.4", "OwnerBrowser/2.0")


def test_send_defaults_to_the_configured_link_lifetime(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks, settings
):
    """Without expires_in_days, links expire after SIGNING_LINK_DAYS."""
    settings.SIGNING_LINK_DAYS = 3

    send(client_a, draft_a, django_capture_on_commit_callbacks)

    document = reload(draft_a, company_a)
    assert document.expires_at - document.sent_at == timedelta(days=3)


def test_send_without_signers_asks_the_documents_contact(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """With no signers named, the document's contact is the one signer."""
    with company_context(company_a):
        contact = draft_a.contact

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(f"/api/documents/{draft_a.pk}/send", {}, format="json")

    assert response.status_code == 200, response.content
    assert [(s.signer_name, s.signer_email) for s in signatures_of(draft_a, company_a)] == [
        (contact.full_name, contact.email)
    ]
    assert [message.to for message in mail.outbox] == [[contact.email]]


def test_a_signer_listed_twice_signs_once(client_a, draft_a, company_a, django_capture_on_commit_callbacks):
    """The same address again (any case) keeps its first place: one signature per person, not a 400."""
    again = {"name": "Ada L.", "email": SIGNERS[0]["email"].upper()}

    response = send(client_a, draft_a, django_capture_on_commit_callbacks, signers=[*SIGNERS, again])

    assert response.status_code == 200, response.content
    assert [(s.order, s.signer_name, s.signer_email) for s in signatures_of(draft_a, company_a)] == [
        (1, SIGNERS[0]["name"], SIGNERS[0]["email"]),
        (2, SIGNERS[1]["name"], SIGNERS[1]["email"]),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signers": []}, "signers"),
        ({"signers": [{"name": "Ada", "email": "not-an-address"}]}, "signers"),
        ({"signers": [{"name": "", "email": "ada@customer.example"}]}, "signers"),
        ({"signers": SIGNERS, "expires_in_days": 0}, "expires_in_days"),
        ({"signers": SIGNERS, "expires_in_days": 366}, "expires_in_days"),
    ],
)
def test_send_with_bad_input_is_refused_and_changes_nothing(
    client_a, draft_a, company_a, body, field, django_capture_on_commit_callbacks
):
    """Bad signers or deadlines are a 400 naming the field; the draft stays a draft and no one is e-mailed."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(f"/api/documents/{draft_a.pk}/send", body, format="json")

    assert response.status_code == 400, response.content
    assert field in str(response.json())
    assert reload(draft_a, company_a).status == "draft"
    assert signatures_of(draft_a, company_a) == []
    assert mail.outbox == []


def test_only_a_draft_can_be_sent(client_a, draft_a, company_a, django_capture_on_commit_callbacks):
    """Sending a document a second time is a 409; its signers stay as they were."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    before = [(s.pk, s.status) for s in signatures_of(draft_a, company_a)]

    response = send(client_a, draft_a, django_capture_on_commit_callbacks, signers=[SIGNERS[1]])

    assert response.status_code == 409
    assert "Only a draft" in response.json()["detail"]
    assert [(s.pk, s.status) for s in signatures_of(draft_a, company_a)] == before
    assert len(mail.outbox) == 1


def test_a_draft_whose_stored_file_is_gone_is_a_409_and_stays_a_draft(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """Bytes lost from storage are named, not a 500; nothing is sent."""
    from files.services import storage

    storage().delete(draft_a.file.storage_key)

    response = send(client_a, draft_a, django_capture_on_commit_callbacks)

    assert response.status_code == 409, response.content
    assert "missing" in response.json()["detail"]
    assert reload(draft_a, company_a).status == "draft"
    assert signatures_of(draft_a, company_a) == []
    assert mail.outbox == []


def test_a_constraint_the_services_did_not_foresee_is_a_409_not_a_500(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """A draft left with a signature in slot 1 (never made by the API) collides on send: 409, no change."""
    DocumentSignatureFactory(company=company_a, document=draft_a, order=1)

    response = send(client_a, draft_a, django_capture_on_commit_callbacks)

    assert response.status_code == 409, response.content
    assert "conflicts" in response.json()["detail"]
    assert reload(draft_a, company_a).status == "draft"
    assert mail.outbox == []


def test_sent_document_file_cannot_change_but_its_name_can(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """Swapping the file of a sent document is refused; renaming it is fine."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    other_file = FileFactory(company=company_a, content=b"other terms")

    swapped = client_a.patch(f"/api/documents/{draft_a.pk}", {"file": str(other_file.pk)}, format="json")
    renamed = client_a.patch(f"/api/documents/{draft_a.pk}", {"name": "Contract A (final)"}, format="json")

    assert swapped.status_code == 400
    assert "file" in swapped.json()
    document = reload(draft_a, company_a)
    assert document.file_id == draft_a.file_id
    assert renamed.status_code == 200
    assert document.name == "Contract A (final)"
    assert document.status == "sent"


def test_a_drafts_file_can_change(client_a, draft_a, company_a):
    """Before sending, the file may be replaced."""
    other_file = FileFactory(company=company_a, content=b"revised terms")

    response = client_a.patch(f"/api/documents/{draft_a.pk}", {"file": str(other_file.pk)}, format="json")

    assert response.status_code == 200
    assert reload(draft_a, company_a).file_id == other_file.pk


# Isolation of the custom actions


@pytest.mark.parametrize("action", ["send", "void", "resend"])
def test_another_company_cannot_act_on_a_document(
    client_a, client_b, draft_a, company_a, action, django_capture_on_commit_callbacks
):
    """Company B's send, void or resend of company A's document is a 404 and changes nothing."""
    if action != "send":
        send(client_a, draft_a, django_capture_on_commit_callbacks)
    before_document = reload(draft_a, company_a)
    before = [(s.pk, s.status, s.token_hash) for s in signatures_of(draft_a, company_a)]
    sent_mail = len(mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_b.post(f"/api/documents/{draft_a.pk}/{action}", {"signers": SIGNERS}, format="json")

    assert response.status_code == 404
    after = reload(draft_a, company_a)
    assert (after.status, after.sha256_at_send, after.updated_at) == (
        before_document.status,
        before_document.sha256_at_send,
        before_document.updated_at,
    )
    assert [(s.pk, s.status, s.token_hash) for s in signatures_of(draft_a, company_a)] == before
    assert len(mail.outbox) == sent_mail


def test_another_company_cannot_read_the_signatures(
    client_a, client_b, draft_a, django_capture_on_commit_callbacks
):
    """GET /api/documents/{id}/signatures answers company A, and 404 to company B."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)

    own = client_a.get(f"/api/documents/{draft_a.pk}/signatures")
    foreign = client_b.get(f"/api/documents/{draft_a.pk}/signatures")

    assert own.status_code == 200
    assert [row["signer_email"] for row in own.json()] == ["ada@customer.example", "bob@customer.example"]
    assert own.json()[0]["events"][0]["event"] == "sent"
    assert foreign.status_code == 404


def test_no_response_reveals_a_token_hash(client_a, draft_a, django_capture_on_commit_callbacks):
    """Neither the document nor its signatures expose what is stored of a link."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)

    bodies = [
        client_a.get(f"/api/documents/{draft_a.pk}").content,
        client_a.get(f"/api/documents/{draft_a.pk}/signatures").content,
        client_a.get("/api/documents").content,
    ]

    for body in bodies:
        assert b"token_hash" not in body


# Voiding, resending, deleting


def test_owner_voids_a_sent_document_and_its_links_stop_working(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """Voiding marks the document and every outstanding signature voided; the e-mailed link answers 410."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    token = signing_tokens()["ada@customer.example"]

    response = client_a.post(f"/api/documents/{draft_a.pk}/void", {"reason": "Wrong price"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "voided"
    assert [s.status for s in signatures_of(draft_a, company_a)] == ["voided", "voided"]
    assert signatures_of(draft_a, company_a)[0].events[-1]["reason"] == "Wrong price"
    assert client_a.get(f"/api/public/signatures/{token}").status_code == 410
    assert client_a.post(f"/api/public/signatures/{token}/sign", {"typed_name": "Ada"}).status_code == 410


def test_a_member_who_does_not_own_the_document_cannot_void_it(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """Only the document's owner or a company owner or admin voids; another member gets 403."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    member = bearer_client(UserFactory(company=company_a, role="member"))

    response = member.post(f"/api/documents/{draft_a.pk}/void", {}, format="json")

    assert response.status_code == 403
    assert reload(draft_a, company_a).status == "sent"
    assert [s.status for s in signatures_of(draft_a, company_a)] == ["sent", "pending"]


def test_a_draft_cannot_be_voided(client_a, draft_a, company_a):
    """Voiding is for documents out for signature; a draft's void is a 409."""
    response = client_a.post(f"/api/documents/{draft_a.pk}/void", {}, format="json")

    assert response.status_code == 409
    assert reload(draft_a, company_a).status == "draft"


def test_resend_emails_a_new_link_and_retires_the_old_one(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """Resending e-mails the current signer a fresh link; the previous link is no longer known."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    old = signing_tokens()["ada@customer.example"]

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(f"/api/documents/{draft_a.pk}/resend", format="json")

    assert response.status_code == 200, response.content
    new = signing_tokens()["ada@customer.example"]
    assert new != old
    assert [message.to for message in mail.outbox] == [["ada@customer.example"], ["ada@customer.example"]]
    assert client_a.get(f"/api/public/signatures/{old}").status_code == 404
    assert client_a.get(f"/api/public/signatures/{new}").status_code == 200
    assert [e["event"] for e in signatures_of(draft_a, company_a)[0].events] == ["sent", "resent", "viewed"]


def test_deleting_a_sent_document_voids_it_and_hides_its_link(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """DELETE of a sent document voids its signatures and soft-deletes it; its link answers 404."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    token = signing_tokens()["ada@customer.example"]

    response = client_a.delete(f"/api/documents/{draft_a.pk}")

    assert response.status_code == 204
    with company_context(company_a):
        stored = Document.objects.including_deleted().get(pk=draft_a.pk)
    assert (stored.is_deleted, stored.status) == (True, "voided")
    assert [s.status for s in signatures_of(draft_a, company_a)] == ["voided", "voided"]
    assert client_a.get(f"/api/public/signatures/{token}").status_code == 404


def test_a_member_cannot_delete_a_colleagues_document_out_for_signature(company_a, user_a):
    """Deleting a sent document voids its links, so only its owner or a manager may do it."""
    document = DocumentFactory(file__company=company_a, user=user_a, status=Document.Status.SENT)
    member = bearer_client(UserFactory(company=company_a, role="member"))

    assert member.delete(f"/api/documents/{document.id}").status_code == 403
    with company_context(company_a):
        assert Document.objects.get(pk=document.pk).status == Document.Status.SENT


# The e-mail task, the outbox and expiry


def test_a_redelivered_request_task_sends_one_email(
    client_a, draft_a, company_a, django_capture_on_commit_callbacks
):
    """The signing link is e-mailed once however often its task runs."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    first = signatures_of(draft_a, company_a)[0]

    with company_context(company_a):
        again = services.deliver_signature_request(first.pk)

    assert again is False
    assert len(mail.outbox) == 1
    assert signatures_of(draft_a, company_a)[0].token_hash == first.token_hash


class FailingBackend:
    """An e-mail backend whose server refuses every message."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server refused the connection")


def test_a_failed_request_email_is_recorded_and_the_owner_told(
    client_a, draft_a, company_a, user_a, settings, django_capture_on_commit_callbacks
):
    """When the link cannot be e-mailed, the signature records why and the owner is notified to resend."""
    settings.EMAIL_BACKEND = "tests.documents.test_documents.FailingBackend"

    send(client_a, draft_a, django_capture_on_commit_callbacks)

    first = signatures_of(draft_a, company_a)[0]
    assert first.events[-1]["event"] == "email_failed"
    assert "refused" in first.events[-1]["error"]
    with company_context(company_a):
        notice = Notification.objects.get(user=user_a)
    assert notice.kind == Notification.Kind.SEND_FAILED
    assert "ada@customer.example" in notice.title

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        assert client_a.post(f"/api/documents/{draft_a.pk}/resend").status_code == 200
    assert [message.to for message in mail.outbox] == [["ada@customer.example"]]


def test_the_outbox_requeues_a_turn_never_emailed(company_a, company_b, settings):
    """A signer's turn recorded but never e-mailed (broker down) is e-mailed by the outbox job, once."""
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 60
    stalled = {}
    for company in (company_a, company_b):
        document = DocumentFactory(
            file__company=company, status="sent", expires_at=timezone.now() + timedelta(days=3)
        )
        stalled[company] = DocumentSignatureFactory(document=document, order=1, status="sent")
        with company_context(company):
            DocumentSignature.objects.filter(pk=stalled[company].pk).update(
                updated_at=timezone.now() - timedelta(minutes=5)
            )

    assert requeue_stalled_signature_requests() == 2
    assert requeue_stalled_signature_requests() == 0

    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        s.signer_email for s in stalled.values()
    )


def test_overdue_documents_expire_in_their_own_company_only(
    company_a, company_b, user_a, user_b, django_capture_on_commit_callbacks
):
    """The expiry job expires company A's overdue document and leaves company B's current one alone."""
    overdue = DocumentFactory(
        file__company=company_a,
        file__user=user_a,
        status="sent",
        expires_at=timezone.now() - timedelta(hours=1),
    )
    current = DocumentFactory(
        file__company=company_b,
        file__user=user_b,
        status="sent",
        expires_at=timezone.now() + timedelta(days=1),
    )
    DocumentSignatureFactory(document=overdue, order=1, status="viewed")
    DocumentSignatureFactory(document=current, order=1, status="sent")

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_overdue_documents() == 1

    assert reload(overdue, company_a).status == "expired"
    assert [s.status for s in signatures_of(overdue, company_a)] == ["expired"]
    assert reload(current, company_b).status == "sent"
    assert [s.status for s in signatures_of(current, company_b)] == ["sent"]
    with company_context(company_a):
        assert Notification.objects.filter(user=user_a, title__contains="expired").exists()
    with company_context(company_b):
        assert not Notification.objects.exists()


def test_completion_accepts_the_quote_sent_for_signature(
    client_a, company_a, user_a, django_capture_on_commit_callbacks
):
    """A quote sent for signature through documents becomes accepted, and its deal won, once signed."""
    from quotes import services as quote_services
    from quotes.models import Quote

    from ..factories import DealFactory, QuoteLineItemFactory

    deal = DealFactory(company=company_a, account__company=company_a, contact__email="buyer@customer.example")
    quote = QuoteLineItemFactory(
        quote__deal=deal, quote__valid_until=timezone.now().date() + timedelta(days=30)
    ).quote
    with company_context(company_a), django_capture_on_commit_callbacks(execute=True):
        quote = quote_services.send_for_signature(quote, user=user_a)
    token = signing_tokens()["buyer@customer.example"]

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            f"/api/public/signatures/{token}/sign", {"typed_name": "Buyer"}, format="json"
        )

    assert response.status_code == 200, response.content
    with company_context(company_a):
        quote = Quote.objects.select_related("deal", "document").get(pk=quote.pk)
    assert quote.document.status == "completed"
    assert quote.status == "accepted"
    assert quote.deal.stage == "won"


def test_completion_emails_the_owner(
    client_a, draft_a, company_a, user_a, django_capture_on_commit_callbacks
):
    """The owner's completion notice is also an e-mail, recorded in the e-mail log before it is sent."""
    send(client_a, draft_a, django_capture_on_commit_callbacks, signers=[SIGNERS[0]])
    token = signing_tokens()["ada@customer.example"]

    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(f"/api/public/signatures/{token}/sign", {"typed_name": "Ada Lovelace"}, format="json")

    with company_context(company_a):
        email = Email.objects.get(to_email=user_a.email)
    assert email.status == Email.Status.SENT
    assert "Contract A" in email.subject
    assert [message.to for message in mail.outbox][-1] == [user_a.email]


# Admin


def staff_browser(user):
    from django.test import Client

    user.is_staff = True
    with as_the_platform_unaudited():
        user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


def test_admin_lists_only_the_companys_documents_and_their_signers(
    client_a, draft_a, draft_b, user_a, company_a, django_capture_on_commit_callbacks
):
    """Company A's staff see A's documents and signers in the admin, never company B's."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    admin = staff_browser(user_a)

    documents = admin.get("/admin/documents/document/").content.decode()
    signatures = admin.get("/admin/documents/documentsignature/").content.decode()
    change = admin.get(f"/admin/documents/document/{draft_a.pk}/change/")
    foreign = admin.get(f"/admin/documents/document/{draft_b.pk}/change/", follow=True)

    assert "Contract A" in documents and "Contract B" not in documents
    assert "ada@customer.example" in signatures
    assert change.status_code == 200
    assert "ada@customer.example" in change.content.decode()
    assert admin.get("/admin/documents/document/add/").status_code == 200
    assert foreign.redirect_chain == [("/admin/", 302)]
    assert "Contract B" not in foreign.content.decode()


def test_admin_keeps_signatures_and_a_sent_file_read_only(
    client_a, draft_a, user_a, company_a, django_capture_on_commit_callbacks
):
    """A signature cannot be edited in the admin, nor the file of a sent document."""
    send(client_a, draft_a, django_capture_on_commit_callbacks)
    admin = staff_browser(user_a)
    ada = signatures_of(draft_a, company_a)[0]

    response = admin.post(
        f"/admin/documents/documentsignature/{ada.pk}/change/", {"status": "signed", "typed_name": "Forged"}
    )
    form = admin.get(f"/admin/documents/document/{draft_a.pk}/change/").context["adminform"].form

    assert response.status_code == 403
    assert signatures_of(draft_a, company_a)[0].status == "sent"
    assert "file" not in form.fields

"""The public signing link: the HTML page and /api/public/signatures/<token>, with no login.

A link grants its one signature and nothing else, once, until its deadline.
"""

import base64
import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from documents.models import Document, DocumentSignature
from files.services import storage
from messaging.models import Notification
from tenancy.context import company_context

from ..factories import DocumentFactory, DocumentSignatureFactory
from ..unscoped import audit_entries
from .test_documents import reload, send, signatures_of, signing_tokens

SIGNER_BROWSER = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "SignerBrowser/1.0"}
# The smallest valid PNG: a 1x1 transparent pixel.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def public():
    """An anonymous API client from the signer's browser."""
    return APIClient(**SIGNER_BROWSER)


@pytest.fixture
def sent_a(client_a, company_a, user_a, django_capture_on_commit_callbacks):
    """Company A's contract sent to Ada then Bob; Ada's link is in her mailbox."""
    document = DocumentFactory(
        file__company=company_a,
        file__user=user_a,
        file__content=b"%PDF-1.4 contract A",
        name="Contract A",
        message="Please sign by Friday.",
    )
    response = send(client_a, document, django_capture_on_commit_callbacks)
    assert response.status_code == 200, response.content
    return document


@pytest.fixture
def token_a(sent_a):
    return signing_tokens()["ada@customer.example"]


@pytest.fixture
def sent_b(client_b, company_b, user_b, django_capture_on_commit_callbacks):
    """Company B's offer sent to Carol alone."""
    document = DocumentFactory(
        file__company=company_b, file__user=user_b, file__content=b"%PDF-1.4 offer B", name="Offer B"
    )
    signers = [{"name": "Carol", "email": "carol@b-customer.example"}]
    assert send(client_b, document, django_capture_on_commit_callbacks, signers=signers).status_code == 200
    return document


def sign(public, token, capture, **body):
    with capture(execute=True):
        return public.post(
            f"/api/public/signatures/{token}/sign", body or {"typed_name": "Ada Lovelace"}, format="json"
        )


def signing_state(document, company) -> list[tuple]:
    """What a refused request must not change: every signature's state, plus the document's."""
    return [
        (s.pk, s.status, s.token_used_at, s.typed_name, len(s.events))
        for s in signatures_of(document, company)
    ] + [reload(document, company).status]


def csrf_of(page) -> str:
    """The CSRF token of the page's forms."""
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


# The page


def test_the_signing_page_shows_the_document_and_records_the_first_view(token_a, sent_a, company_a):
    """GET /sign/<token> shows company, document, signer, message and forms; the first view is recorded."""
    page = Client(**SIGNER_BROWSER).get(f"/sign/{token_a}")
    Client(**SIGNER_BROWSER).get(f"/sign/{token_a}")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Company A" in html
    assert "Contract A" in html
    assert "Ada Lovelace" in html
    assert "Please sign by Friday." in html
    assert f'href="/api/public/signatures/{token_a}/document"' in html
    assert 'name="typed_name"' in html and 'value="decline"' in html
    assert "<canvas" in html
    assert page["Cache-Control"].startswith("max-age=0") or "no-cache" in page["Cache-Control"]
    ada = signatures_of(sent_a, company_a)[0]
    assert ada.status == "viewed"
    assert [e["event"] for e in ada.events] == ["sent", "viewed"]
    assert (ada.events[1]["ip"], ada.events[1]["user_agent"]) == ("203.0.113.9", "SignerBrowser/1.0")


def test_a_typed_name_form_post_signs_without_javascript(
    token_a, sent_a, company_a, django_capture_on_commit_callbacks
):
    """The plain HTML form, with Django's CSRF token, signs with a typed name and shows the signed state."""
    browser = Client(enforce_csrf_checks=True, **SIGNER_BROWSER)
    csrf = csrf_of(browser.get(f"/sign/{token_a}"))

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            f"/sign/{token_a}",
            {"csrfmiddlewaretoken": csrf, "action": "sign", "typed_name": "Ada Lovelace", "agree": "yes"},
        )

    assert response.status_code == 302
    ada, bob = signatures_of(sent_a, company_a)
    assert (ada.status, ada.typed_name, ada.signature_image) == ("signed", "Ada Lovelace", "")
    assert ada.document_sha256 == reload(sent_a, company_a).sha256_at_send
    assert ada.token_used_at is not None
    assert (ada.events[-1]["event"], ada.events[-1]["ip"], ada.events[-1]["user_agent"]) == (
        "signed",
        "203.0.113.9",
        "SignerBrowser/1.0",
    )
    assert bob.status == "sent"
    after = browser.get(response["Location"])
    assert after.status_code == 200
    assert "You signed this document" in after.content.decode()
    assert 'value="sign"' not in after.content.decode()


def test_the_form_without_a_csrf_token_is_refused(token_a, sent_a, company_a):
    """A cross-site form post (no CSRF token) signs nothing."""
    before = signing_state(sent_a, company_a)

    response = Client(enforce_csrf_checks=True).post(
        f"/sign/{token_a}", {"action": "sign", "typed_name": "Ada", "agree": "yes"}
    )

    assert response.status_code == 403
    assert signing_state(sent_a, company_a) == before


def test_the_page_keeps_its_link_on_the_site_yet_lets_the_browser_send_its_origin(token_a, sent_a):
    """Referrer-Policy same-origin: no Referer to another site, a real Origin on the page's own forms."""
    page = Client(**SIGNER_BROWSER).get(f"/sign/{token_a}")

    assert page["Referrer-Policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in page.content.decode()


@pytest.mark.parametrize("action", ["sign", "decline"])
def test_the_form_posted_from_the_page_with_its_origin_is_accepted(
    action, token_a, sent_a, company_a, django_capture_on_commit_callbacks
):
    """A browser posts the page's forms with Origin: the page's own; Django's CSRF check accepts it."""
    browser = Client(enforce_csrf_checks=True, **SIGNER_BROWSER)
    csrf = csrf_of(browser.get(f"/sign/{token_a}"))

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            f"/sign/{token_a}",
            {"csrfmiddlewaretoken": csrf, "action": action, "typed_name": "Ada Lovelace", "agree": "yes"},
            HTTP_ORIGIN="http://testserver",
        )

    assert response.status_code == 302
    assert signatures_of(sent_a, company_a)[0].status == {"sign": "signed", "decline": "declined"}[action]


@pytest.mark.parametrize("origin", ["https://attacker.example", "http://testserver.attacker.example", "null"])
def test_the_form_posted_from_another_origin_is_refused(origin, token_a, sent_a, company_a):
    """Another site (or an opaque origin) posting the form with a valid token and cookie signs nothing."""
    browser = Client(enforce_csrf_checks=True, **SIGNER_BROWSER)
    csrf = csrf_of(browser.get(f"/sign/{token_a}"))
    before = signing_state(sent_a, company_a)

    response = browser.post(
        f"/sign/{token_a}",
        {"csrfmiddlewaretoken": csrf, "action": "sign", "typed_name": "Ada", "agree": "yes"},
        HTTP_ORIGIN=origin,
    )

    assert response.status_code == 403
    assert signing_state(sent_a, company_a) == before


def test_the_form_needs_the_agreement_ticked(token_a, sent_a, company_a):
    """Signing through the page without agreeing to sign electronically is a 400 that signs nothing."""
    Client().get(f"/sign/{token_a}")
    before = signing_state(sent_a, company_a)

    response = Client().post(f"/sign/{token_a}", {"action": "sign", "typed_name": "Ada"})

    assert response.status_code == 400
    assert "agree to sign" in response.content.decode()
    assert signing_state(sent_a, company_a) == before


def test_the_decline_form_declines(token_a, sent_a, company_a, django_capture_on_commit_callbacks):
    """The page's decline form declines with the reason given."""
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(f"/sign/{token_a}", {"action": "decline", "reason": "Price too high"})

    assert response.status_code == 302
    ada, _ = signatures_of(sent_a, company_a)
    assert (ada.status, ada.decline_reason) == ("declined", "Price too high")
    assert "You declined" in Client().get(f"/sign/{token_a}").content.decode()


def test_an_unknown_link_page_is_a_plain_404(db):
    """A made-up token shows a 404 page that says nothing about why."""
    response = Client().get("/sign/" + "x" * 43)

    assert response.status_code == 404
    assert "not valid" in response.content.decode()


# The JSON endpoints


def test_public_json_shows_the_one_signature(public, token_a, sent_a):
    """GET /api/public/signatures/<token> answers the document name, the signer, status and deadline."""
    response = public.get(f"/api/public/signatures/{token_a}")

    assert response.status_code == 200
    body = response.json()
    assert body["document_name"] == "Contract A"
    assert body["company_name"] == "Company A"
    assert (body["signer_name"], body["signer_email"], body["order"], body["signers"]) == (
        "Ada Lovelace",
        "ada@customer.example",
        1,
        2,
    )
    assert body["status"] == "viewed"
    assert body["expires_at"]
    assert response["Cache-Control"] == "no-store"
    assert "bob@customer.example" not in response.content.decode()


def test_the_document_bytes_are_served_to_the_signer(public, token_a):
    """The link reads its document's own file, inline, sandboxed."""
    response = public.get(f"/api/public/signatures/{token_a}/document")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 contract A"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Security-Policy"] == "sandbox"


def test_signing_with_a_drawn_image(public, token_a, sent_a, company_a, django_capture_on_commit_callbacks):
    """A PNG data URL is accepted as the signature and stored."""
    image = "data:image/png;base64," + base64.b64encode(PIXEL_PNG).decode()

    response = sign(public, token_a, django_capture_on_commit_callbacks, signature_image=image)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "signed"
    ada = signatures_of(sent_a, company_a)[0]
    assert ada.signature_image == image
    assert ada.events[-1]["method"] == "drawn"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"typed_name": "   "},
        {"signature_image": "data:image/jpeg;base64,/9j/4AAQ"},
        {"signature_image": "data:image/png;base64,not base64!"},
        {"signature_image": "data:image/png;base64," + base64.b64encode(b"GIF89a" + b"0" * 10).decode()},
        {"signature_image": "data:image/png;base64," + base64.b64encode(PIXEL_PNG + b"0" * 300_000).decode()},
    ],
)
def test_signing_without_a_valid_signature_is_refused(public, token_a, sent_a, company_a, body):
    """No name and no image, or an image that is not a small PNG, is a 400 that signs nothing."""
    public.get(f"/api/public/signatures/{token_a}")
    before = signing_state(sent_a, company_a)

    response = public.post(f"/api/public/signatures/{token_a}/sign", body, format="json")

    assert response.status_code == 400, response.content
    assert signing_state(sent_a, company_a) == before


# Order, completion and decline


def test_signers_sign_in_order_and_the_owner_hears_when_all_signed(
    public, token_a, sent_a, company_a, user_a, django_capture_on_commit_callbacks
):
    """Bob is e-mailed only once Ada signed; when Bob signs the document completes and its owner is told."""
    assert "bob@customer.example" not in signing_tokens()

    assert sign(public, token_a, django_capture_on_commit_callbacks).status_code == 200
    bob_token = signing_tokens()["bob@customer.example"]
    assert reload(sent_a, company_a).status == "sent"
    with company_context(company_a):
        assert not Notification.objects.filter(user=user_a).exists()

    response = sign(public, bob_token, django_capture_on_commit_callbacks, typed_name="Bob Byte")

    assert response.status_code == 200
    document = reload(sent_a, company_a)
    assert (document.status, document.completed_at is not None) == ("completed", True)
    assert [s.status for s in signatures_of(sent_a, company_a)] == ["signed", "signed"]
    with company_context(company_a):
        notice = Notification.objects.get(user=user_a)
    assert (notice.kind, notice.target_type, notice.target_id) == ("info", "document", sent_a.pk)
    assert "Contract A" in notice.title
    assert mail.outbox[-1].to == [user_a.email]


def test_a_later_signers_link_waits_for_earlier_signers(public, company_a, user_a):
    """A link whose signer's turn has not come is a 409 and acts on nothing."""
    document = DocumentFactory(
        file__company=company_a, status="sent", expires_at=timezone.now() + timedelta(days=2)
    )
    DocumentSignatureFactory(document=document, order=1, status="sent")
    DocumentSignatureFactory(
        document=document, order=2, status="pending", token_hash=hashlib.sha256(b"later-signer").hexdigest()
    )
    before = signing_state(document, company_a)

    read = public.get("/api/public/signatures/later-signer")
    signed = public.post("/api/public/signatures/later-signer/sign", {"typed_name": "Later"}, format="json")

    assert read.status_code == signed.status_code == 409
    assert "waiting for earlier signers" in read.json()["detail"]
    assert signing_state(document, company_a) == before


def test_a_decline_voids_the_rest_and_tells_the_owner(
    public, token_a, sent_a, company_a, user_a, django_capture_on_commit_callbacks
):
    """Declining declines the document, voids the other signers and notifies the owner."""
    with django_capture_on_commit_callbacks(execute=True):
        response = public.post(
            f"/api/public/signatures/{token_a}/decline", {"reason": "Wrong price"}, format="json"
        )

    assert response.status_code == 200
    assert reload(sent_a, company_a).status == "declined"
    ada, bob = signatures_of(sent_a, company_a)
    assert (ada.status, ada.decline_reason, ada.events[-1]["event"], ada.events[-1]["ip"]) == (
        "declined",
        "Wrong price",
        "declined",
        "203.0.113.9",
    )
    assert bob.status == "voided"
    assert "bob@customer.example" not in signing_tokens()
    with company_context(company_a):
        notice = Notification.objects.get(user=user_a)
    assert "declined" in notice.title and notice.body == "Reason: Wrong price"


# Single use, expiry, tampering


def test_a_used_link_shows_its_final_state_and_does_nothing_more(
    public, token_a, sent_a, company_a, django_capture_on_commit_callbacks
):
    """After signing: GET shows signed (read-only); signing, declining and downloading again are 410."""
    assert sign(public, token_a, django_capture_on_commit_callbacks).status_code == 200
    before = signing_state(sent_a, company_a)

    shown = public.get(f"/api/public/signatures/{token_a}")
    again = sign(public, token_a, django_capture_on_commit_callbacks, typed_name="Someone else")
    declined = public.post(f"/api/public/signatures/{token_a}/decline", {}, format="json")
    downloaded = public.get(f"/api/public/signatures/{token_a}/document")

    assert (shown.status_code, shown.json()["status"]) == (200, "signed")
    assert again.status_code == declined.status_code == downloaded.status_code == 410
    assert "already been used" in again.json()["detail"]
    assert signing_state(sent_a, company_a) == before


def test_an_expired_link_is_refused_and_expires_the_document(public, token_a, sent_a, company_a, user_a):
    """After the deadline the link answers 410 and the signature and document become expired."""
    with company_context(company_a):
        Document.objects.filter(pk=sent_a.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        DocumentSignature.objects.filter(document=sent_a).update(
            token_expires_at=timezone.now() - timedelta(minutes=1)
        )

    read = public.get(f"/api/public/signatures/{token_a}")
    signed = public.post(f"/api/public/signatures/{token_a}/sign", {"typed_name": "Ada"}, format="json")
    page = Client().get(f"/sign/{token_a}")

    assert read.status_code == signed.status_code == page.status_code == 410
    assert "expired" in read.json()["detail"]
    assert reload(sent_a, company_a).status == "expired"
    assert [s.status for s in signatures_of(sent_a, company_a)] == ["expired", "expired"]
    assert all(s.signed_at is None for s in signatures_of(sent_a, company_a))


def test_a_changed_file_cannot_be_signed(public, token_a, sent_a, company_a):
    """Stored bytes that no longer match the SHA-256 fixed at sending cannot be signed (409)."""
    public.get(f"/api/public/signatures/{token_a}")
    with company_context(company_a):
        key = Document.objects.select_related("file").get(pk=sent_a.pk).file.storage_key
    with open(storage().path(key), "wb") as handle:
        handle.write(b"%PDF-1.4 contract A, now with a higher price")
    before = signing_state(sent_a, company_a)

    signed = public.post(f"/api/public/signatures/{token_a}/sign", {"typed_name": "Ada"}, format="json")
    downloaded = public.get(f"/api/public/signatures/{token_a}/document")

    assert signed.status_code == downloaded.status_code == 409
    assert "changed after it was sent" in signed.json()["detail"]
    assert signing_state(sent_a, company_a) == before
    assert signatures_of(sent_a, company_a)[0].document_sha256 == ""


# A link grants its one signature and nothing else


def test_a_link_cannot_reach_another_signature_or_company(
    public, token_a, sent_a, sent_b, company_a, company_b, django_capture_on_commit_callbacks
):
    """A's token signs only Ada's signature: not Bob's, not company B's, whatever ids or headers it sends."""
    bob = signatures_of(sent_a, company_a)[1]
    carol = signatures_of(sent_b, company_b)[0]
    before_b = signing_state(sent_b, company_b)

    for other_id in (bob.pk, carol.pk, sent_b.pk, sent_b.file_id):
        assert public.get(f"/api/public/signatures/{other_id}").status_code == 404
        assert public.post(f"/api/public/signatures/{other_id}/sign", {"typed_name": "X"}).status_code == 404
        assert public.get(f"/api/public/signatures/{other_id}/document").status_code == 404
    shown = public.get(
        f"/api/public/signatures/{token_a}", {"signature": carol.pk}, HTTP_X_COMPANY_ID=str(company_b.pk)
    )
    document = public.get(f"/api/public/signatures/{token_a}/document", {"id": sent_b.file_id})
    signed = sign(
        public,
        token_a,
        django_capture_on_commit_callbacks,
        typed_name="Ada",
        id=str(carol.pk),
        signature=str(bob.pk),
    )

    assert shown.json()["document_name"] == "Contract A"
    assert b"".join(document.streaming_content) == b"%PDF-1.4 contract A"
    assert signed.status_code == 200
    ada, bob_after = signatures_of(sent_a, company_a)
    assert (ada.status, bob_after.status, bob_after.typed_name) == ("signed", "sent", "")
    assert signing_state(sent_b, company_b) == before_b


def test_a_link_is_no_key_to_the_staff_api(token_a, sent_a):
    """The signing token is not a bearer credential: the staff API answers 401."""
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Bearer {token_a}")

    assert staff.get("/api/documents").status_code == 401
    assert staff.get(f"/api/documents/{sent_a.pk}").status_code == 401
    assert APIClient().get(f"/api/files/{sent_a.file_id}").status_code == 401


def test_the_stored_hash_is_not_a_link(public, token_a, sent_a, company_a):
    """Someone who reads the database's token_hash cannot use it as a link."""
    token_hash = signatures_of(sent_a, company_a)[0].token_hash

    assert public.get(f"/api/public/signatures/{token_hash}").status_code == 404
    assert Client().get(f"/sign/{token_hash}").status_code == 404


@pytest.mark.parametrize("token", ["x" * 43, "a", "%2e%2e", "x" * 101])
def test_unknown_or_malformed_tokens_are_404_without_reason(public, token_a, token):
    """Any token that is not a live link is a 404 with nothing but "Not found."."""
    response = public.get(f"/api/public/signatures/{token}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_signed_in_user_of_another_company_opens_the_link_as_its_signer(
    client_b, token_a, sent_a, company_a
):
    """A link works the same for a browser signed in to company B: it shows A's document, B gains nothing."""
    response = client_b.get(f"/api/public/signatures/{token_a}")

    assert response.status_code == 200
    assert response.json()["document_name"] == "Contract A"
    assert client_b.get(f"/api/documents/{sent_a.pk}").status_code == 404


def test_the_audit_log_never_stores_a_token(public, token_a):
    """Resolving a link's company is not audited at all (issue 14), so no entry can hold the token."""
    response = public.get(f"/api/public/signatures/{token_a}")

    entries = [(e.reason, e.path) for e in audit_entries()]
    assert response.status_code == 200
    assert entries == []
    assert all(token_a not in f"{reason} {path}" for reason, path in entries)

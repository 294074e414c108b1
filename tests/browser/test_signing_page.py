"""The signer's page /sign/<token> in Chromium: signing with a typed name, with a drawn one, declining.

The signer's browser follows the page's referrer policy, so its form posts carry the page's Origin;
Django's CSRF check must accept them (the test client, which sends no Origin, could not tell).
"""

import base64

import pytest
from playwright.sync_api import expect

from ..conftest import bearer_client
from ..documents.test_documents import SIGNERS, signatures_of, signing_tokens
from ..factories import DocumentFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
PNG_DATA_URL = "data:image/png;base64,"


def sent_for_signing(user, name: str, signers: list[dict]):
    """A document of the user's company, sent through the API to the signers (the e-mails go out)."""
    document = DocumentFactory(
        file__company=user.company, file__user=user, file__content=b"%PDF-1.4 " + name.encode(), name=name
    )
    response = bearer_client(user).post(
        f"/api/documents/{document.pk}/send", {"signers": signers}, format="json"
    )
    assert response.status_code == 200, response.content
    return document


@pytest.fixture
def ada_link(user_a, user_b):
    """Company A's contract sent to Ada then Bob (company B sends its own); Ada's signing path."""
    contract = sent_for_signing(user_a, "Contract A", SIGNERS)
    sent_for_signing(user_b, "Offer B", [{"name": "Carol", "email": "carol@b.example"}])
    return contract, f"/sign/{signing_tokens()['ada@customer.example']}"


@pytest.fixture
def posts(page):
    """The form posts the page sends, with the Origin header each carried."""
    sent: list[dict] = []

    def note(request):
        if request.method == "POST":
            sent.append({"url": request.url, "origin": request.headers.get("origin")})

    page.on("request", note)
    return sent


def open_signing_page(page, path: str):
    page.goto(path)
    expect(page.get_by_role("heading", name="Contract A")).to_be_visible()
    expect(page.get_by_text("Offer B")).to_have_count(0)


def test_the_signer_signs_with_a_typed_name(
    page, live_server, ada_link, company_a, posts, foreign_requests, broken_requests
):
    """Typed name, agreement ticked, "Sign the document": signed, and the page says so."""
    contract, path = ada_link
    open_signing_page(page, path)

    page.get_by_label("Type your full name to sign").fill("Ada King Lovelace")
    page.get_by_label("I have read the document and agree").check()
    page.get_by_role("button", name="Sign the document").click()

    expect(page.get_by_role("status")).to_contain_text("You signed this document")
    expect(page.get_by_role("button", name="Sign the document")).to_have_count(0)
    ada, bob = signatures_of(contract, company_a)
    assert (ada.status, ada.typed_name, ada.signature_image) == ("signed", "Ada King Lovelace", "")
    assert bob.status == "sent"
    assert [post["origin"] for post in posts] == [live_server.url]
    assert foreign_requests == []
    assert broken_requests == []


def test_the_signer_signs_with_a_drawn_signature(page, ada_link, company_a):
    """A signature drawn on the pad with the mouse is sent as a PNG and stored."""
    contract, path = ada_link
    open_signing_page(page, path)
    pad = page.locator("canvas#pad")
    expect(pad).to_be_visible()

    page.get_by_label("Type your full name to sign").fill("")
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 100)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(box["x"] + 20 + step * 30, box["y"] + 100 - (step % 2) * 60, steps=3)
    page.mouse.up()
    page.get_by_label("I have read the document and agree").check()
    page.get_by_role("button", name="Sign the document").click()

    expect(page.get_by_role("status")).to_contain_text("You signed this document")
    ada = signatures_of(contract, company_a)[0]
    assert (ada.status, ada.typed_name) == ("signed", "")
    assert ada.signature_image.startswith(PNG_DATA_URL)
    png = base64.b64decode(ada.signature_image.removeprefix(PNG_DATA_URL))
    assert png.startswith(b"\x89PNG") and len(png) > 500  # strokes, not an empty pad
    assert ada.events[-1]["method"] == "drawn"


def test_the_signer_declines_with_a_reason(page, live_server, ada_link, company_a, posts):
    """ "Decline to sign", a reason, "Decline": declined with that reason, and the page says so."""
    contract, path = ada_link
    open_signing_page(page, path)

    page.get_by_text("Decline to sign").click()
    page.get_by_label("Reason (optional, shared with the sender)").fill("The price is too high.")
    page.get_by_role("button", name="Decline", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("You declined to sign this document")
    ada = signatures_of(contract, company_a)[0]
    assert (ada.status, ada.decline_reason) == ("declined", "The price is too high.")
    assert [post["origin"] for post in posts] == [live_server.url]

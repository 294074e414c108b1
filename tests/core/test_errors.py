"""The generic exception mapping (core.api.errors): every error answers with a JSON body."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_list_shaped_error_still_answers_with_detail(client_a):
    """Errors raised as a bare list of messages reach the client as {"detail": ...}."""
    response = client_a.get("/api/contacts", {"search": "\x00"})

    assert response.status_code == 400
    assert isinstance(response.json(), dict) and response.json()["detail"]

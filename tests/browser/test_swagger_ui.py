"""Swagger UI at /api/docs/ in Chromium: it renders the schema's operations, from our own files only."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def test_swagger_ui_renders_the_operations_without_leaving_the_site(page, foreign_requests, broken_requests):
    """The operations show and open; every script, style, image and the schema come from the site itself."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))

    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CRM API")
    expect(operation(page, "POST", "/api/accounts")).to_be_visible()
    listing = operation(page, "GET", "/api/accounts")
    listing.click()
    opened = page.locator(".opblock.is-open")
    expect(opened.get_by_text("search", exact=True)).to_be_visible()
    expect(opened.locator(".responses-table .response-col_status", has_text="200").first).to_be_visible()
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in seen), seen
    assert any(urlsplit(url).path.rstrip("/") == "/api/schema" for url in seen), seen
    assert foreign_requests == []
    assert broken_requests == []


def operation(page, method: str, path: str):
    """The summary button of one operation, whichever trailing-slash spelling the schema chose."""
    named = [
        page.get_by_role("button", name=f"{method} {spelling}", exact=True) for spelling in (path, f"{path}/")
    ]
    return named[0].or_(named[1])

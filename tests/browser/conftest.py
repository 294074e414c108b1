"""One Chromium per test session, a fresh browser context per test, against pytest-django's live server.

The live server serves static files through Django's finders, so the admin's scripts and styles and
Swagger UI's (drf-spectacular-sidecar) load as they do behind WhiteNoise after collectstatic.
"""

import os
from urllib.parse import urlsplit

import pytest

from .chromium import CHROMIUM, LAUNCH_ARGS

# Generous for a loaded machine; a test waits only as long as the page needs.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def chromium_browser():
    # Imported here: without Playwright the tests are skipped (tests/conftest.py), not broken.
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)

    # Playwright's synchronous API keeps an event loop running in this thread from now on, so Django
    # would take every later ORM call of this process (browser test or not) for one made from async
    # code, though all of them are synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(chromium_browser, live_server):
    """A new tab in a context of its own (no cookies from another test), at the live server."""
    context = chromium_browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def foreign_requests(page, live_server):
    """Every URL the page asks for outside the live server's origin (none, for a page that works offline)."""
    origin = urlsplit(live_server.url)
    asked: list[str] = []

    def note(request):
        url = urlsplit(request.url)
        if url.scheme in {"data", "blob", "about"}:
            return
        if (url.scheme, url.netloc) != (origin.scheme, origin.netloc):
            asked.append(request.url)

    page.on("request", note)
    return asked


@pytest.fixture
def broken_requests(page):
    """Every request of the page that failed or answered 4xx/5xx (the browser's own /favicon.ico aside)."""
    broken: list[str] = []

    def note_response(response):
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
            broken.append(f"{response.status} {response.url}")

    page.on("response", note_response)
    page.on("requestfailed", lambda request: broken.append(f"failed {request.url}"))
    return broken

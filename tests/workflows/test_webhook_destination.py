"""Outbound webhooks connect to the address that was checked, never to a second answer of the resolver."""

import socket
from urllib.parse import urlsplit

import pytest

from workflows import signing

PUBLIC = "93.184.216.34"


@pytest.fixture
def receiver(local_receiver):
    return local_receiver


@pytest.fixture
def rebinding_resolver(monkeypatch):
    """A resolver for `rebind.test` that answers a public address first and loopback after (DNS rebinding)."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = PUBLIC if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_that_rebinds_to_loopback_never_reaches_it(receiver, rebinding_resolver, settings):
    """The check saw a public address; the connection goes there too, so loopback hears nothing."""
    settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE = False
    port = urlsplit(receiver.url).port
    with pytest.raises(ConnectionError) as refused:
        signing.post_signed(
            url=f"http://rebind.test:{port}/hooks/crm", body=b"{}", secret="s", timeout=1, delivery_id="d"
        )
    assert PUBLIC in str(refused.value)
    assert rebinding_resolver == ["rebind.test"]  # resolved once
    assert receiver.requests == []


def test_the_pinned_connection_keeps_the_host_name_and_the_path(receiver, monkeypatch, settings):
    """Connected by address, the request still names the URL's host, path and query, signed."""
    settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE = True
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *rest, **kw: real("127.0.0.1" if host == "hooks.test" else host, *rest, **kw),
    )
    port = urlsplit(receiver.url).port
    result = signing.post_signed(
        url=f"http://hooks.test:{port}/hooks/crm?tenant=a",
        body=b'{"a": 1}',
        secret="s",
        timeout=5,
        delivery_id="d1",
    )
    assert (result.status_code, result.response_excerpt) == (200, "ok")
    (received,) = receiver.requests
    assert received.path == "/hooks/crm?tenant=a"
    assert received.headers["host"] == f"hooks.test:{port}"
    assert received.headers[signing.SIGNATURE_HEADER.lower()] == signing.signature("s", b'{"a": 1}')
    assert received.headers[signing.DELIVERY_HEADER.lower()] == "d1"


def test_tls_checks_the_certificate_against_the_host_name_not_the_address():
    """Over https the pool sends the host name as SNI and asserts it on the certificate."""
    destination = signing.Destination("https", "hooks.example.com", 443, PUBLIC, "/x")
    pool = signing._pool(destination, timeout=1)
    assert (pool.host, pool.port) == (PUBLIC, 443)
    assert pool.conn_kw["server_hostname"] == "hooks.example.com"
    assert pool.assert_hostname == "hooks.example.com"
    assert pool.cert_reqs == "CERT_REQUIRED"
    assert destination.host_header == "hooks.example.com"


def test_a_redirect_is_answered_not_followed(receiver, settings):
    """A 3xx is the step's answer; the Location is never called."""
    settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE = True
    receiver.answer_next(302)
    result = signing.post_signed(url=receiver.url, body=b"{}", secret="s", timeout=5, delivery_id="d")
    assert result.status_code == 302
    assert len(receiver.requests) == 1

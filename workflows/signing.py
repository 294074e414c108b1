"""HMAC-SHA256 signatures of webhook bodies, the outbound webhook request, and the addresses it may reach."""

import hashlib
import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

SIGNATURE_HEADER = "X-CRM-Signature"
DELIVERY_HEADER = "X-CRM-Delivery"
SIGNATURE_PREFIX = "sha256="
RESPONSE_EXCERPT = 500


def new_secret() -> str:
    """A fresh signing secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    """The X-CRM-Signature value of a body: "sha256=" and the hex HMAC-SHA256 under the secret."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """Whether a received signature header is the body's signature, compared in constant time."""
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


class WebhookRefused(Exception):
    """The address may not be called at all (not http(s), or private); retrying cannot help."""


@dataclass(frozen=True)
class WebhookResult:
    status_code: int
    response_excerpt: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def url_problem(url) -> str | None:
    """Why a webhook URL is refused at save time: not http(s), no host, or a private literal address."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        return "Give an http(s) URL of at most 2000 characters."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Only http and https URLs are allowed."
    if not url.isascii():
        return "Give the URL in ASCII: an international domain name in its xn-- form, other text %-encoded."
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "Give a valid http(s) URL, such as https://hooks.example.com/crm."
    if parts.username or parts.password:
        return "Credentials in the URL are not allowed; put them in the payload."
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    if not address_allowed(address):
        return "Private, loopback and link-local addresses are not allowed."
    return None


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether outbound webhooks may reach this address (public only, unless private ones are allowed)."""
    if settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Destination:
    """Where a webhook goes: the URL's host (for Host, SNI and the certificate) and its checked address."""

    scheme: str
    hostname: str
    port: int
    address: str
    target: str  # path and query, as sent on the request line

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return name if self.port == default else f"{name}:{self.port}"


def checked_destination(url: str) -> Destination:
    """Resolve the URL's host once and check every address it gives; the connection then goes to one of them.

    Resolving again when connecting would let a name answer a public address to the check and a
    private one to the connection (DNS rebinding).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("Only http and https URLs are called.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise ConnectionError(f"Cannot resolve {parts.hostname}: {error}") from error
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise ConnectionError(f"Cannot resolve {parts.hostname}: no address.")
    for address in addresses:
        if not address_allowed(address):
            raise WebhookRefused(
                f"{parts.hostname} resolves to {address}, a private or local address; "
                "outbound webhooks only reach public addresses."
            )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port, str(addresses[0]), target)


def _pool(destination: Destination, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection pool to the checked address; over TLS the certificate must name the URL's host."""
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if destination.scheme == "http":
        return urllib3.HTTPConnectionPool(
            destination.address, destination.port, timeout=limits, retries=False
        )
    return urllib3.HTTPSConnectionPool(
        destination.address,
        destination.port,
        timeout=limits,
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
        server_hostname=destination.hostname,
        assert_hostname=destination.hostname,
    )


def post_signed(*, url: str, body: bytes, secret: str, timeout: float, delivery_id: str) -> WebhookResult:
    """POST a JSON body signed with the secret to the checked address; redirects are not followed."""
    destination = checked_destination(url)
    pool = _pool(destination, timeout)
    try:
        response = pool.urlopen(
            "POST",
            destination.target,
            body=body,
            headers={
                "Host": destination.host_header,
                "Content-Type": "application/json",
                "User-Agent": "crm-workflows/1",
                SIGNATURE_HEADER: signature(secret, body),
                DELIVERY_HEADER: delivery_id,
            },
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            excerpt = response.read(RESPONSE_EXCERPT * 4, decode_content=True)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        raise ConnectionError(f"{destination.hostname} ({destination.address}): {error}") from error
    finally:
        pool.close()
    return WebhookResult(response.status, excerpt.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT])

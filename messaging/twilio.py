"""The one door to Twilio: a client per company, the dry-run transport, and signed webhooks."""

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils.decorators import method_decorator
from django.utils.module_loading import import_string
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from core.api.throttles import WEBHOOK_THROTTLES, throttled_response
from tenancy.context import company_context
from tenancy.resolution import company_for_key

from .models import PhoneNumber, TwilioSettings

logger = logging.getLogger("messaging.twilio")
SIGNATURE_HEADER = "HTTP_X_TWILIO_SIGNATURE"
# Twilio identifiers are two letters and 32 hex digits; anything else is refused before use.
SID_PARAMETERS = ("MessageSid", "SmsSid", "CallSid", "RecordingSid", "AccountSid")
SID_FORMAT = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
# The account a company without Twilio settings asks as in dry-run; nothing real answers to it.
DRY_RUN_ACCOUNT_SID = "AC" + "0" * 32
# Twilio's PhoneNumber filter matches partial numbers, so a page may hold numbers that only contain ours.
NUMBER_LOOKUP_PAGE_SIZE = 20


class TwilioNotConfigured(Exception):
    """The company has no Twilio settings yet."""


def public_url(path: str) -> str:
    """The address Twilio calls back on, from PUBLIC_BASE_URL."""
    return f"{settings.PUBLIC_BASE_URL}{path}"


def http_client() -> HttpClient:
    """The SDK's HTTP transport: dry-run by default, the real one in production."""
    if settings.TWILIO_DRY_RUN:
        return DryRunHttpClient()
    if settings.TWILIO_HTTP_CLIENT:
        return import_string(settings.TWILIO_HTTP_CLIENT)()
    return TwilioHttpClient(timeout=settings.TWILIO_HTTP_TIMEOUT)


def client_for(twilio_settings: TwilioSettings) -> Client:
    """A Twilio REST client authenticated as the given company settings."""
    return Client(twilio_settings.account_sid, twilio_settings.auth_token, http_client=http_client())


def current_company_settings() -> TwilioSettings:
    """The current company's Twilio settings, or TwilioNotConfigured."""
    found = TwilioSettings.objects.first()
    if found is None:
        raise TwilioNotConfigured("Add this company's Twilio account under /api/twilio-settings first.")
    return found


def current_company_client() -> Client:
    """A Twilio client for the current company."""
    return client_for(current_company_settings())


@dataclass(frozen=True)
class NumberOwnership:
    """What a Twilio account answered about one number: its PN SID there, or None when it owns none."""

    account_sid: str
    sid: str | None


def number_ownership(number: str) -> NumberOwnership:
    """Ask the current company's Twilio account (IncomingPhoneNumbers) whether it owns `number`."""
    try:
        client = current_company_client()
    except TwilioNotConfigured:
        # In dry-run a company without settings asks as a placeholder, so a first run needs none.
        if not settings.TWILIO_DRY_RUN:
            raise
        client = Client(DRY_RUN_ACCOUNT_SID, "dry-run", http_client=http_client())
    numbers = client.api.v2010.accounts(client.account_sid).incoming_phone_numbers.list(
        phone_number=number, limit=NUMBER_LOOKUP_PAGE_SIZE, page_size=NUMBER_LOOKUP_PAGE_SIZE
    )
    sid = next((found.sid for found in numbers if found.phone_number == number), None)
    return NumberOwnership(account_sid=client.account_sid, sid=sid)


def signature_is_valid(request, twilio_settings: TwilioSettings | None) -> bool:
    """Whether X-Twilio-Signature matches the request as signed with the company's auth token."""
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not signature or twilio_settings is None or not twilio_settings.auth_token:
        return False
    validator = RequestValidator(twilio_settings.auth_token)
    return validator.validate(public_url(request.get_full_path()), request.POST, signature)


@method_decorator(csrf_exempt, name="dispatch")
class TwilioWebhookView(View):
    """Base of every Twilio webhook: resolves the company from the number, checks the signature.

    The company comes from `number_param` in the POST body (or `?number=` in the signed URL, for
    callbacks whose body names no number), through the unaudited resolver. Requests are limited per
    sending address and per number (429); unsigned or wrongly signed requests get 403 and nothing is
    written; `handle()` runs inside the company's context.
    """

    http_method_names = ["post"]
    number_param = "To"
    throttle_key_kind = "twilio-number"

    def throttle_key(self, request) -> str:
        """The number of ours this request names, which its company is found by."""
        return request.POST.get(self.number_param) or request.GET.get("number", "")

    def post(self, request, *args, **kwargs):
        throttled = throttled_response(request, self, WEBHOOK_THROTTLES)
        if throttled is not None:
            return throttled
        if not request.META.get(SIGNATURE_HEADER):
            return HttpResponseForbidden("Missing X-Twilio-Signature.")
        number = self.throttle_key(request)
        company_id = company_for_key(PhoneNumber, "number", number)
        if company_id is None:
            return HttpResponseForbidden("Unknown number.")
        with company_context(company_id):
            if not signature_is_valid(request, TwilioSettings.objects.first()):
                logger.warning("refused Twilio webhook with a bad signature: %s", request.path)
                return HttpResponseForbidden("Invalid X-Twilio-Signature.")
            malformed = [
                name
                for name in SID_PARAMETERS
                if request.POST.get(name) and not SID_FORMAT.match(request.POST[name])
            ]
            if malformed:
                return HttpResponseBadRequest(f"Malformed {', '.join(malformed)}.")
            phone_number = PhoneNumber.objects.get(number=number)
            return self.handle(request, phone_number, *args, **kwargs)

    def handle(self, request, phone_number: PhoneNumber, *args, **kwargs) -> HttpResponse:
        raise NotImplementedError


def twiml_response(twiml) -> HttpResponse:
    """A TwiML document as Twilio expects it."""
    return HttpResponse(str(twiml), content_type="text/xml")


def empty_twiml() -> HttpResponse:
    """An empty TwiML answer: acknowledged, nothing to do."""
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response/>', content_type="text/xml")


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


E164_NUMBER = re.compile(r"^\+[1-9]\d{1,14}$")


def dry_run_number_sid(account_sid: str, number: str) -> str:
    """The PN SID the dry-run transport gives a number: the same for an account and number every time."""
    return "PN" + hashlib.sha256(f"{account_sid}:{number}".encode()).hexdigest()[:32]


class DryRunHttpClient(HttpClient):
    """Answers the SDK as Twilio would, without anything leaving the machine (the embedded default)."""

    def __init__(self):
        super().__init__(logger=logger, is_async=False, timeout=None)

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        data = dict(data or {})
        path = urlparse(url).path
        account = auth[0] if auth else "AC" + "0" * 32
        now = datetime.now(tz=UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        logger.info("Twilio dry run: %s %s to=%s", method, path, data.get("To", ""))
        if method.upper() == "POST" and path.endswith("/Messages.json"):
            body = {
                "sid": _sid("SM"),
                "status": "queued",
                "to": data.get("To"),
                "from": data.get("From"),
                "body": data.get("Body"),
                "account_sid": account,
                "date_created": now,
                "error_code": None,
                "error_message": None,
                "num_segments": "1",
            }
            return Response(201, json.dumps(body))
        if method.upper() == "POST" and path.endswith("/Calls.json"):
            body = {
                "sid": _sid("CA"),
                "status": "queued",
                "to": data.get("To"),
                "from": data.get("From"),
                "account_sid": account,
                "date_created": now,
                "direction": "outbound-api",
            }
            return Response(201, json.dumps(body))
        if method.upper() == "GET" and path.endswith(f"/Accounts/{account}/IncomingPhoneNumbers.json"):
            # Every account owns every whole number asked about, so a first run can register any.
            query = dict(params or {})
            number = query.get("PhoneNumber", "")
            owned = [
                {
                    "sid": dry_run_number_sid(account, number),
                    "account_sid": account,
                    "phone_number": number,
                    "friendly_name": number,
                    "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
                    "date_created": now,
                }
            ]
            body = {
                "incoming_phone_numbers": owned if E164_NUMBER.match(number) else [],
                "page": 0,
                "page_size": int(query.get("PageSize", 50)),
                "first_page_uri": path,
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": path,
            }
            return Response(200, json.dumps(body))
        if path.endswith(f"/Accounts/{account}.json"):
            body = {"sid": account, "status": "active", "friendly_name": "Dry-run account"}
            return Response(200, json.dumps(body))
        return Response(200, json.dumps({}))

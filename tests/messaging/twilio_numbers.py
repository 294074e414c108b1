"""The fake Twilio API of tests/fakes.py, also answering IncomingPhoneNumbers look-ups as Twilio does."""

import json
from urllib.parse import urlparse

import requests
from twilio.http.response import Response

from ..fakes import FakeTwilio, FakeTwilioHttpClient


class TwilioNumbers:
    """Which numbers each fake Twilio account owns, and whether api.twilio.com can be reached at all."""

    owned: dict[str, dict[str, str]] = {}
    unreachable = False

    @classmethod
    def reset(cls) -> None:
        cls.owned = {}
        cls.unreachable = False

    @classmethod
    def give(cls, twilio_settings, number: str) -> str:
        """Put `number` in the company's Twilio account; its PN SID there."""
        account = cls.owned.setdefault(twilio_settings.account_sid, {})
        serial = sum(len(numbers) for numbers in cls.owned.values())
        return account.setdefault(number, f"PN{serial:032x}")

    @classmethod
    def lookups(cls) -> list[dict]:
        """The IncomingPhoneNumbers look-ups Twilio received: their account SID and query."""
        return [
            {"account": r["auth"][0] if r["auth"] else "", **r["params"]}
            for r in FakeTwilio.requests
            if r["path"].endswith("/IncomingPhoneNumbers.json")
        ]


def _error(status: int, code: int, message: str) -> Response:
    return Response(status, json.dumps({"code": code, "message": message, "status": status}))


class NumbersTwilioHttpClient(FakeTwilioHttpClient):
    """The SDK's HTTP transport, replaced; IncomingPhoneNumbers answers from TwilioNumbers.owned."""

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
        path = urlparse(url).path
        if not (method.upper() == "GET" and path.endswith("/IncomingPhoneNumbers.json")):
            return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)
        record = {
            "method": "GET",
            "url": url,
            "path": path,
            "data": {},
            "params": dict(params or {}),
            "auth": auth,
        }
        FakeTwilio.requests.append(record)
        if TwilioNumbers.unreachable:
            raise requests.ConnectionError("Failed to establish a new connection: api.twilio.com")
        account_sid, token = auth or ("", "")
        if FakeTwilio.accounts.get(account_sid) != token:
            return _error(401, 20003, "Authenticate")
        if FakeTwilio.queued_errors:
            return _error(*FakeTwilio.queued_errors.pop(0))
        if f"/Accounts/{account_sid}/" not in path:
            return _error(404, 20404, "The requested resource was not found")
        # Twilio's PhoneNumber filter matches any number containing the digits asked for.
        asked = record["params"].get("PhoneNumber", "").lstrip("+")
        found = [
            {"sid": sid, "account_sid": account_sid, "phone_number": number, "friendly_name": number}
            for number, sid in TwilioNumbers.owned.get(account_sid, {}).items()
            if asked and asked in number
        ]
        page_size = int(record["params"].get("PageSize", 50))
        body = {
            "incoming_phone_numbers": found[:page_size],
            "page": 0,
            "page_size": page_size,
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": path,
        }
        return Response(200, json.dumps(body))

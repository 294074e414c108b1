"""The outside world's boundary, replaced: Twilio's HTTP API, answering as Twilio does."""

import json
import uuid
from urllib.parse import urlparse

from django.conf import settings
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator


class FakeTwilio:
    """What the fake Twilio API received, and the errors it should answer with next."""

    requests: list[dict] = []
    queued_errors: list[tuple[int, int, str]] = []
    # account SID -> auth token; a request with other credentials gets Twilio's 401.
    accounts: dict[str, str] = {}

    @classmethod
    def reset(cls) -> None:
        cls.requests = []
        cls.queued_errors = []
        cls.accounts = {}

    @classmethod
    def fail_next(
        cls, status: int = 400, code: int = 21211, message: str = "The 'To' number is not valid."
    ) -> None:
        """Make the next request fail the way Twilio reports errors."""
        cls.queued_errors.append((status, code, message))

    @classmethod
    def sent(cls, resource: str) -> list[dict]:
        """The form bodies POSTed to a resource, e.g. "Messages" or "Calls"."""
        return [
            r["data"]
            for r in cls.requests
            if r["method"] == "POST" and r["path"].endswith(f"/{resource}.json")
        ]


def _error(status: int, code: int, message: str) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Response(status, json.dumps(body))


class FakeTwilioHttpClient(HttpClient):
    """The SDK's HTTP transport, replaced: records each request and answers like api.twilio.com."""

    def __init__(self):
        super().__init__(logger=None, is_async=False, timeout=None)

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
        record = {"method": method.upper(), "url": url, "path": path, "data": dict(data or {}), "auth": auth}
        FakeTwilio.requests.append(record)
        account_sid, token = auth or ("", "")
        if FakeTwilio.accounts.get(account_sid) != token:
            return _error(401, 20003, "Authenticate")
        if FakeTwilio.queued_errors:
            return _error(*FakeTwilio.queued_errors.pop(0))
        form = record["data"]
        if method.upper() == "POST" and path.endswith("/Messages.json"):
            body = {
                "sid": "SM" + uuid.uuid4().hex,
                "status": "queued",
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "account_sid": account_sid,
            }
            return Response(201, json.dumps(body))
        if method.upper() == "POST" and path.endswith("/Calls.json"):
            body = {
                "sid": "CA" + uuid.uuid4().hex,
                "status": "queued",
                "to": form.get("To"),
                "from": form.get("From"),
                "account_sid": account_sid,
                "direction": "outbound-api",
            }
            return Response(201, json.dumps(body))
        if method.upper() == "GET" and path.endswith(f"/Accounts/{account_sid}.json"):
            return Response(
                200, json.dumps({"sid": account_sid, "status": "active", "friendly_name": "Test"})
            )
        return _error(404, 20404, "The requested resource was not found")


def twilio_signature(path: str, params: dict, auth_token: str) -> str:
    """The X-Twilio-Signature Twilio would send for a POST to `path` with these form fields."""
    return RequestValidator(auth_token).compute_signature(f"{settings.PUBLIC_BASE_URL}{path}", params)


def post_twilio_webhook(
    client, path: str, params: dict, auth_token: str | None, *, signature: str | None = None
):
    """POST a webhook as Twilio does: form-encoded and signed with the company's auth token."""
    headers = {}
    if signature is not None:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    elif auth_token is not None:
        headers["HTTP_X_TWILIO_SIGNATURE"] = twilio_signature(path, params, auth_token)
    return client.post(path, params, **headers)

"""Bad input on every list endpoint of the router: a 4xx with a clear message, never a 500, nothing changed.

The endpoints come from config.urls.router.registry, so a new viewset is covered when it is registered.
"""

import json
import uuid
from urllib.parse import quote

import django_filters
import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from config.urls import router
from core.api.filters import IsoDateTimeFilter, StrictDjangoFilterBackend
from crm.models import Contact
from tenancy.api.companies import CompanyViewSet
from tenancy.context import company_context

from .factories import ContactFactory
from .isolation import REGISTRY

pytestmark = pytest.mark.postgres

# Walked as a company user; /api/companies refuses every company user (403) before it reads any input,
# and tests/tenancy/test_companies_api.py sends it bad input as a super admin.
PLATFORM_ONLY = {CompanyViewSet}
LIST_ROUTES = [
    (prefix, viewset)
    for prefix, viewset, _ in router.registry
    if hasattr(viewset, "list") and viewset not in PLATFORM_ONLY
]
CREATE_ROUTES = [
    (prefix, viewset)
    for prefix, viewset in LIST_ROUTES
    if hasattr(viewset, "create") and "post" in viewset.http_method_names
]


JSON_CREATE_ROUTES = [
    (prefix, viewset)
    for prefix, viewset in CREATE_ROUTES
    if viewset.model in REGISTRY and REGISTRY[viewset.model].format == "json"
]


def ids(routes):
    return [prefix for prefix, _ in routes]


def url_of(prefix: str) -> str:
    return f"/api/{prefix}"


def rows_of(viewset, company) -> list:
    """Every stored row of a viewset's model in one company (deleted ones too), to prove nothing changed."""
    model = getattr(viewset, "model", None)
    if model is None:
        return []
    with company_context(company):
        return sorted(model._base_manager.values_list("pk", "updated_at", "is_deleted"))


def assert_clear_error(response, status: int) -> dict:
    """A JSON answer with the status and a message a person can read (`detail` or per-field lists)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict) and body, body
    messages = [body["detail"]] if "detail" in body else [m for value in body.values() for m in value]
    assert all(isinstance(message, str) and message.strip() for message in messages), body
    return body


@pytest.fixture
def seeded(request, company_a, company_b, user_a, user_b):
    """A row of the endpoint's model in each company, so "nothing changed" compares real rows."""
    registration = REGISTRY.get(getattr(request.getfixturevalue("viewset"), "model", None))
    if registration is not None:
        registration.create(company_a)
        registration.create(company_b)


# Malformed and mistyped JSON bodies.
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"name": "unterminated', "JSON parse error"),
        ("{'single': 'quotes'}", "JSON parse error"),
        ('{"a": NaN}', "JSON parse error"),
        ("[]", "Expected a dictionary"),
        ('[{"name": "x"}]', "Expected a dictionary"),
        ("42", "Expected a dictionary"),
        ('"a string"', "Expected a dictionary"),
        ("null", "No data provided"),
    ],
    ids=[
        "truncated",
        "single-quotes",
        "nan",
        "array",
        "array-of-objects",
        "number",
        "string",
        "null",
    ],
)
@pytest.mark.parametrize(("prefix", "viewset"), JSON_CREATE_ROUTES, ids=ids(JSON_CREATE_ROUTES))
def test_malformed_or_mistyped_json_is_a_400_and_changes_nothing(
    prefix, viewset, body, message, client_a, company_a, company_b, seeded
):
    before = rows_of(viewset, company_a), rows_of(viewset, company_b)
    response = client_a.post(url_of(prefix), body, content_type="application/json")
    error = assert_clear_error(response, 400)
    assert message in json.dumps(error), error
    assert (rows_of(viewset, company_a), rows_of(viewset, company_b)) == before


def with_lone_surrogates(payload: dict) -> dict:
    """A valid create body whose free-text values are a lone surrogate (JSON "\\ud800"), ids kept."""

    def odd(value):
        if not isinstance(value, str):
            return value
        try:
            uuid.UUID(value)
        except ValueError:
            return "Ada \ud800"
        return value

    return {key: odd(value) for key, value in payload.items()}


@pytest.mark.parametrize(("prefix", "viewset"), JSON_CREATE_ROUTES, ids=ids(JSON_CREATE_ROUTES))
def test_a_lone_surrogate_in_text_is_a_400_per_field_and_changes_nothing(
    prefix, viewset, client_a, company_a, company_b, user_a, user_b
):
    payload = with_lone_surrogates(REGISTRY[viewset.model].payload(company_a))
    before = rows_of(viewset, company_a), rows_of(viewset, company_b)
    response = client_a.generic("POST", url_of(prefix), json.dumps(payload), content_type="application/json")
    error = assert_clear_error(response, 400)
    assert "Surrogate characters are not allowed: U+D800." in json.dumps(error), error
    assert (rows_of(viewset, company_a), rows_of(viewset, company_b)) == before


def test_an_update_with_a_json_array_is_a_400_and_changes_nothing(client_a, company_a):
    contact = ContactFactory(company=company_a, first_name="Ada")
    response = client_a.patch(f"/api/contacts/{contact.pk}", "[1, 2]", content_type="application/json")
    assert_clear_error(response, 400)
    with company_context(company_a):
        assert Contact.objects.get(pk=contact.pk).first_name == "Ada"


# Oversize bodies and uploads.
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
@pytest.mark.parametrize(("prefix", "viewset"), JSON_CREATE_ROUTES, ids=ids(JSON_CREATE_ROUTES))
def test_an_oversize_json_body_is_a_413_with_a_detail(
    prefix, viewset, client_a, company_a, company_b, seeded
):
    before = rows_of(viewset, company_a), rows_of(viewset, company_b)
    body = json.dumps({"name": "x" * 4096, "first_name": "x" * 4096, "notes": "x" * 4096})
    response = client_a.post(url_of(prefix), body, content_type="application/json")
    error = assert_clear_error(response, 413)
    assert "too large" in error["detail"]
    assert (rows_of(viewset, company_a), rows_of(viewset, company_b)) == before


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_an_oversize_json_body_without_a_truthful_length_is_still_a_413(client_a, company_a):
    """The limit holds on the bytes read, not on what Content-Length claims."""
    body = json.dumps({"first_name": "x" * 4096, "last_name": "y"}).encode()
    response = client_a.generic(
        "POST", "/api/contacts", body, content_type="application/json", CONTENT_LENGTH="10"
    )
    # Django reads exactly Content-Length bytes: a short claim cuts the body, which no longer parses.
    assert response.status_code in (400, 413), response.content
    body = json.dumps({"first_name": "x" * 4096, "last_name": "y"})
    response = client_a.generic("POST", "/api/contacts", body, content_type="application/json")
    assert_clear_error(response, 413)
    with company_context(company_a):
        assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/api/contacts", "first_name=Ada&last_name=Lovelace", "application/x-www-form-urlencoded"),
        ("/api/contacts", b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b"),
        ("/api/files", '{"name": "x.txt"}', "application/json"),
    ],
    ids=["form-to-json", "multipart-to-json", "json-to-upload"],
)
def test_a_body_in_another_media_type_is_a_415_naming_it(path, body, content_type, client_a, company_a):
    """Bodies are JSON, uploads multipart: anything else is refused before it is read."""
    response = client_a.generic("POST", path, body, content_type=content_type)
    error = assert_clear_error(response, 415)
    assert content_type.split(";")[0] in error["detail"]
    with company_context(company_a):
        assert not Contact.objects.exists()


def test_an_oversize_upload_is_a_413_and_stores_nothing(client_a, company_a, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files.models import File

    settings.FILE_UPLOAD_MAX_BYTES = 1024
    upload = SimpleUploadedFile("big.txt", b"x" * 2048, content_type="text/plain")
    response = client_a.post("/api/files", {"file": upload}, format="multipart")
    assert_clear_error(response, 413)
    with company_context(company_a):
        assert not File.objects.exists()


# Invalid UUIDs in paths and filters.
@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1 --"]
)
@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ids(LIST_ROUTES))
def test_an_invalid_id_in_a_path_is_a_404(prefix, viewset, bad_id, client_a):
    response = client_a.get(f"{url_of(prefix)}/{bad_id}")
    assert_clear_error(response, 404)


def uuid_filters(viewset) -> list[str]:
    filterset = getattr(viewset, "filterset_class", None)
    if filterset is None:
        return []
    return [
        name
        for name, declared in filterset.base_filters.items()
        if isinstance(declared, django_filters.UUIDFilter | django_filters.ModelChoiceFilter)
    ]


UUID_FILTER_CASES = [(prefix, name) for prefix, viewset in LIST_ROUTES for name in uuid_filters(viewset)]


def test_uuid_filters_are_found():
    assert ("contacts", "account") in UUID_FILTER_CASES


@pytest.mark.parametrize(
    ("prefix", "name"), UUID_FILTER_CASES, ids=[f"{p}-{n}" for p, n in UUID_FILTER_CASES]
)
def test_an_invalid_uuid_in_a_filter_is_a_400_naming_the_filter(prefix, name, client_a):
    response = client_a.get(url_of(prefix), {name: "not-a-uuid"})
    body = assert_clear_error(response, 400)
    assert name in body, body


@pytest.mark.parametrize(
    ("prefix", "name"), UUID_FILTER_CASES, ids=[f"{p}-{n}" for p, n in UUID_FILTER_CASES]
)
@pytest.mark.parametrize("padding", [" ", "\x1f", "\t"], ids=["space", "unit-separator", "tab"])
def test_a_typed_filter_of_whitespace_or_padded_is_a_400_not_absent(prefix, name, padding, client_a, user_a):
    """Form fields trim values, so whitespace alone read as "no filter"; the schema's formats refuse it."""
    for value in (padding, f"{padding}{user_a.pk}", f"{user_a.pk}{padding}"):
        body = assert_clear_error(client_a.get(url_of(prefix), {name: value}), 400)
        assert name in body, (value, body)


def test_a_padded_number_filter_is_a_400_and_a_text_filter_takes_spaces(client_a):
    """`?amount_min= 5` is refused like the schema's number refuses it; text filters take any text."""
    assert_clear_error(client_a.get(url_of("deals"), {"amount_min": " 5"}), 400)
    assert client_a.get(url_of("deals"), {"currency": " usd "}).status_code == 200


def datetime_filters(viewset) -> list[str]:
    filterset = getattr(viewset, "filterset_class", None)
    if filterset is None:
        return []
    return [
        name for name, declared in filterset.base_filters.items() if isinstance(declared, IsoDateTimeFilter)
    ]


DATETIME_FILTER_CASES = [
    (prefix, name) for prefix, viewset in LIST_ROUTES for name in datetime_filters(viewset)
]


def test_datetime_filters_are_found():
    assert ("contacts", "created_after") in DATETIME_FILTER_CASES


@pytest.mark.parametrize(
    ("prefix", "name"), DATETIME_FILTER_CASES, ids=[f"{p}-{n}" for p, n in DATETIME_FILTER_CASES]
)
def test_a_datetime_filter_with_any_valid_offset_is_answered(prefix, name, client_a, company_a):
    """ISO 8601 allows offsets PostgreSQL refuses (beyond 15:59) and moments beyond year 1 to 9999 in UTC."""
    ContactFactory(company=company_a)
    for value in (
        "3470-06-26T14:40:40+22:18",
        "2000-01-01T00:00:00-23:59",
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:10+07:00",
        "9999-12-31T23:59:59-01:00",
    ):
        response = client_a.get(url_of(prefix), {name: value})
        assert response.status_code == 200, (value, response.content[:300])
    assert_clear_error(client_a.get(url_of(prefix), {name: "yesterday"}), 400)


def test_a_moment_beyond_the_datetime_range_in_utc_bounds_like_the_range_edge(client_a, company_a):
    """Before year 1 in UTC nothing is earlier, after year 9999 nothing is later: answered, never a 500."""
    ContactFactory(company=company_a)

    def count(**query):
        response = client_a.get(url_of("contacts"), query)
        assert response.status_code == 200, response.content[:300]
        return response.json()["count"]

    assert count(created_before="0001-01-01T00:00:10+07:00") == 0
    assert count(created_after="0001-01-01T00:00:10+07:00") == 1
    assert count(created_after="9999-12-31T23:59:59-01:00") == 0
    assert count(created_before="9999-12-31T23:59:59-01:00") == 1


@pytest.mark.parametrize(
    ("prefix", "name"),
    [("deals", "amount_max"), ("deals", "amount_min"), ("quotes", "total_min"), ("quotes", "number")],
)
def test_a_number_filter_takes_what_the_schema_states_up_to_its_maximum(prefix, name, client_a):
    """Numbers up to 1e50 are answered, a larger one is a 400 naming the filter; the schema says so."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()
    parameters = schema["paths"][f"/api/{prefix}/"]["get"]["parameters"]
    maximum = next(p["schema"]["maximum"] for p in parameters if p["name"] == name)
    assert maximum == 10**50

    assert client_a.get(url_of(prefix), {name: str(maximum)}).status_code == 200
    body = assert_clear_error(client_a.get(url_of(prefix), {name: str(maximum + 1)}), 400)
    assert name in body, body


# Pagination.
@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ids(LIST_ROUTES))
def test_a_huge_page_number_is_a_404_invalid_page(prefix, viewset, client_a):
    body = assert_clear_error(client_a.get(url_of(prefix), {"page": 10**12}), 404)
    assert body["detail"] == "Invalid page."


@pytest.mark.parametrize("page_size", ["abc", "-1", "0", "1.5", "1e3", "٣"])
def test_a_page_size_that_is_no_positive_whole_number_is_a_400(page_size, client_a):
    body = assert_clear_error(client_a.get("/api/contacts", {"page_size": page_size}), 400)
    assert "page_size" in body


def test_a_huge_page_size_is_capped_at_200(client_a, company_a):
    ContactFactory.create_batch(201, company=company_a)
    response = client_a.get("/api/contacts", {"page_size": 10**9})
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], len(body["results"])) == (201, 200)


# Unknown filters.
@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ids(LIST_ROUTES))
def test_an_unknown_filter_is_a_400_naming_it(prefix, viewset, client_a):
    body = assert_clear_error(
        client_a.get(url_of(prefix), {"colour": "red", "owner_id": "x", "page": 1}), 400
    )
    assert "colour, owner_id" in body["detail"]


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ids(LIST_ROUTES))
def test_standard_parameters_and_declared_filters_are_accepted(prefix, viewset, client_a):
    params = {"page": 1, "page_size": 5, "format": "json"}
    filterset = getattr(viewset, "filterset_class", None)
    if getattr(viewset, "search_fields", None):
        params["search"] = "x"
    if filterset is not None:
        for name, declared in filterset.base_filters.items():
            if not isinstance(declared, django_filters.ChoiceFilter | django_filters.MultipleChoiceFilter):
                params.setdefault(name, "")  # an empty value is read as absent; a choice must be one
    response = client_a.get(url_of(prefix), params)
    assert response.status_code == 200, (params, response.content[:300])


def test_the_strict_backend_is_the_default_filter_backend():
    from rest_framework.settings import api_settings

    assert StrictDjangoFilterBackend in api_settings.DEFAULT_FILTER_BACKENDS


# Odd unicode.
ODD_NAMES = {
    "nul": ("Ada\x00Lovelace", 400),
    "too-long": ("A" * 10_000, 400),
}
LEGITIMATE_NAMES = {
    "emoji": "Ada 👩\u200d💻",
    "rtl-override": "Ada \u202eecalevoL",
    "combining": "Zoe\u0308",
    "astral": "\U0001d504\U0001d521\U0001d51e",
}


@pytest.mark.parametrize("name", list(ODD_NAMES), ids=list(ODD_NAMES))
def test_a_name_with_a_nul_byte_or_of_ten_thousand_characters_is_a_400_per_field(name, client_a, company_a):
    value, status = ODD_NAMES[name]
    contact = ContactFactory(company=company_a, first_name="Ada")
    created = client_a.post("/api/contacts", {"first_name": value, "last_name": "L"}, format="json")
    body = assert_clear_error(created, status)
    assert "first_name" in body
    updated = client_a.patch(f"/api/contacts/{contact.pk}", {"first_name": value}, format="json")
    assert "first_name" in assert_clear_error(updated, status)
    with company_context(company_a):
        assert list(Contact.objects.values_list("first_name", flat=True)) == ["Ada"]


@pytest.mark.parametrize("name", list(LEGITIMATE_NAMES), ids=list(LEGITIMATE_NAMES))
def test_emoji_and_bidirectional_text_are_names_stored_as_given(name, client_a, company_a):
    """Not bad input: people's names use them. They are stored verbatim and JSON-escaped on the way out."""
    value = LEGITIMATE_NAMES[name]
    created = client_a.post("/api/contacts", {"first_name": value, "last_name": "L"}, format="json")
    assert created.status_code == 201, created.content
    assert client_a.get(f"/api/contacts/{created.json()['id']}").json()["first_name"] == value


@pytest.mark.parametrize(
    "term",
    ["\x00", "a\x00b", "\ud800", "\U0010ffff", "\u202e", "👩\u200d💻", "%", "_", "\\", "'", "x" * 10_000],
    ids=[
        "nul",
        "inner-nul",
        "surrogate",
        "max-codepoint",
        "rtl",
        "emoji",
        "percent",
        "underscore",
        "backslash",
        "quote",
        "long",
    ],
)
@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ids(LIST_ROUTES))
def test_odd_search_terms_never_fail(prefix, viewset, term, client_a, company_a):
    """Searches with odd text answer 200 (or a 400 that says why); never a 500."""
    # Percent-encoded as a raw client would send it (a lone surrogate as its invalid UTF-8 bytes).
    response = client_a.get(f"{url_of(prefix)}?search={quote(term.encode('utf-8', 'surrogatepass'))}")
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    if response.status_code == 400:
        assert_clear_error(response, 400)


def test_a_nul_byte_in_a_raw_query_string_is_not_a_500(client_a):
    response = APIClient.get(client_a, "/api/contacts?search=%00&email=a%00b")
    assert response.status_code in (200, 400)
    assert connection.vendor == "postgresql"


# JSON values of the wrong type: refused per field, never coerced.
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", 1, "Must be a string."),
        ("first_name", ["Ada"], "Must be a string."),
        ("owner", "0f131d9db6b542f1be2307be5d6a2c4b", "Must be a UUID"),
        ("owner", 12, "Must be a UUID"),
    ],
    ids=["number-as-text", "list-as-text", "uuid-without-hyphens", "number-as-uuid"],
)
def test_a_json_value_of_the_wrong_type_is_a_400_per_field(
    field, value, message, client_a, company_a, user_a
):
    """DRF would store 1 as "1" and "true" as True; the schema's types hold instead."""
    body = {"first_name": "Ada", "last_name": "Lovelace", field: value}
    response = client_a.post("/api/contacts", body, format="json")
    error = assert_clear_error(response, 400)
    assert message in error[field][0], error
    with company_context(company_a):
        assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/api/deals", {"name": "Renewal", "amount": 12.5}, "amount", "Must be a string."),
        (
            "/api/sms/phone-numbers",
            {"number": "+14155550100", "sms_enabled": "true"},
            "sms_enabled",
            "true or false",
        ),
        (
            "/api/sms/phone-numbers",
            {"number": "+14155550100", "voice_enabled": 0},
            "voice_enabled",
            "true or false",
        ),
        ("/api/quotes", {"title": "Q", "line_items": [{"position": "1"}]}, "line_items", "whole number"),
    ],
    ids=["number-as-decimal", "word-as-boolean", "number-as-boolean", "text-as-integer"],
)
def test_decimals_booleans_and_integers_keep_their_json_types(
    path, body, field, message, client_a, company_a
):
    """Decimals travel as strings ("12.50"), booleans as true/false, whole numbers as numbers."""
    response = client_a.post(path, body, format="json")
    assert message in json.dumps(assert_clear_error(response, 400)[field])


def test_every_api_serializer_holds_json_types():
    """Each serializer the API declares inherits the strict JSON types, so no field coerces silently."""
    from rest_framework import serializers

    from core.api.strict import StrictJsonTypesMixin

    from .test_layers import LAYERS

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = [cls for cls in subclasses(serializers.Serializer) if cls.__module__.split(".")[0] in LAYERS]
    assert len(ours) > 30
    lenient = sorted(
        f"{cls.__module__}.{cls.__name__}" for cls in ours if not issubclass(cls, StrictJsonTypesMixin)
    )
    assert lenient == []


@pytest.mark.parametrize("word", ["maybe", "1", "yes", "True"])
def test_a_boolean_filter_refuses_words_other_than_true_and_false(word, client_a, company_a, user_a):
    """django-filter read unknown words as absent and listed every row; now the word is named."""
    response = client_a.get("/api/notifications", {"unread": word})
    assert assert_clear_error(response, 400)["unread"] == ["Must be true or false."]
    assert client_a.get("/api/notifications", {"unread": "true"}).status_code == 200


def test_an_absent_email_or_url_is_null_both_ways(client_a, company_a, user_a):
    """No address is null in JSON (never "", which no `email` or `uri` format accepts)."""
    created = client_a.post("/api/contacts", {"first_name": "Ada", "email": None}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["email"] is None
    account = client_a.post("/api/accounts", {"name": "Initech", "website": None}, format="json")
    assert account.json()["website"] is None
    blank = client_a.post("/api/contacts", {"first_name": "Grace", "email": ""}, format="json")
    assert "email" in assert_clear_error(blank, 400)
    with company_context(company_a):
        assert list(Contact.objects.values_list("first_name", "email")) == [("Ada", "")]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page=", "page"),
        ("page=0", "page"),
        ("search=ada&search=grace", "search"),
        ("owner=00000000-0000-0000-0000-000000000000&owner=00000000-0000-0000-0000-000000000001", "owner"),
    ],
    ids=["empty-page", "page-zero", "search-twice", "filter-twice"],
)
def test_an_empty_page_or_a_single_valued_parameter_given_twice_is_a_400(query, named, client_a, user_a):
    """DRF read `page=` as page 1 and the last of repeated values; both are now named as errors."""
    response = client_a.get(f"/api/contacts?{query}")
    assert named in json.dumps(assert_clear_error(response, 400))
    assert client_a.get("/api/deals?stage=won&stage=lost").status_code == 200  # multi-valued filters


def test_a_typed_phone_number_longer_than_its_limit_is_refused_before_separators_are_dropped(
    client_a, user_a
):
    """The limit holds on the text as sent: 40 characters that shrink to a valid number are still too long."""
    typed = "+1 " + " " * 30 + "415 555 0100"
    response = client_a.post("/api/sms/phone-numbers", {"number": typed}, format="json")
    assert "no more than 32" in assert_clear_error(response, 400)["number"][0]


def test_a_nul_character_inside_a_json_field_is_a_400_not_a_database_error(client_a, company_a, user_a):
    """jsonb cannot hold NUL: a workflow action's text with one is refused per field, nothing stored."""
    from tests.registrations.workflows import workflow_payload
    from workflows.models import Workflow

    payload = workflow_payload(company_a)
    payload["actions"][1]["params"]["title"] = "won\x00"
    response = client_a.post("/api/workflows", payload, format="json")
    assert "NUL" in assert_clear_error(response, 400)["actions"][0]
    with company_context(company_a):
        assert not Workflow.objects.exists()


# Deeply nested bodies: Python's parser recurses per level, and so does code walking the value.
ONE_LEVEL_TOO_DEEP = b"[" * 65 + b"]" * 65
FAR_TOO_DEEP = b"[" * 50000 + b"]" * 50000


@pytest.mark.parametrize("body", [ONE_LEVEL_TOO_DEEP, FAR_TOO_DEEP], ids=["65 levels", "50,000 levels"])
@pytest.mark.parametrize(("prefix", "viewset"), JSON_CREATE_ROUTES, ids=ids(JSON_CREATE_ROUTES))
def test_a_json_body_nested_too_deep_is_a_400_and_creates_nothing(prefix, viewset, body, client_a, company_a):
    """Every JSON create answers a 400 naming the depth, and stores no row."""
    before = rows_of(viewset, company_a)
    response = client_a.post(url_of(prefix), body, content_type="application/json")
    assert "deeper than 64 levels" in assert_clear_error(response, 400)["detail"]
    assert rows_of(viewset, company_a) == before


@pytest.mark.parametrize("body", [ONE_LEVEL_TOO_DEEP, FAR_TOO_DEEP], ids=["65 levels", "50,000 levels"])
def test_a_sign_in_nested_too_deep_is_a_400(body, client, db):
    """The login door, which anyone reaches, answers the same 400."""
    response = client.post("/api/auth/login", body, content_type="application/json")
    assert "deeper than 64 levels" in assert_clear_error(response, 400)["detail"]


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
        '{"name": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\""}',
    ],
    ids=["brackets inside a string", "after an escaped quote"],
)
def test_brackets_inside_strings_are_no_nesting(text, client_a):
    """Text full of brackets is text: the account is created."""
    response = client_a.post("/api/accounts", text, content_type="application/json")
    assert response.status_code == 201, response.content[:300]


def test_sixty_four_levels_are_still_parsed(client_a):
    """At the limit the body reaches the serializer, which answers for its own fields."""
    body = b'{"name": ' + b"[" * 63 + b"]" * 63 + b"}"
    response = client_a.post("/api/accounts", body, content_type="application/json")
    assert response.status_code == 400
    assert "name" in response.json()

"""The OpenAPI 3 schema at /api/schema/ and the Swagger UI at /api/docs/."""

import re

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from core.text import WHITESPACE

OPENAPI_JSON = "application/vnd.oai.openapi+json"


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    assert response.status_code == 200, response.content
    return response.json()


def path_item(schema: dict, path: str) -> dict:
    """The schema's entry for a path, whichever trailing-slash spelling the generator chose."""
    for candidate in (path, f"{path}/"):
        if candidate in schema["paths"]:
            return schema["paths"][candidate]
    raise AssertionError(f"{path} is not in the schema; paths: {sorted(schema['paths'])}")


def component(schema: dict, ref: str) -> dict:
    assert ref.startswith("#/components/schemas/"), ref
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def json_body_ref(content: dict) -> str:
    return content["application/json"]["schema"]["$ref"]


def test_schema_is_served_to_anonymous_readers_as_openapi_3(db):
    """Anyone may read the schema, as OpenAPI 3 JSON by Accept header or by ?format=json."""
    by_header = APIClient().get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    by_query = APIClient().get("/api/schema/", {"format": "json"})

    for response in (by_header, by_query):
        assert response.status_code == 200
        document = response.json()
        assert document["openapi"].startswith("3.")
        assert document["info"]["title"]
    assert by_header.json()["paths"] == by_query.json()["paths"]


def test_schema_is_the_same_for_every_company(client_a, client_b):
    """The schema does not depend on who asks, so it reveals nothing about a company."""
    schema_a = client_a.get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    schema_b = client_b.get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)

    assert schema_a.status_code == schema_b.status_code == 200
    assert schema_a.json() == schema_b.json()


def test_login_has_typed_request_and_response(schema):
    """POST /api/auth/login takes email and password and answers access and refresh tokens."""
    login = path_item(schema, "/api/auth/login")["post"]

    request = component(schema, json_body_ref(login["requestBody"]["content"]))
    response = component(schema, json_body_ref(login["responses"]["200"]["content"]))

    assert {"email", "password"} <= set(request["properties"])
    assert {"email", "password"} <= set(request["required"])
    assert request["properties"]["email"]["format"] == "email"
    assert {"access_token", "refresh_token"} <= set(response["properties"])
    assert response["properties"]["access_token"]["type"] == "string"
    assert login.get("security") in (None, [], [{}])


def path_parameter(operation: dict, name: str) -> dict:
    """The operation's parameter of that name (the schema sorts them, so `deleted` may come first)."""
    return next(parameter for parameter in operation["parameters"] if parameter["name"] == name)


def test_contacts_list_and_detail_have_typed_bodies(schema):
    """Contacts list and detail operations reference component schemas for their bodies."""
    listing = path_item(schema, "/api/contacts")
    detail = path_item(schema, "/api/contacts/{id}")

    page = component(schema, json_body_ref(listing["get"]["responses"]["200"]["content"]))
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    contact = component(schema, page["properties"]["results"]["items"]["$ref"])
    assert {"id", "first_name", "email", "phone", "account", "company"} <= set(contact["properties"])
    assert contact["properties"]["id"]["format"] == "uuid"
    assert contact["properties"]["company"]["readOnly"] is True

    created = component(schema, json_body_ref(listing["post"]["requestBody"]["content"]))
    assert "first_name" in created["properties"]
    assert "company" not in created["properties"]
    assert "201" in listing["post"]["responses"]

    for method in ("get", "put", "patch"):
        assert component(schema, json_body_ref(detail[method]["responses"]["200"]["content"])) == contact
    for method in ("put", "patch"):
        body = component(schema, json_body_ref(detail[method]["requestBody"]["content"]))
        assert "first_name" in body["properties"]
    assert "204" in detail["delete"]["responses"]
    assert {"name": "id", "in": "path"}.items() <= path_parameter(detail["get"], "id").items()


def test_api_operations_require_the_bearer_scheme(schema):
    """A bearer JWT security scheme is declared and required by the tenant resources."""
    schemes = schema["components"]["securitySchemes"]
    bearer = [name for name, scheme in schemes.items() if scheme.get("scheme") == "bearer"]

    assert bearer
    assert schemes[bearer[0]]["type"] == "http"
    for method in ("get", "post"):
        security = path_item(schema, "/api/contacts")[method]["security"]
        assert {bearer[0]: []} in security


def test_docs_page_is_served_as_html(db):
    """The Swagger UI page answers anonymous readers with HTML."""
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()


def test_docs_page_loads_swagger_ui_from_the_sites_own_static_files(db):
    """Scripts, styles and icon of /api/docs/ are our static files (sidecar): no CDN, works offline."""
    html = APIClient().get("/api/docs/").content.decode()

    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets
    assert assets and all(asset.startswith("/static/drf_spectacular_sidecar/") for asset in assets), assets
    assert '"validatorUrl": null' in html


def test_spectacular_validates_the_schema_without_warnings(db, tmp_path):
    """The generated schema passes drf-spectacular's OpenAPI validation with warnings treated as errors."""
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    document = yaml.safe_load(target.read_text())
    assert document["openapi"].startswith("3.")
    assert document["paths"]


def test_every_error_answer_is_documented_with_the_error_body(db):
    """Each 4xx of each operation points at the one Error schema the exception handler writes."""
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON).json()
    wrong = [
        f"{method.upper()} {path} {code}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for code, response in operation["responses"].items()
        if code.startswith("4")
        and response.get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": "#/components/schemas/Error"}
    ]
    assert wrong == []


def patterns_in(node):
    """Every `pattern` anywhere in a schema document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from patterns_in(item)


def test_no_schema_pattern_uses_a_class_the_two_regex_dialects_read_differently(schema):
    """`\\s` and `\\w` mean other characters in JSON Schema's ECMAScript than on the server: spelled out."""
    patterns = list(patterns_in(schema))
    assert len(patterns) > 20
    assert [p for p in patterns if "\\s" in p or "\\w" in p] == []


def test_the_spelled_out_whitespace_is_what_the_server_trims():
    """WHITESPACE holds exactly the characters str.strip() removes, so trimmed rules and patterns agree."""
    whitespace = re.compile(f"[{WHITESPACE}]")
    differ = [hex(c) for c in range(0x110000) if bool(whitespace.fullmatch(chr(c))) != chr(c).isspace()]
    assert differ == []


def test_no_component_is_described_by_a_base_serializers_docstring(schema):
    """A serializer without a docstring of its own gets no description, not its base class's."""
    descriptions = [
        component.get("description", "") for component in schema["components"]["schemas"].values()
    ]
    assert not [
        d
        for d in descriptions
        if d.startswith(("Base of the API's", "Refuses, per field", "Model serializer whose"))
    ]
    assert "A customer organisation." in descriptions

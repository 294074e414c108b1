"""Fuzzing: schemathesis against our own OpenAPI schema, as a user of each company and as a super admin.

Every operation of /api/schema/ is one test per persona (so xdist splits them across workers), run
in-process through the WSGI handler with every check schemathesis offers. Path parameters hit real
rows of the caller's company and of the other company, seeded once per persona; each example runs
in a savepoint that is rolled back, so a fuzzed POST or DELETE never changes what the next one sees.
max_response_time is the one check left off: timings belong in bench/, not in tests.
"""

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from django.core import signals
from django.core.exceptions import ValidationError
from django.core.wsgi import get_wsgi_application
from django.db import IntegrityError, close_old_connections, transaction
from django.test import Client, override_settings
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import REQUEST_SHAPE_PROBES, ComponentInfo
from schemathesis.generation.modes import GenerationMode
from schemathesis.transport.requests import REQUESTS_TRANSPORT
from schemathesis.transport.serialization import Binary
from schemathesis.transport.wsgi import WSGI_TRANSPORT

from config.urls import router
from core.phones import to_e164
from core.text import is_canonical_uuid
from messaging.models import EmailTemplate, PhoneNumber
from tenancy.auth import issue_tokens
from tenancy.context import company_context
from tenancy.models import User
from workflows.records import record_types

from .factories import (
    CompanyFactory,
    DocumentSignatureFactory,
    QuoteLineItemFactory,
    SuperAdminFactory,
    UserFactory,
    WorkflowExecutionFactory,
)
from .isolation import REGISTRY

# A CI step of its own (`make fuzz`, about 20 minutes on two cores), so `make test` stays quick.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(os.environ.get("CRM_FUZZ") != "1", reason="`make fuzz` runs it (CRM_FUZZ=1)"),
]

ROWS_PER_MODEL = 2


def generated_schema() -> dict:
    """The schema /api/schema/ serves, built without a request (no database needed at collection)."""
    spec = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(spec, renderer_context={}))


# Signing out needs the caller's own live refresh token, and accepting an invitation the token of an
# e-mailed link, which no schema can state: any other string the schema admits is refused with a 400
# saying nothing was signed out, or that the link is invalid (docs/SECURITY.md).
CALLER_BOUND_BODIES = "^/api/auth/(logout|accept-invite)/?$"
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": 100, "deterministic": True, "no-shrink": True},
        "operations": [
            {
                "include-path-regex": CALLER_BOUND_BODIES,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
                    }
                },
            }
        ],
    }
)
schema = schemathesis.openapi.from_dict(generated_schema(), config=CONFIG)
# Operations with a finding not fixed yet, each with the reason (docs/SECURITY.md, "Fuzzing"); they are
# left out of the run so that every other operation is held to zero failures in CI.
OPEN_FINDINGS: dict[tuple[str, str], str] = {}
for method, path in OPEN_FINDINGS:
    schema = schema.exclude(method=method, path=path)
if os.environ.get("CRM_FUZZ_PATHS"):
    # While fixing findings: fuzz only the paths matching this regular expression.
    schema = schema.include(path_regex=os.environ["CRM_FUZZ_PATHS"])


schema.app = get_wsgi_application()


@WSGI_TRANSPORT.serializer("multipart/form-data")
def multipart_as_shown(context, value):
    """A multipart body encoded as the curl line of a failure shows it, empty fields included.

    The WSGI transport re-encodes form fields with Werkzeug, which leaves an empty field without the
    line break before the next boundary, so the server never sees it; requests encodes it properly.
    """
    _, parts = REQUESTS_TRANSPORT.get_first_matching_media_type("multipart/form-data")
    encoded = parts(context, value)
    if "headers" in encoded:  # a body requests sends as it is, under its own Content-Type
        return {"data": encoded["data"], "content_type": encoded["headers"]["Content-Type"]}
    if "files" not in encoded:
        return encoded  # raw bytes
    form = requests.Request("POST", "http://wsgi.invalid/", files=encoded["files"], data=encoded["data"])
    prepared = form.prepare()
    return {"data": prepared.body, "content_type": prepared.headers["Content-Type"]}


@dataclass
class Persona:
    """Who calls the API, which ids a path may name (both companies'), and the rows a body may name."""

    headers_for_reads: dict
    headers_for_writes: dict
    targets: dict = field(default_factory=dict)
    own_rows: dict = field(default_factory=dict)


CURRENT: dict = {}


def path_targets(own, other) -> dict:
    """(path prefix, parameter) -> ids of real rows, own company's first."""
    return {key: own.get(key, []) + other.get(key, []) for key in set(own) | set(other)}


def seed_company(company) -> dict:
    """A few rows of every model the API serves, for one company; their ids by route."""
    by_model: dict = {}
    for model, registration in REGISTRY.items():
        rows = []
        for _ in range(ROWS_PER_MODEL):
            try:
                with transaction.atomic():
                    rows.append(registration.create(company))
            except IntegrityError:
                break  # one row per company (Twilio settings)
        by_model[model] = [str(row.pk) for row in rows]
    by_model["signature"] = [
        str(DocumentSignatureFactory(document_id=pk, company=company).pk)
        for pk in by_model[_model("documents")]
    ]
    by_model["execution"] = [
        str(WorkflowExecutionFactory(workflow_id=pk, company=company).pk)
        for pk in by_model[_model("workflows")]
    ]
    for pk in by_model[_model("quotes")]:
        QuoteLineItemFactory(quote_id=pk, company=company)
    targets = {}
    for prefix, viewset, _ in router.registry:
        model = getattr(viewset, "model", None)
        if model in by_model:
            targets[(f"/api/{prefix}/", "id")] = by_model[model]
    targets[("/api/workflows/", "execution_id")] = by_model["execution"]
    return targets


def own_rows(company, seeded_targets: dict) -> dict:
    """Ids of the company's rows by model, users included: what a body's relation may name."""
    rows: dict = {}
    for prefix, viewset, _ in router.registry:
        model = getattr(viewset, "model", None)
        ids = seeded_targets.get((f"/api/{prefix}/", "id"))
        if model is not None and ids:
            rows[model] = ids
    with company_context(company):
        rows[User] = [str(pk) for pk in User.objects.filter(company=company).values_list("pk", flat=True)]
        rows[NUMBERS] = list(PhoneNumber.objects.order_by("number").values_list("number", flat=True))
    return rows


def _relations(model) -> dict[str, type]:
    return {
        f.name: f.related_model
        for f in model._meta.get_fields()
        if (f.many_to_one or f.many_to_many) and not f.auto_created and f.name != "company"
    }


def relation_models() -> dict[str, dict[str, type]]:
    """For each API path prefix (and "" for any), body property name -> the model its uuid names."""
    by_prefix: dict[str, dict[str, type]] = {"": {}}
    for prefix, viewset, _ in router.registry:
        model = getattr(viewset, "model", None)
        if model is not None:
            by_prefix[f"/api/{prefix}/"] = _relations(model)
            for name, related in _relations(model).items():
                by_prefix[""].setdefault(name, related)
    return by_prefix


RELATIONS = relation_models()
# Body properties that name a row by id without being a foreign key: the sending number of a text or call,
# and the e-mail template and user a workflow action names.
NAMED_BY_ID = {"from_number": PhoneNumber, "template_id": EmailTemplate, "recipient": User}
# A company number may be named by the number itself (E.164) as well: own_rows[NUMBERS] lists them.
NUMBERS = "phone numbers"
E164 = re.compile(r"\+[1-9]\d{1,14}")


def substitute_own_rows(context, body):
    """A uuid in a body property that names a relation becomes a row of the caller's company.

    The schema types a relation as any uuid, but only the company's own rows exist for it (another
    company's are refused with a 400 by design); a generated uuid would almost never name a row. A
    company number given as E.164 becomes one of the company's numbers the same way.
    Values that are not uuids are left as generated, so invalid bodies stay invalid.
    """
    own = CURRENT.get("own_rows")
    if not own:
        return body
    path = context.operation.path
    names = {**RELATIONS[""], **NAMED_BY_ID}
    for prefix, fields in RELATIONS.items():
        if prefix and path.startswith(prefix):
            names.update(fields)
    return _replace_relation_ids(body, names, own)


def _replace_relation_ids(value, names, own, key=None):
    if isinstance(value, dict):
        return {k: _replace_relation_ids(v, names, own, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_relation_ids(item, names, own, key) for item in value]
    model = names.get(key)
    if model is None or not isinstance(value, str):
        return value
    if own.get(model) and is_canonical_uuid(value):
        ids = own[model]
        return ids[int(value.replace("-", ""), 16) % len(ids)]
    if model is PhoneNumber and own.get(NUMBERS) and E164.fullmatch(value):
        return own[NUMBERS][int(value[1:]) % len(own[NUMBERS])]
    return value


# Rules the schema cannot state (relative to now, or across two parameters), each refused with a 400
# and tested in its own module: positive examples are brought inside them, negative ones stay as they are.
def future_schedule(context, body):
    """A campaign is scheduled in the future (tests/messaging/test_email_campaigns.py covers a past time)."""
    if context.operation.path.endswith("/schedule/") and isinstance(body, dict):
        when = _parse_datetime(body.get("scheduled_at"))
        if when is not None and when <= timezone.now():
            body = {**body, "scheduled_at": (timezone.now() + timedelta(days=1)).isoformat()}
    return body


def dialable_phones(context, body):
    """A typed phone number is a real one (tests/core/test_phones_and_currencies.py covers the refusals)."""
    if isinstance(body, dict) and isinstance(body.get("phone"), str) and body["phone"].strip():
        try:
            to_e164(body["phone"])
        except ValidationError:
            body = {**body, "phone": "(415) 555-0100"}
    return body


def ordered_period(context, query):
    """An analytics range runs forward (tests/analytics/test_analytics.py covers `from` after `to`)."""
    if context.operation.path.startswith("/api/analytics") and isinstance(query, dict):
        first = _parse_date(query.get("from"))
        last = _parse_date(query.get("to")) or timezone.localdate()  # `to` defaults to today
        if first is not None and first > last:
            query = {**query, "from": last.isoformat(), "to": first.isoformat()}
    return query


def _parse_datetime(value):
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _parse_date(value):
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def updated_references(context, body):
    """An update_field action that sets a reference (an owner, an account) names a row of the company."""
    own = CURRENT.get("own_rows")
    actions = body.get("actions") if isinstance(body, dict) else None
    if not own or not context.operation.path.startswith("/api/workflows") or not isinstance(actions, list):
        return body
    changed = []
    for action in actions:
        params = action.get("params") if isinstance(action, dict) else None
        if isinstance(params, dict) and action.get("type") == "update_field":
            field = params.get("field")
            model = UPDATABLE_REFERENCES.get(field) if isinstance(field, str) else None
            params = {
                **params,
                **_replace_relation_ids({"value": params.get("value")}, {"value": model}, own),
            }
            action = {**action, "params": params}
        changed.append(action)
    return {**body, "actions": changed}


def keys_without_nul(context, body):
    """Free-form JSON keys hold no NUL: refused (jsonb cannot store it), but OpenAPI 3.0 cannot say so.

    tests/workflows/test_workflows.py covers the refusal; here positive and negative cases alike drop the NUL.
    """
    if isinstance(body, dict):
        return {
            key.replace("\x00", "") if isinstance(key, str) else key: keys_without_nul(context, value)
            for key, value in body.items()
        }
    if isinstance(body, list):
        return [keys_without_nul(context, item) for item in body]
    return body


def _updatable_references() -> dict[str, type]:
    """Fields an update_field action may set to another row, by name, with the model they name."""
    return {
        name: record_type.model_field(name).related_model
        for record_type in record_types().values()
        for name in record_type.updatable_fields
        if record_type.model_field(name).many_to_one
    }


UPDATABLE_REFERENCES = _updatable_references()


def with_domain_data(case) -> None:
    """Bring a case's body and query inside the rules above, in every phase (examples, coverage, fuzzing)."""
    context = SimpleNamespace(operation=case.operation)
    if isinstance(case.body, dict | list):
        body = substitute_own_rows(context, case.body)
        body = keys_without_nul(context, body)
        body = dialable_phones(context, future_schedule(context, updated_references(context, body)))
        if isinstance(body, dict) and (case.media_type or "").startswith("multipart/"):
            # In place, and judged here: schemathesis validates a replaced body again but takes a
            # multipart file part (bytes) for a wrong type, turning every upload into a negative case.
            case.body.update(body)
            judge_multipart_body(case)
        else:
            case.body = body
    if isinstance(case.query, dict):
        case.query = ordered_period(context, case.query)


def judge_multipart_body(case) -> None:
    """Label a multipart body positive or negative by the schema, each part read as the text sent.

    A form part is text: `true` and `5` arrive as such, an empty list sends no part, and a file part
    counts as text of its length (for minLength).
    """
    meta = case.meta
    probe = getattr(meta.phase.data, "scenario", None) in REQUEST_SHAPE_PROBES
    if probe or ParameterLocation.BODY not in meta.components:
        return
    as_sent = {name: _form_text(part) for name, part in case.body.items() if part != []}
    valid = case._validate_component(
        ParameterLocation.BODY, as_sent, case.operation.schema.adapter.jsonschema_validator_cls
    )
    meta.components[ParameterLocation.BODY] = ComponentInfo(
        mode=GenerationMode.POSITIVE if valid else GenerationMode.NEGATIVE
    )
    positive = all(info.mode.is_positive for info in meta.components.values())
    meta.generation.mode = GenerationMode.POSITIVE if positive else GenerationMode.NEGATIVE


def _form_text(part):
    """What a generated form value arrives as: the text of each part (a list when repeated)."""
    if isinstance(part, list):
        texts = [_form_text(item) for item in part]
        return texts[0] if len(texts) == 1 else texts
    if isinstance(part, Binary):
        return "x" * len(part.data)
    if isinstance(part, bytes):
        return "x" * len(part)
    return part if isinstance(part, str) else json.dumps(part)


def _model(prefix):
    return next(viewset.model for p, viewset, _ in router.registry if p == prefix)


def substitute_real_ids(context, path_parameters):
    """Let a path parameter name a seeded row of either company, or keep the generated value."""
    if not path_parameters or "targets" not in CURRENT:
        return st.just(path_parameters)  # no path parameters, or explicit examples built at collection
    path = context.operation.path
    choices = {}
    for name, value in path_parameters.items():
        ids = next(
            (
                ids
                for (prefix, param), ids in CURRENT["targets"].items()
                if path.startswith(prefix) and param == name
            ),
            None,
        )
        if ids and _is_uuid(value):
            choices[name] = st.sampled_from([value, *ids])
    if not choices:
        return st.just(path_parameters)
    return st.fixed_dictionaries({**{k: st.just(v) for k, v in path_parameters.items()}, **choices})


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


schema.hook("flatmap_path_parameters")(substitute_real_ids)


@pytest.fixture(scope="module")
def fuzz_storages(tmp_path_factory, django_db_setup):
    """One file storage for the module, so the files seeded once are there for every operation."""
    from django.conf import settings as django_settings

    location = str(tmp_path_factory.mktemp("fuzz-files"))
    return {
        **django_settings.STORAGES,
        "files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location},
        },
    }


@pytest.fixture(autouse=True)
def _private_file_storage(settings, fuzz_storages):
    """Overrides the suite's per-test storage with the module's."""
    settings.STORAGES = fuzz_storages


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, fuzz_storages):
    """Two companies with rows of every model, a user each and a super admin; rolled back at the end."""
    with django_db_blocker.unblock(), override_settings(STORAGES=fuzz_storages), transaction.atomic():
        company_a, company_b = CompanyFactory(name="Fuzz A"), CompanyFactory(name="Fuzz B")
        user_a = UserFactory(company=company_a, role="owner")
        user_b = UserFactory(company=company_b, role="owner")
        admin = SuperAdminFactory()
        seeds_a, seeds_b = seed_company(company_a), seed_company(company_b)
        rows_a, rows_b = own_rows(company_a, seeds_a), own_rows(company_b, seeds_b)
        yield {
            "a": (company_a, user_a, seeds_a, rows_a),
            "b": (company_b, user_b, seeds_b, rows_b),
            "admin": admin,
        }
        transaction.set_rollback(True)


@pytest.fixture
def in_process_requests():
    """Keep Django's request signals from closing the test's connection (as its test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {issue_tokens(user)['access_token']}"}


def persona(world, name) -> Persona:
    if name == "admin":
        company_a, _, seeds_a, rows_a = world["a"]
        seeds_b = world["b"][2]
        headers = bearer(world["admin"])
        writes = {**headers, "X-Company-ID": str(company_a.pk)}
        return Persona(headers, writes, path_targets(seeds_a, seeds_b), rows_a)
    other = "b" if name == "a" else "a"
    _, user, own, rows = world[name]
    headers = bearer(user)
    return Persona(headers, headers, path_targets(own, world[other][2]), rows)


@schemathesis.hook("before_call")
def as_sent(context, case, kwargs):
    """Judge a case by the request as sent, and send it as its reproducing curl line shows it.

    Edits made here are validated once more. A generated Authorization header is dropped: the
    persona's is sent. A structured query value (a nested list or an object, as negative cases have
    them) becomes the plain values requests puts on the wire; the WSGI transport would send its
    Python repr instead.
    """
    if case.headers and any(name.lower() == "authorization" for name in case.headers):
        generated = case.headers.items()
        case.headers = {name: value for name, value in generated if name.lower() != "authorization"}
    if isinstance(case.query, dict):
        # A number (or a list of one value) given to a text parameter (?search=-5e-10) is one text on
        # the wire, and valid as such.
        texts = _text_parameters(case.operation)
        numbers = {name for name, value in case.query.items() if name in texts and _sent_as_one_text(value)}
        if numbers:
            case.query = {
                name: _wire_values(name, value) if name in numbers else value
                for name, value in case.query.items()
            }
    if isinstance(case.query, dict) and any(_structured(value) for value in case.query.values()):
        sent = {
            name: _wire_values(name, value) if _structured(value) else value
            for name, value in case.query.items()
        }
        case.query = {name: value for name, value in sent.items() if value != []}


def _sent_as_one_text(value) -> bool:
    """A number, or a list of one number or text, which requests sends as a single text value."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
        if isinstance(value, str):
            return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text_parameters(operation) -> set[str]:
    """Query parameters whose schema is a string (also as one branch of an anyOf, as allowEmptyValue adds)."""
    return {
        parameter.name
        for parameter in getattr(operation, "query", ())
        if _is_text_schema(parameter.definition.get("schema") or {})
        or _is_text_schema(getattr(parameter, "validation_schema", None) or {})
    }


def _is_text_schema(schema) -> bool:
    if not isinstance(schema, dict):
        return False
    branches = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return any(isinstance(branch, dict) and branch.get("type") == "string" for branch in branches)


def _structured(value) -> bool:
    nested = isinstance(value, list) and any(isinstance(item, list | dict) for item in value)
    return nested or (isinstance(value, dict) and value != {})  # schemathesis sends {} as ""


def _wire_values(name, value):
    """The values requests sends for one query parameter: one string, a list when repeated, [] for none."""
    url = requests.Request("GET", "http://wire.invalid/", params={name: value}).prepare().url
    values = [v for _, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    return values[0] if len(values) == 1 else values


def fuzz(case, who: Persona):
    CURRENT.update(targets=who.targets, own_rows=who.own_rows)
    reading = case.method.upper() in ("GET", "HEAD", "OPTIONS")
    headers = who.headers_for_reads if reading else who.headers_for_writes
    with_domain_data(case)
    with transaction.atomic():
        try:
            case.call_and_validate(headers=headers)
        finally:
            transaction.set_rollback(True)


FUZZ_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def as_company_a(world, db, in_process_requests):
    who = persona(world, "a")
    CURRENT["targets"], CURRENT["own_rows"] = who.targets, who.own_rows
    return who


@pytest.fixture
def as_company_b(world, db, in_process_requests):
    who = persona(world, "b")
    CURRENT["targets"], CURRENT["own_rows"] = who.targets, who.own_rows
    return who


@pytest.fixture
def as_super_admin(world, db, in_process_requests):
    who = persona(world, "admin")
    CURRENT["targets"], CURRENT["own_rows"] = who.targets, who.own_rows
    return who


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_company_a(case, as_company_a):
    fuzz(case, as_company_a)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_company_b(case, as_company_b):
    fuzz(case, as_company_b)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_super_admin(case, as_super_admin):
    fuzz(case, as_super_admin)


# Deep bodies: the generated examples nest a few levels at most, so each JSON operation is also sent
# one body nested past the parser's bound and one of 50,000 levels, with path ids of real own rows.
DEEP_BODIES = [b"[" * 65 + b"]" * 65, b"{" + b'"a":[' * 50000 + b"]" * 50000 + b"}"]
JSON_OPERATIONS = [
    (method.upper(), path)
    for path, item in generated_schema()["paths"].items()
    for method, operation in item.items()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
]


def own_path(path: str, who: Persona) -> str:
    """The path with each parameter naming a row of the persona's own company (or a fresh id)."""
    for name in re.findall(r"{(\w+)}", path):
        ids = next(
            (rows for (start, key), rows in who.targets.items() if path.startswith(start) and key == name),
            None,
        )
        path = path.replace(f"{{{name}}}", str(ids[0]) if ids else str(uuid.uuid4()))
    return path


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS, ids=[f"{m} {p}" for m, p in JSON_OPERATIONS])
def test_deep_bodies_are_a_4xx_on_every_json_operation(method, path, as_company_a):
    """No nesting, however deep, is a 500; a body that reaches the parser is its 400."""
    client = Client()
    for body in DEEP_BODIES:
        with transaction.atomic():
            try:
                response = client.generic(
                    method,
                    own_path(path, as_company_a),
                    body,
                    content_type="application/json",
                    headers=as_company_a.headers_for_writes,
                )
            finally:
                transaction.set_rollback(True)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.content[:300])

"""The isolation matrix: which models it knows how to build, and the checks it runs on each viewset.

Every viewset registered on the API router that subclasses TenantViewSet is walked. A later app is
covered by registering its model here: a factory from tests/factories.py and a function that builds
a valid create payload for a company.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.relations import ManyRelatedField, RelatedField
from rest_framework.test import APIClient

from crm.models import Account, Contact, Deal
from tenancy.api import TenantViewSet
from tenancy.context import company_context
from tenancy.models import Company

from .factories import AccountFactory, ContactFactory, DealFactory, UserFactory


def owned_by_company(company: Company) -> dict:
    """Factory arguments that put a new row, and every row it creates on the way, in one company."""
    return {"company": company}


@dataclass(frozen=True)
class Registration:
    """How the matrix builds rows of one model: its factory, and a valid API payload for a company."""

    factory: Any
    payload: Callable[[Company], dict]
    owned_by: Callable[[Company], dict] = owned_by_company
    # How the payload is sent: "multipart" for a create that is an upload.
    format: str = "json"

    def create(self, company: Company, **overrides):
        """A row of this model owned by `company`, built with the factory."""
        return self.factory(**self.owned_by(company), **overrides)


def account_payload(company: Company) -> dict:
    return {
        "name": "Initech",
        "domain": "initech.example",
        "industry": "Software",
        "phone": "+14155550123",
        "owner": str(UserFactory(company=company).id),
    }


def contact_payload(company: Company) -> dict:
    return {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@initech.example",
        "title": "CTO",
        "account": str(AccountFactory(company=company).id),
        "owner": str(UserFactory(company=company).id),
    }


def deal_payload(company: Company) -> dict:
    contact = ContactFactory(company=company)
    return {
        "name": "Initech renewal",
        "stage": "proposal",
        "amount": "2500.00",
        "currency": "EUR",
        "account": str(contact.account_id),
        "contact": str(contact.id),
        "owner": str(contact.owner_id),
    }


REGISTRY: dict[type, Registration] = {
    Account: Registration(AccountFactory, account_payload),
    Contact: Registration(ContactFactory, contact_payload),
    Deal: Registration(DealFactory, deal_payload, owned_by=lambda company: {"account__company": company}),
}


def _register_domain_apps() -> None:
    from .registrations import collected

    REGISTRY.update(collected())


_register_domain_apps()


@dataclass(frozen=True)
class Tenants:
    """Two companies, each with a user and that user's bearer API client."""

    company_a: Company
    company_b: Company
    user_a: Any
    user_b: Any
    client_a: APIClient
    client_b: APIClient


def tenant_routes(router) -> list[tuple[str, type[TenantViewSet]]]:
    """(prefix, viewset) of every tenant viewset registered on a router."""
    return [(prefix, viewset) for prefix, viewset, _ in router.registry if issubclass(viewset, TenantViewSet)]


def registration_for(viewset: type[TenantViewSet], registry: dict = REGISTRY) -> Registration:
    """The registration of a viewset's model; fail and say how to register it when there is none."""
    registration = registry.get(viewset.model)
    assert registration is not None, (
        f"{viewset.__name__} serves {viewset.model.__name__}, which the isolation matrix cannot build. "
        f"Register it in a module of tests/registrations/ (REGISTRATIONS = {{{viewset.model.__name__}: "
        "Registration(<its factory from tests/factories.py>, <payload(company) -> valid create body>)})."
    )
    return registration


def snapshot(model, pk, company: Company) -> dict | None:
    """Every stored field of one row, deleted or not, as its own company reads it; None when gone."""
    with company_context(company):
        return model._base_manager.filter(pk=pk).values().first()


def count_rows(model, company: Company) -> int:
    with company_context(company):
        return model.objects.count()


def listed_ids(client: APIClient, url: str, **params) -> set[str]:
    response = client.get(url, {"page_size": 200, **params})
    assert response.status_code == 200, (
        f"GET {url} {params} answered {response.status_code}: {response.content}"
    )
    body = response.json()
    return {row["id"] for row in body["results"]}


def plain_search_field(viewset: type[TenantViewSet]) -> str | None:
    """The first search field that is a text column of the viewset's own model."""
    text_fields = {
        field.name
        for field in viewset.model._meta.concrete_fields
        if field.get_internal_type() in {"CharField", "TextField"}
    }
    for name in getattr(viewset, "search_fields", ()):
        name = name.lstrip("^=@$")
        if name in text_fields:
            return name
    return None


def check_foreign_rows_hidden(url: str, viewset: type[TenantViewSet], tenants: Tenants) -> None:
    """B cannot list, read, change, delete or restore A's row; A reads, deletes and restores its own."""
    registration = registration_for(viewset)
    model = viewset.model
    row_a = registration.create(tenants.company_a)
    before = snapshot(model, row_a.pk, tenants.company_a)
    assert before["is_deleted"] is False
    detail = f"{url}/{row_a.pk}"

    def assert_a_unchanged(after: str) -> None:
        assert snapshot(model, row_a.pk, tenants.company_a) == before, (
            f"{viewset.__name__}: company A's {model.__name__} changed after company B's {after}."
        )

    search_field = plain_search_field(viewset)
    overrides = {search_field: before[search_field]} if search_field else {}
    row_b = registration.create(tenants.company_b, **overrides)
    listed = listed_ids(tenants.client_b, url)
    assert str(row_a.pk) not in listed, f"{viewset.__name__}: company B's list shows company A's row."
    assert str(row_b.pk) in listed, f"{viewset.__name__}: company B's list misses its own row."
    if search_field:
        found = listed_ids(tenants.client_b, url, search=before[search_field])
        assert str(row_a.pk) not in found, (
            f"{viewset.__name__}: company B's ?search= on {search_field} finds company A's row."
        )
        assert str(row_b.pk) in found, f"{viewset.__name__}: ?search= on {search_field} misses B's row."
    assert_a_unchanged("list")

    attempts = [
        ("GET", lambda: tenants.client_b.get(detail)),
        (
            "PUT",
            lambda: tenants.client_b.put(
                detail, registration.payload(tenants.company_b), format=registration.format
            ),
        ),
        (
            "PATCH",
            lambda: tenants.client_b.patch(
                detail, registration.payload(tenants.company_b), format=registration.format
            ),
        ),
        ("DELETE", lambda: tenants.client_b.delete(detail)),
    ]
    accepted = set(viewset.http_method_names)
    for method, attempt in attempts:
        response = attempt()
        # A method the viewset does not offer (PUT on notifications) is a 405 for everyone.
        expected = 404 if method.lower() in accepted else 405
        assert response.status_code == expected, (
            f"{viewset.__name__}: company B's {method} {detail} on company A's row answered "
            f"{response.status_code}, not {expected}: {response.content}"
        )
        assert_a_unchanged(method)

    response = tenants.client_a.get(detail)
    assert response.status_code == 200, f"{viewset.__name__}: company A cannot read its own row."
    assert response.json()["id"] == str(row_a.pk)

    response = tenants.client_a.delete(detail)
    assert response.status_code == 204, f"{viewset.__name__}: company A cannot delete its own row."
    kept = snapshot(model, row_a.pk, tenants.company_a)
    assert kept is not None and kept["is_deleted"] is True, (
        f"{viewset.__name__}: DELETE must mark the row deleted and keep it, but it left {kept}."
    )
    assert str(row_a.pk) not in listed_ids(tenants.client_a, url)

    assert str(row_a.pk) not in listed_ids(tenants.client_b, url, deleted="true"), (
        f"{viewset.__name__}: company B's ?deleted=true shows company A's deleted row."
    )
    deleted_before = snapshot(model, row_a.pk, tenants.company_a)
    response = tenants.client_b.post(f"{detail}/restore")
    assert response.status_code == 404, (
        f"{viewset.__name__}: company B's restore of company A's row answered "
        f"{response.status_code}, not 404: {response.content}"
    )
    assert snapshot(model, row_a.pk, tenants.company_a) == deleted_before, (
        f"{viewset.__name__}: company A's deleted row changed after company B's restore."
    )
    assert str(row_a.pk) in listed_ids(tenants.client_a, url, deleted="true"), (
        f"{viewset.__name__}: company A's ?deleted=true misses its own deleted row."
    )
    response = tenants.client_a.post(f"{detail}/restore")
    assert response.status_code == 200, (
        f"{viewset.__name__}: company A cannot restore its own row: {response.status_code} {response.content}"
    )
    assert snapshot(model, row_a.pk, tenants.company_a)["is_deleted"] is False


@dataclass(frozen=True)
class Relation:
    """A writable relation field of a serializer and the model its ids point at."""

    name: str
    related_model: type
    many: bool


def writable_relations(viewset: type[TenantViewSet]) -> Iterator[Relation]:
    serializer = viewset(action="create").get_serializer_class()()
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        relation = field.child_relation if isinstance(field, ManyRelatedField) else field
        if not isinstance(relation, RelatedField):
            continue
        related_model = getattr(relation, "related_model", None) or relation.queryset.model
        yield Relation(name, related_model, isinstance(field, ManyRelatedField))


def foreign_row(related_model, tenants: Tenants):
    """A row of company A that company B's relation will point at."""
    if related_model is get_user_model():
        return tenants.user_a
    assert related_model in REGISTRY, (
        f"A relation points at {related_model.__name__}, which the isolation matrix cannot build. "
        "Register it in a module of tests/registrations/."
    )
    return REGISTRY[related_model].create(tenants.company_a)


def check_foreign_references_refused(url: str, viewset: type[TenantViewSet], tenants: Tenants) -> None:
    """B's create or change pointing at A's rows is a 400 on that field and stores nothing."""
    registration = registration_for(viewset)
    model = viewset.model
    relations = list(writable_relations(viewset))
    # Only the relation checks need a row of B; without relations B's create below is its first row,
    # which a model with one row a company (Twilio settings) requires.
    row_b = registration.create(tenants.company_b) if relations else None
    for relation in relations:
        target = foreign_row(relation.related_model, tenants)
        value = [str(target.pk)] if relation.many else str(target.pk)
        counts = (count_rows(model, tenants.company_a), count_rows(model, tenants.company_b))

        body = {**registration.payload(tenants.company_b), relation.name: value}
        response = tenants.client_b.post(url, body, format=registration.format)
        assert response.status_code == 400 and relation.name in response.json(), (
            f"{viewset.__name__}: company B's POST with {relation.name} = company A's "
            f"{relation.related_model.__name__} answered {response.status_code} {response.content}, "
            f"not a 400 keyed on {relation.name!r}."
        )
        assert (count_rows(model, tenants.company_a), count_rows(model, tenants.company_b)) == counts, (
            f"{viewset.__name__}: a refused POST pointing {relation.name} at company A stored a row."
        )

        before = snapshot(model, row_b.pk, tenants.company_b)
        response = tenants.client_b.patch(f"{url}/{row_b.pk}", {relation.name: value}, format="json")
        assert response.status_code == 400 and relation.name in response.json(), (
            f"{viewset.__name__}: company B's PATCH of {relation.name} to company A's "
            f"{relation.related_model.__name__} answered {response.status_code} {response.content}, "
            f"not a 400 keyed on {relation.name!r}."
        )
        assert snapshot(model, row_b.pk, tenants.company_b) == before, (
            f"{viewset.__name__}: a refused PATCH of {relation.name} changed company B's row."
        )

    counts = count_rows(model, tenants.company_b)
    response = tenants.client_b.post(url, registration.payload(tenants.company_b), format=registration.format)
    if "post" not in viewset.http_method_names:
        # Rows only the system creates (notifications): the collection refuses every POST.
        assert response.status_code == 405, (
            f"{viewset.__name__} offers no POST, but company B's POST answered {response.status_code}."
        )
        assert count_rows(model, tenants.company_b) == counts
        return
    assert response.status_code == 201, (
        f"{viewset.__name__}: company B's valid payload was refused ({response.status_code}): "
        f"{response.content}. Fix the payload function registered in tests/isolation.py."
    )
    assert response.json()["company"] == str(tenants.company_b.pk)
    assert count_rows(model, tenants.company_b) == counts + 1

"""The sales core over REST: CRUD, paths, pagination, filters, deal rules and errors, for two companies."""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from crm.models import Account, Contact, Deal
from tenancy.context import company_context

from ..factories import AccountFactory, ContactFactory, DealFactory, UserFactory
from ..unscoped import stored


@dataclass(frozen=True)
class Resource:
    path: str
    model: type
    factory: type
    create: dict
    put: dict
    patch: dict

    def make(self, company):
        if self.model is Deal:
            return DealFactory(account__company=company)
        return self.factory(company=company)


RESOURCES = [
    Resource(
        path="/api/accounts",
        model=Account,
        factory=AccountFactory,
        create={"name": "Initech", "domain": "initech.example", "industry": "Software"},
        put={"name": "Initech Global", "domain": "initech.example", "industry": "Finance"},
        patch={"industry": "Retail"},
    ),
    Resource(
        path="/api/contacts",
        model=Contact,
        factory=ContactFactory,
        create={"first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.example"},
        put={"first_name": "Peter", "last_name": "Gibbons-Smith", "email": "pg@initech.example"},
        patch={"title": "Engineer"},
    ),
    Resource(
        path="/api/deals",
        model=Deal,
        factory=DealFactory,
        create={"name": "TPS reports", "stage": "lead", "amount": "1200.00", "currency": "USD"},
        put={"name": "TPS reports v2", "stage": "qualified", "amount": "1500.00", "currency": "EUR"},
        patch={"name": "TPS reports v3"},
    ),
]


@pytest.fixture(params=RESOURCES, ids=lambda resource: resource.path.rsplit("/", 1)[-1])
def resource(request):
    return request.param


def listed_ids(client, path, **params) -> list[str]:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# CRUD


def test_create_sets_company_from_server_and_ignores_body_company(
    resource, client_a, client_b, company_a, company_b
):
    """A created record lands in the creator's company whatever the body says, and B cannot see it."""
    response = client_a.post(resource.path, {**resource.create, "company": str(company_b.id)}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["company"] == str(company_a.id)
    assert stored(resource.model, body["id"]).company_id == company_a.id
    assert client_a.get(f"{resource.path}/{body['id']}").status_code == 200
    assert client_b.get(f"{resource.path}/{body['id']}").status_code == 404
    assert body["id"] not in listed_ids(client_b, resource.path)
    with company_context(company_b):
        assert not resource.model.objects.filter(pk=body["id"]).exists()


def test_retrieve_answers_own_record_and_404_for_the_other_company(
    resource, client_a, client_b, company_a, company_b
):
    """Each company reads its own record and gets 404 for the other's."""
    record_a, record_b = resource.make(company_a), resource.make(company_b)

    own_a = client_a.get(f"{resource.path}/{record_a.id}")
    own_b = client_b.get(f"{resource.path}/{record_b.id}")

    assert own_a.status_code == 200
    assert own_a.json()["id"] == str(record_a.id)
    assert own_b.status_code == 200
    assert own_b.json()["id"] == str(record_b.id)
    assert client_a.get(f"{resource.path}/{record_b.id}").status_code == 404
    assert client_b.get(f"{resource.path}/{record_a.id}").status_code == 404


def test_put_replaces_own_record_and_not_the_other_companys(
    resource, client_a, client_b, company_a, company_b
):
    """PUT changes the caller's record; on another company's record it is a 404 and changes nothing."""
    record_a, record_b = resource.make(company_a), resource.make(company_b)
    field = next(iter(resource.put))

    response = client_a.put(f"{resource.path}/{record_a.id}", resource.put, format="json")
    refused = client_a.put(f"{resource.path}/{record_b.id}", resource.put, format="json")

    assert response.status_code == 200, response.content
    assert response.json()[field] == resource.put[field]
    assert getattr(stored(resource.model, record_a.id), field) == resource.put[field]
    assert refused.status_code == 404
    assert getattr(stored(resource.model, record_b.id), field) == getattr(record_b, field)
    assert client_b.put(f"{resource.path}/{record_b.id}", resource.put, format="json").status_code == 200


def test_patch_changes_one_field_of_own_record_only(resource, client_a, client_b, company_a, company_b):
    """PATCH changes a field of the caller's record; another company's record is a 404 and unchanged."""
    record_a, record_b = resource.make(company_a), resource.make(company_b)
    field, value = next(iter(resource.patch.items()))

    response = client_b.patch(f"{resource.path}/{record_b.id}", resource.patch, format="json")
    refused = client_b.patch(f"{resource.path}/{record_a.id}", resource.patch, format="json")

    assert response.status_code == 200, response.content
    assert getattr(stored(resource.model, record_b.id), field) == value
    assert refused.status_code == 404
    assert getattr(stored(resource.model, record_a.id), field) == getattr(record_a, field)
    assert getattr(stored(resource.model, record_a.id), field) != value


def test_delete_is_a_soft_delete_and_other_company_cannot_delete(
    resource, client_a, client_b, company_a, company_b
):
    """DELETE hides the record but keeps the row; another company's DELETE is a 404 and hides nothing."""
    record_a, record_b = resource.make(company_a), resource.make(company_b)

    refused = client_b.delete(f"{resource.path}/{record_a.id}")
    assert refused.status_code == 404
    assert stored(resource.model, record_a.id).is_deleted is False
    assert str(record_a.id) in listed_ids(client_a, resource.path)

    response = client_a.delete(f"{resource.path}/{record_a.id}")

    assert response.status_code == 204
    assert stored(resource.model, record_a.id).is_deleted is True
    assert str(record_a.id) not in listed_ids(client_a, resource.path)
    assert client_a.get(f"{resource.path}/{record_a.id}").status_code == 404
    assert stored(resource.model, record_b.id).is_deleted is False
    assert str(record_b.id) in listed_ids(client_b, resource.path)


# Paths


@pytest.mark.parametrize("path", ["/api/accounts", "/api/contacts", "/api/deals"])
def test_list_and_detail_answer_with_and_without_trailing_slash(path, client_a, client_b, company_a):
    """Both spellings of a path give the same answer and never redirect."""
    record = next(r for r in RESOURCES if r.path == path).make(company_a)

    for url in (path, f"{path}/{record.id}"):
        bare, slashed = client_a.get(url), client_a.get(f"{url}/")
        assert bare.status_code == slashed.status_code == 200
        assert bare.json() == slashed.json()
        foreign_bare, foreign_slashed = client_b.get(url), client_b.get(f"{url}/")
        assert foreign_bare.status_code not in (301, 308)
        assert foreign_slashed.status_code not in (301, 308)
    assert client_b.get(f"{path}/{record.id}").status_code == 404
    assert client_b.get(f"{path}/{record.id}/").status_code == 404


# Pagination


def bulk_contacts(company, count: int) -> list[Contact]:
    with company_context(company):
        return Contact.objects.bulk_create(Contact(first_name=f"Person {n:03d}") for n in range(count))


def test_list_is_paginated_by_50_with_count_and_links(client_a, client_b, company_a, company_b):
    """A list answers count/next/previous/results, 50 rows a page by default, counting only own rows."""
    bulk_contacts(company_a, 51)
    bulk_contacts(company_b, 3)

    first = client_a.get("/api/contacts").json()
    second = client_a.get("/api/contacts", {"page": 2}).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 51
    assert len(first["results"]) == 50
    assert first["next"] is not None
    assert first["previous"] is None
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert second["previous"] is not None
    other = client_b.get("/api/contacts").json()
    assert other["count"] == 3
    assert other["next"] is None


def test_page_size_is_honoured_up_to_200(client_a, client_b, company_a, company_b):
    """?page_size= sets the page length, and a larger request gets at most 200 rows."""
    bulk_contacts(company_a, 201)
    bulk_contacts(company_b, 2)

    small = client_a.get("/api/contacts", {"page_size": 5}).json()
    capped = client_a.get("/api/contacts", {"page_size": 1000}).json()

    assert len(small["results"]) == 5
    assert capped["count"] == 201
    assert len(capped["results"]) == 200
    assert len(client_b.get("/api/contacts", {"page_size": 1000}).json()["results"]) == 2


# Filters, search and ordering


def deal(company, **fields) -> Deal:
    return DealFactory(account__company=company, **fields)


def test_deals_filter_by_one_or_several_stages(client_a, client_b, company_a, company_b):
    """?stage= filters by stage and accepts several stages; another company's deals never appear."""
    won, lost = deal(company_a, stage="won"), deal(company_a, stage="lost")
    deal(company_a, stage="lead")
    won_b = deal(company_b, stage="won")

    assert listed_ids(client_a, "/api/deals", stage="won") == [str(won.id)]
    assert sorted(listed_ids(client_a, "/api/deals?stage=won&stage=lost")) == sorted(
        [str(won.id), str(lost.id)]
    )
    assert listed_ids(client_b, "/api/deals", stage="won") == [str(won_b.id)]


def test_deals_filter_by_owner_and_account(client_a, client_b, company_a, company_b, user_a):
    """?owner= and ?account= narrow deals to that owner or account."""
    mine = deal(company_a, owner=user_a)
    other_owner = deal(company_a)
    deal_b = deal(company_b)

    assert listed_ids(client_a, "/api/deals", owner=str(user_a.id)) == [str(mine.id)]
    assert listed_ids(client_a, "/api/deals", account=str(other_owner.account_id)) == [str(other_owner.id)]
    assert listed_ids(client_a, "/api/deals", account=str(deal_b.account_id)) == []
    assert listed_ids(client_b, "/api/deals", account=str(deal_b.account_id)) == [str(deal_b.id)]


def test_deals_filter_by_amount_range(client_a, client_b, company_a, company_b):
    """amount_min and amount_max are inclusive bounds on the amount."""
    deal(company_a, amount="100.00")
    middle = deal(company_a, amount="500.00")
    deal(company_a, amount="900.00")
    middle_b = deal(company_b, amount="500.00")

    assert listed_ids(client_a, "/api/deals", amount_min="500", amount_max="500") == [str(middle.id)]
    assert len(listed_ids(client_a, "/api/deals", amount_min="500")) == 2
    assert len(listed_ids(client_a, "/api/deals", amount_max="500")) == 2
    assert listed_ids(client_b, "/api/deals", amount_min="200") == [str(middle_b.id)]


def test_deals_filter_by_expected_close_date_range(client_a, client_b, company_a, company_b):
    """close_after and close_before bound the expected close date, inclusive."""
    deal(company_a, expected_close_date=date(2026, 1, 1))
    march = deal(company_a, expected_close_date=date(2026, 3, 15))
    deal(company_a, expected_close_date=date(2026, 6, 30))
    march_b = deal(company_b, expected_close_date=date(2026, 3, 15))

    params = {"close_after": "2026-02-01", "close_before": "2026-03-15"}
    assert listed_ids(client_a, "/api/deals", **params) == [str(march.id)]
    assert len(listed_ids(client_a, "/api/deals", close_after="2026-03-15")) == 2
    assert listed_ids(client_b, "/api/deals", **params) == [str(march_b.id)]


def test_contacts_filter_by_account_and_email_ignoring_case(client_a, client_b, company_a, company_b):
    """?account= narrows contacts to the account; ?email= matches ignoring case."""
    peter = ContactFactory(company=company_a, email="Peter@Initech.example")
    ContactFactory(company=company_a, email="milton@initech.example")
    peter_b = ContactFactory(company=company_b, email="peter@initech.example")

    assert listed_ids(client_a, "/api/contacts", account=str(peter.account_id)) == [str(peter.id)]
    assert listed_ids(client_a, "/api/contacts", email="PETER@initech.EXAMPLE") == [str(peter.id)]
    assert listed_ids(client_b, "/api/contacts", email="PETER@initech.EXAMPLE") == [str(peter_b.id)]
    assert listed_ids(client_b, "/api/contacts", account=str(peter.account_id)) == []


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/contacts", "account"), ("/api/deals", "owner"), ("/api/deals", "account")],
)
def test_invalid_uuid_in_filter_is_400_naming_the_field(
    path, field, client_a, client_b, company_a, company_b
):
    """A filter value that is not a UUID is a 400 that names the filter, for every company."""
    for client in (client_a, client_b):
        response = client.get(path, {field: "not-a-uuid"})

        assert response.status_code == 400
        assert field in response.json()


def test_search_contacts_by_name_and_email(client_a, client_b, company_a, company_b):
    """?search= finds contacts by first name, last name or email, inside the company."""
    peter = ContactFactory(
        company=company_a, first_name="Peter", last_name="Gibbons", email="pg@initech.example"
    )
    ContactFactory(company=company_a, first_name="Milton", last_name="Waddams", email="mw@initech.example")
    peter_b = ContactFactory(company=company_b, first_name="Peter", last_name="Gibbons", email="pg@b.example")

    assert listed_ids(client_a, "/api/contacts", search="gibbons") == [str(peter.id)]
    assert listed_ids(client_a, "/api/contacts", search="Peter") == [str(peter.id)]
    assert listed_ids(client_a, "/api/contacts", search="pg@initech") == [str(peter.id)]
    assert listed_ids(client_b, "/api/contacts", search="gibbons") == [str(peter_b.id)]
    assert listed_ids(client_b, "/api/contacts", search="pg@initech") == []


def test_search_deals_by_name(client_a, client_b, company_a, company_b):
    """?search= finds deals by name inside the company."""
    renewal = deal(company_a, name="Annual renewal")
    deal(company_a, name="New licences")
    renewal_b = deal(company_b, name="Annual renewal")

    assert listed_ids(client_a, "/api/deals", search="renewal") == [str(renewal.id)]
    assert listed_ids(client_b, "/api/deals", search="renewal") == [str(renewal_b.id)]


def test_deals_order_by_amount_both_ways(client_a, client_b, company_a, company_b):
    """?ordering=amount sorts ascending and -amount descending."""
    amounts = ["300.00", "100.00", "200.00"]
    for amount in amounts:
        deal(company_a, amount=amount)
    deal(company_b, amount="50.00")

    ascending = [
        row["amount"] for row in client_a.get("/api/deals", {"ordering": "amount"}).json()["results"]
    ]
    descending = [
        row["amount"] for row in client_a.get("/api/deals", {"ordering": "-amount"}).json()["results"]
    ]

    assert ascending == ["100.00", "200.00", "300.00"]
    assert descending == ["300.00", "200.00", "100.00"]
    assert [
        row["amount"] for row in client_b.get("/api/deals", {"ordering": "amount"}).json()["results"]
    ] == ["50.00"]


@pytest.mark.parametrize(
    "ordering", ["company", "notes", "-owner__password", "nonsense", "last_name,nonsense"]
)
def test_ordering_by_a_field_not_offered_is_a_400_naming_it(ordering, client_a, company_a):
    """An ordering outside ordering_fields is refused with the fields that are offered, never applied."""
    ContactFactory(company=company_a, last_name="Zed")

    response = client_a.get("/api/contacts", {"ordering": ordering})

    assert response.status_code == 400, response.content
    message = response.json()["ordering"][0]
    assert "Cannot sort by" in message and "last_name" in message
    assert "password" not in message.split("sort by:")[1]


def test_ordering_by_offered_fields_sorts_within_the_company(client_a, client_b, company_a, company_b):
    """`-last_name` sorts A's contacts; B's are never among them."""
    ContactFactory(company=company_a, last_name="Abel")
    ContactFactory(company=company_a, last_name="Zed")
    ContactFactory(company=company_b, last_name="Other")

    response = client_a.get("/api/contacts", {"ordering": "-last_name"})

    assert [row["last_name"] for row in response.json()["results"]] == ["Zed", "Abel"]
    assert client_b.get("/api/contacts", {"ordering": "-last_name"}).json()["count"] == 1


# Deal rules


def test_won_stamps_closed_at_and_reopening_clears_it(client_a, client_b, company_a, company_b):
    """Moving a deal to won sets closed_at; moving it back to proposal clears it."""
    open_deal, open_deal_b = deal(company_a, stage="negotiation"), deal(company_b, stage="negotiation")
    url = f"/api/deals/{open_deal.id}"

    won = client_a.patch(url, {"stage": "won"}, format="json")

    assert won.status_code == 200
    assert won.json()["closed_at"] is not None
    assert stored(Deal, open_deal.id).closed_at is not None
    assert client_b.patch(url, {"stage": "proposal"}, format="json").status_code == 404
    assert stored(Deal, open_deal.id).closed_at is not None
    assert stored(Deal, open_deal_b.id).closed_at is None

    reopened = client_a.patch(url, {"stage": "proposal"}, format="json")

    assert reopened.status_code == 200
    assert reopened.json()["closed_at"] is None
    assert stored(Deal, open_deal.id).closed_at is None


def test_negative_amount_is_refused(client_a, company_a):
    """A negative amount is a 400 on the amount and creates nothing."""
    response = client_a.post("/api/deals", {"name": "Refund", "amount": "-1.00"}, format="json")

    assert response.status_code == 400
    assert "amount" in response.json()
    with company_context(company_a):
        assert not Deal.objects.filter(name="Refund").exists()


def test_currency_is_stored_upper_case(client_a, client_b, company_a, company_b):
    """A lower-case currency code is accepted and stored upper-case."""
    response = client_a.post("/api/deals", {"name": "Lower", "currency": "usd"}, format="json")
    response_b = client_b.post("/api/deals", {"name": "Lower", "currency": "eur"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "USD"
    assert stored(Deal, response.json()["id"]).currency == "USD"
    assert response_b.status_code == 201, response_b.content
    assert stored(Deal, response_b.json()["id"]).currency == "EUR"


@pytest.mark.parametrize("currency", ["US", "DOLLARS", "U5D"])
def test_currency_that_is_not_three_letters_is_refused(currency, client_a, company_a):
    """A currency that is not a three-letter code is a 400 on currency and creates nothing."""
    response = client_a.post("/api/deals", {"name": "Odd money", "currency": currency}, format="json")

    assert response.status_code == 400
    assert "currency" in response.json()
    with company_context(company_a):
        assert not Deal.objects.filter(name="Odd money").exists()


def test_owner_defaults_to_the_creating_user(client_a, client_b, user_a, user_b):
    """A deal created without an owner belongs to its creator."""
    response = client_a.post("/api/deals", {"name": "Mine"}, format="json")
    response_b = client_b.post("/api/deals", {"name": "Mine"}, format="json")

    assert response.json()["owner"] == str(user_a.id)
    assert stored(Deal, response.json()["id"]).owner_id == user_a.id
    assert response_b.json()["owner"] == str(user_b.id)


def test_a_full_update_by_a_colleague_keeps_the_owner(company_a, user_a):
    """PUT without an owner leaves the stored owner, instead of handing the deal to the editor."""
    from ..conftest import bearer_client

    colleague = UserFactory(company=company_a, role="admin")  # a member may not edit another's deal
    created = bearer_client(user_a).post("/api/deals", {"name": "Mine"}, format="json").json()

    response = bearer_client(colleague).put(
        f"/api/deals/{created['id']}", {"name": "Renamed", "stage": "proposal"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert stored(Deal, created["id"]).owner_id == user_a.id
    assert stored(Deal, created["id"]).name == "Renamed"


def test_owner_may_be_a_colleague_but_not_a_user_of_another_company(client_a, company_a, company_b, user_b):
    """The owner may be another user of the same company; a user of another company is a 400."""
    colleague = UserFactory(company=company_a)

    response = client_a.post("/api/deals", {"name": "Delegated", "owner": str(colleague.id)}, format="json")
    refused = client_a.post("/api/deals", {"name": "Leaked", "owner": str(user_b.id)}, format="json")

    assert response.status_code == 201, response.content
    assert stored(Deal, response.json()["id"]).owner_id == colleague.id
    assert refused.status_code == 400
    assert "owner" in refused.json()
    with company_context(company_a):
        assert not Deal.objects.filter(name="Leaked").exists()


def test_probability_is_read_only_and_follows_the_stage(client_a, client_b, company_a, company_b):
    """probability in a body is ignored; the answer reflects the stage."""
    response = client_a.post(
        "/api/deals", {"name": "Sure thing", "stage": "proposal", "probability": "0.99"}, format="json"
    )
    url = f"/api/deals/{response.json()['id']}"

    assert response.status_code == 201
    assert Decimal(response.json()["probability"]) == Decimal("0.50")
    patched = client_a.patch(url, {"stage": "negotiation", "probability": "0.01"}, format="json")
    assert Decimal(patched.json()["probability"]) == Decimal("0.75")
    assert client_b.get(url).status_code == 404


# Validation and errors


def test_contact_with_invalid_phone_is_a_field_error(client_a, company_a):
    """A phone number not in E.164 form is a 400 on phone, and creates nothing."""
    response = client_a.post("/api/contacts", {"first_name": "Bad", "phone": "555-0100"}, format="json")

    assert response.status_code == 400
    assert "phone" in response.json()
    with company_context(company_a):
        assert not Contact.objects.filter(first_name="Bad").exists()


def test_malformed_json_is_a_400_with_detail(client_a, company_a):
    """A body that is not JSON is a 400 with a detail, and creates nothing."""
    response = client_a.generic(
        "POST", "/api/contacts", '{"first_name": "Broken"', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["detail"]
    with company_context(company_a):
        assert not Contact.objects.filter(first_name="Broken").exists()


@pytest.mark.parametrize("record_id", ["5d1f7c3e-0000-4000-8000-000000000404", "not-a-uuid", "12345"])
def test_unknown_or_malformed_id_is_a_json_404(record_id, client_a, client_b, resource):
    """An id that names nothing, or is not a UUID, is a 404 with a JSON detail."""
    for client in (client_a, client_b):
        response = client.get(f"{resource.path}/{record_id}")

        assert response.status_code == 404
        assert response.json()["detail"]


def test_unknown_api_path_is_a_json_404(client_a):
    """A path under /api/ that names no resource is a 404 with a JSON detail."""
    response = client_a.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


def test_anonymous_requests_are_401_with_detail(resource, company_a):
    """Without credentials a list is a 401 and a create is a 401 that creates nothing."""
    record = resource.make(company_a)
    anonymous = APIClient()

    listed = anonymous.get(resource.path)
    created = anonymous.post(resource.path, resource.create, format="json")
    read = anonymous.get(f"{resource.path}/{record.id}")

    for response in (listed, created, read):
        assert response.status_code == 401
        assert response.json()["detail"]
    with company_context(company_a):
        assert resource.model.objects.count() == 1


def test_invalid_bearer_token_is_401(resource, company_a):
    """A bearer token that does not verify is a 401, not an anonymous read."""
    resource.make(company_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")

    response = client.get(resource.path)

    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "website",
    [
        "https://example.com",
        "http://shop.example.co.uk:8080/p?q=1#top",
        "  https://example.com/  ",
        "HTTPS://example.com",
        "https://" + "0" * 63 + "." + "a" * 64,
        "https://" + "0" * 64 + ".com",
        "https://example",
        "https://-bad.example.com",
        "https://exa mple.com",
        "ftp://example.com",
        "example.com",
        "https://example.com/" + "a" * 181,
    ],
)
def test_website_is_accepted_exactly_when_the_schema_says(client_a, company_a, website):
    """The published pattern and length of Account.website decide what is stored, and nothing else."""
    stated = client_a.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    rule = stated["AccountRequest"]["properties"]["website"]
    allowed = len(website) <= rule["maxLength"] and re.search(rule["pattern"], website) is not None

    response = client_a.post("/api/accounts", {"name": "Acme", "website": website}, format="json")

    assert response.status_code == (201 if allowed else 400), response.content
    if allowed:
        assert response.json()["website"] == website.strip()

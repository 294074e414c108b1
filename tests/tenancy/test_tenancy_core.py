"""The tenancy core: the fail-closed manager, scoped reads, guarded writes, context isolation, middleware."""

import asyncio
import threading
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client

from crm.models import Account, Contact, Deal
from tenancy.auth import issue_tokens
from tenancy.context import all_companies, company_context, current_company_id, current_scope
from tenancy.exceptions import CrossTenantWrite, NoTenantContext
from tenancy.models import AuditLog

from .. import urls_context_probe
from ..factories import AccountFactory, ContactFactory, DealFactory
from ..unscoped import audit_entries, stored, unscoped

TENANT_MODELS = [Contact, Deal, Account]


def sales_rows(company) -> SimpleNamespace:
    """An account with its owner, a contact and a deal, all of one company."""
    account = AccountFactory(company=company)
    contact = ContactFactory(company=company, account=account, owner=account.owner)
    deal = DealFactory(account=account, contact=contact, owner=account.owner)
    return SimpleNamespace(company=company, account=account, contact=contact, deal=deal, owner=account.owner)


@pytest.fixture
def rows_a(company_a):
    return sales_rows(company_a)


@pytest.fixture
def rows_b(company_b):
    return sales_rows(company_b)


@pytest.fixture(params=["a_acts_on_b", "b_acts_on_a"])
def home_and_away(request, rows_a, rows_b):
    """Both directions of a cross-company attempt: (the acting company, the other company)."""
    return (rows_a, rows_b) if request.param == "a_acts_on_b" else (rows_b, rows_a)


# 1. With no company set, tenant queries fail closed.


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model.__name__)
def test_query_without_company_raises_and_says_how_to_set_one(model, rows_a, rows_b):
    """Given rows of two companies, when a query runs with no company, then it raises with guidance."""
    with pytest.raises(NoTenantContext) as raised:
        list(model.objects.all())

    message = str(raised.value)
    assert "company_context" in message
    assert "all_companies" in message


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model.__name__)
@pytest.mark.parametrize(
    "query",
    [
        pytest.param(lambda manager: manager.count(), id="count"),
        pytest.param(lambda manager: manager.exists(), id="exists"),
        pytest.param(lambda manager: manager.filter(is_deleted=False).first(), id="filter"),
    ],
)
def test_count_exists_and_filter_without_company_raise(model, query, rows_a, rows_b):
    """Given rows of two companies, when count/exists/filter run with no company, then they raise."""
    with pytest.raises(NoTenantContext):
        query(model.objects)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(lambda account: list(account.contacts.all()), id="contacts.all"),
        pytest.param(lambda account: account.contacts.count(), id="contacts.count"),
        pytest.param(lambda account: account.contacts.exists(), id="contacts.exists"),
        pytest.param(lambda account: list(account.deals.all()), id="deals.all"),
    ],
)
def test_reverse_relation_without_company_raises(query, rows_a, rows_b):
    """Given an account with contacts and deals, when its relation is read with no company, then it raises."""
    with pytest.raises(NoTenantContext):
        query(rows_a.account)


def test_saving_without_company_raises_and_stores_nothing(rows_a, rows_b):
    """Given no company set, when a contact is saved, then it raises and no row is stored."""
    with pytest.raises(NoTenantContext):
        Contact(first_name="Nobody's").save()

    with unscoped():
        assert not Contact._base_manager.filter(first_name="Nobody's").exists()


# 2. Scoped reads: one company, live rows, and audited reads across companies.


def test_company_context_shows_only_that_companys_rows(rows_a, rows_b):
    """Given rows of two companies, when each company queries, then it sees only its own rows."""
    for mine in (rows_a, rows_b):
        with company_context(mine.company):
            assert list(Contact.objects.all()) == [mine.contact]
            assert list(Deal.objects.all()) == [mine.deal]
            assert list(Account.objects.all()) == [mine.account]
            assert list(mine.account.contacts.all()) == [mine.contact]


def test_reverse_relation_of_another_companys_row_shows_nothing(home_and_away):
    """Given another company's account, when its contacts are read in my company, then none show."""
    home, away = home_and_away

    with company_context(home.company):
        assert list(away.account.contacts.all()) == []
        assert not away.account.deals.exists()


def test_soft_deleted_rows_are_hidden(rows_a, rows_b):
    """Given a soft-deleted contact in each company, when each company queries, then only live rows show."""
    for mine in (rows_a, rows_b):
        deleted = ContactFactory(company=mine.company, account=mine.account)
        with company_context(mine.company):
            deleted.soft_delete()

            assert list(Contact.objects.all()) == [mine.contact]
            assert not Contact.objects.filter(pk=deleted.pk).exists()
            assert list(mine.account.contacts.all()) == [mine.contact]
        assert stored(Contact, deleted.pk).is_deleted


def test_all_companies_sees_both_companies_and_writes_the_reason_to_the_audit_log(rows_a, rows_b):
    """Given rows of two companies, when read in all_companies, then both show and the reason is audited."""
    deleted = ContactFactory(company=rows_a.company, account=rows_a.account, is_deleted=True)
    reason = "nightly pipeline report"

    with all_companies(reason=reason):
        contacts = set(Contact.objects.all())
        deals = set(Deal.objects.all())

    assert contacts == {rows_a.contact, rows_b.contact}
    assert deleted not in contacts
    assert deals == {rows_a.deal, rows_b.deal}
    (entry,) = audit_entries()
    assert entry.action == AuditLog.Action.ALL_COMPANIES
    assert entry.reason == reason
    assert entry.company is None


@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "blank"])
def test_all_companies_without_a_reason_is_refused(reason, rows_a, rows_b):
    """Given no reason, when all_companies is entered, then it raises ValueError and audits nothing."""
    with pytest.raises(ValueError, match="reason"), all_companies(reason=reason):
        pytest.fail("the block must not run without a reason")

    assert not audit_entries()
    assert current_scope() is None


# 3. Writes: the current company is assigned, and nothing crosses companies.


def test_new_rows_get_the_current_company(company_a, company_b):
    """Given each company's context, when a contact is created without one, then it gets that company."""
    for company in (company_a, company_b):
        with company_context(company):
            created = Contact.objects.create(first_name=f"Created in {company.name}")
            saved = Contact(first_name=f"Saved in {company.name}")
            saved.save()

        assert stored(Contact, created.pk).company_id == company.pk
        assert stored(Contact, saved.pk).company_id == company.pk


def test_new_row_of_another_company_is_refused(home_and_away):
    """Given my company, when a contact is created for another, then it raises and nothing is stored."""
    home, away = home_and_away

    with company_context(home.company), pytest.raises(CrossTenantWrite):
        Contact.objects.create(company=away.company, first_name="Planted")

    with unscoped():
        assert not Contact._base_manager.filter(first_name="Planted").exists()


def test_saving_another_companys_row_is_refused_and_changes_nothing(home_and_away):
    """Given another company's contact, when saved in my company, then it raises and the row is unchanged."""
    home, away = home_and_away
    original_name = away.contact.first_name
    away.contact.first_name = "Overwritten"

    with company_context(home.company), pytest.raises(CrossTenantWrite):
        away.contact.save()

    assert stored(Contact, away.contact.pk).first_name == original_name


@pytest.mark.parametrize("field", ["contact", "account", "owner"])
@pytest.mark.parametrize("given_as", ["object", "id", "id_string"])
def test_new_deal_pointing_at_another_companys_row_is_refused(field, given_as, home_and_away):
    """Given another company's row, when my new deal points at it, then it raises and nothing is stored."""
    home, away = home_and_away
    foreign = getattr(away, field)
    reference = {
        "object": {field: foreign},
        "id": {f"{field}_id": foreign.pk},
        "id_string": {f"{field}_id": str(foreign.pk)},
    }[given_as]

    with company_context(home.company), pytest.raises(CrossTenantWrite):
        Deal(name="Poached deal", **reference).save()

    with unscoped():
        assert not Deal._base_manager.filter(name="Poached deal").exists()


@pytest.mark.parametrize("field", ["contact", "account", "owner"])
@pytest.mark.parametrize("given_as", ["object", "id"])
def test_existing_deal_repointed_at_another_companys_row_is_refused(field, given_as, home_and_away):
    """Given my deal, when repointed at another company's row, then it raises and the deal is unchanged."""
    home, away = home_and_away
    foreign = getattr(away, field)
    with company_context(home.company):
        deal = Deal.objects.get(pk=home.deal.pk)
        if given_as == "object":
            setattr(deal, field, foreign)
        else:
            setattr(deal, f"{field}_id", foreign.pk)

        with pytest.raises(CrossTenantWrite):
            deal.save()

    assert getattr(stored(Deal, home.deal.pk), f"{field}_id") == getattr(home, field).pk


def test_bulk_create_assigns_the_current_company(company_a, company_b):
    """Given each company's context, when contacts are bulk-created, then they get that company."""
    for company in (company_a, company_b):
        with company_context(company):
            Contact.objects.bulk_create([Contact(first_name=f"Bulk {company.name}")])

        assert stored_contact_companies(f"Bulk {company.name}") == [company.pk]


def stored_contact_companies(first_name) -> list:
    with unscoped():
        return list(Contact._base_manager.filter(first_name=first_name).values_list("company_id", flat=True))


def test_bulk_create_with_a_foreign_reference_inserts_nothing(home_and_away):
    """Given a good and a cross-company contact, when bulk-created, then it raises and neither is stored."""
    home, away = home_and_away
    batch = [
        Contact(first_name="Bulk good", account=home.account),
        Contact(first_name="Bulk bad", account=away.account),
    ]

    with company_context(home.company), pytest.raises(CrossTenantWrite):
        Contact.objects.bulk_create(batch)

    with unscoped():
        assert not Contact._base_manager.filter(first_name__startswith="Bulk").exists()


@pytest.mark.parametrize("key", ["company", "company_id"])
def test_update_of_company_is_refused(key, home_and_away):
    """Given my contacts, when update() sets another company, then it raises and no row moves."""
    home, away = home_and_away
    value = away.company if key == "company" else away.company.pk

    with company_context(home.company), pytest.raises(CrossTenantWrite):
        Contact.objects.all().update(**{key: value})

    assert stored(Contact, home.contact.pk).company_id == home.company.pk


@pytest.mark.parametrize(
    ("key", "attribute"),
    [("account", "account"), ("account_id", "account"), ("owner", "owner"), ("owner_id", "owner")],
)
def test_update_pointing_at_another_companys_row_is_refused(key, attribute, home_and_away):
    """Given my contacts, when update() points at another company's row, it raises and nothing changes."""
    home, away = home_and_away
    foreign = getattr(away, attribute)
    value = foreign if key == attribute else foreign.pk

    with company_context(home.company), pytest.raises(CrossTenantWrite):
        Contact.objects.all().update(**{key: value})

    assert getattr(stored(Contact, home.contact.pk), f"{attribute}_id") == getattr(home, attribute).pk


def test_update_within_the_company_changes_only_its_rows(rows_a, rows_b):
    """Given contacts of two companies, when each company updates all it sees, then only its rows change."""
    for mine, other in ((rows_a, rows_b), (rows_b, rows_a)):
        other_title = stored(Contact, other.contact.pk).title
        with company_context(mine.company):
            assert Contact.objects.all().update(title=f"Buyer at {mine.company.name}") == 1

        assert stored(Contact, mine.contact.pk).title == f"Buyer at {mine.company.name}"
        assert stored(Contact, other.contact.pk).title == other_title


@pytest.mark.parametrize("scope", ["own_company", "all_companies"])
def test_moving_a_row_to_another_company_is_refused(scope, home_and_away):
    """Given my contact, when its company is changed and saved, then it raises and it stays in my company."""
    home, away = home_and_away
    context = company_context(home.company) if scope == "own_company" else all_companies(reason="support fix")

    with context:
        contact = Contact.objects.get(pk=home.contact.pk)
        contact.company_id = away.company.pk
        with pytest.raises(CrossTenantWrite):
            contact.save()

    assert stored(Contact, home.contact.pk).company_id == home.company.pk


def test_creating_inside_all_companies_needs_an_explicit_company(rows_a, rows_b):
    """Given all_companies, when a contact is created with no company, it raises and nothing is stored."""
    with all_companies(reason="platform import"), pytest.raises(NoTenantContext, match="company"):
        Contact.objects.create(first_name="Homeless")

    with unscoped():
        assert not Contact._base_manager.filter(first_name="Homeless").exists()


def test_creating_inside_all_companies_with_an_explicit_company_keeps_references_in_it(rows_a, rows_b):
    """Given all_companies and an explicit company, then only same-company references save."""
    with all_companies(reason="platform import"):
        for mine, other in ((rows_a, rows_b), (rows_b, rows_a)):
            Contact.objects.create(
                company=mine.company, account=mine.account, first_name=f"Imported {mine.company.name}"
            )
            with pytest.raises(CrossTenantWrite):
                Contact.objects.create(company=mine.company, account=other.account, first_name="Crossed")

    assert stored_contact_companies(f"Imported {rows_a.company.name}") == [rows_a.company.pk]
    assert stored_contact_companies(f"Imported {rows_b.company.name}") == [rows_b.company.pk]
    with unscoped():
        assert not Contact._base_manager.filter(first_name="Crossed").exists()


def test_clean_reports_a_foreign_reference_as_a_validation_error(home_and_away):
    """Given my new deal pointing at another company's account, when cleaned, then it is a ValidationError."""
    home, away = home_and_away

    with company_context(home.company), pytest.raises(ValidationError, match="another company"):
        Deal(name="Poached deal", account=away.account).clean()


def test_clean_reports_another_companys_row_as_a_validation_error(home_and_away):
    """Given another company's contact, when cleaned in my company, then it is a ValidationError."""
    home, away = home_and_away

    with company_context(home.company), pytest.raises(ValidationError, match="Refusing"):
        away.contact.clean()


def test_clean_reports_a_missing_company_as_a_validation_error(rows_a, rows_b):
    """Given no company set, when a new contact is cleaned, then a ValidationError names company_context."""
    with pytest.raises(ValidationError, match="company_context"):
        Contact(first_name="Nobody's").clean()


def test_clean_accepts_a_same_company_deal(rows_a, rows_b):
    """Given each company's new deal on its own account, when cleaned, it passes and takes the company."""
    for mine in (rows_a, rows_b):
        with company_context(mine.company):
            deal = Deal(name="Clean deal", account=mine.account, contact=mine.contact, owner=mine.owner)
            deal.clean()

        assert deal.company_id == mine.company.pk


def test_a_platform_super_admin_may_own_a_deal_in_any_company(rows_a, rows_b, super_admin):
    """Given a super admin with no company, when each company saves a deal owned by them, then both save."""
    for mine in (rows_a, rows_b):
        with company_context(mine.company):
            Deal.objects.create(name=f"Supported {mine.company.name}", owner=super_admin)

        with unscoped():
            assert Deal._base_manager.get(name=f"Supported {mine.company.name}").company_id == mine.company.pk


# 4. The context follows each thread and each asyncio task on its own.


def _visible_in_thread(company, barrier: threading.Barrier, seen: dict) -> None:
    try:
        with company_context(company):
            barrier.wait(timeout=10)
            seen[company.pk] = (
                current_company_id(),
                set(Contact.objects.values_list("pk", flat=True)),
                set(Deal.objects.values_list("pk", flat=True)),
            )
            barrier.wait(timeout=10)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_threads_in_different_companies_see_only_their_own_rows_at_once(rows_a, rows_b):
    """Given two threads in different companies at once, when both query, then each sees only its rows."""
    barrier = threading.Barrier(2)
    seen: dict = {}
    threads = [
        threading.Thread(target=_visible_in_thread, args=(rows.company, barrier, seen))
        for rows in (rows_a, rows_b)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert seen == {
        rows.company.pk: (rows.company.pk, {rows.contact.pk}, {rows.deal.pk}) for rows in (rows_a, rows_b)
    }
    assert current_scope() is None


def test_a_context_set_in_a_thread_does_not_leak_to_the_main_thread(company_a):
    """Given a thread inside a company's context, when the main thread looks meanwhile, it has no company."""
    barrier = threading.Barrier(2)
    seen_in_thread: list = []

    def work():
        with company_context(company_a):
            seen_in_thread.append(current_company_id())
            barrier.wait(timeout=10)
            barrier.wait(timeout=10)

    thread = threading.Thread(target=work)
    thread.start()
    barrier.wait(timeout=10)
    try:
        main_scope = current_scope()
        with pytest.raises(NoTenantContext):
            Contact.objects.count()
    finally:
        barrier.wait(timeout=10)
        thread.join(timeout=30)

    assert seen_in_thread == [company_a.pk]
    assert main_scope is None
    assert current_scope() is None


async def _company_seen_by_task(company, barrier: asyncio.Barrier):
    with company_context(company):
        await barrier.wait()
        first = current_company_id()
        await asyncio.sleep(0)
        await barrier.wait()
        second = current_company_id()
    return first, second, current_scope()


def test_two_asyncio_tasks_each_keep_their_own_company(company_a, company_b):
    """Given two interleaved asyncio tasks in different companies, then each reads its own company."""

    async def run_both():
        barrier = asyncio.Barrier(2)
        results = await asyncio.gather(
            _company_seen_by_task(company_a, barrier), _company_seen_by_task(company_b, barrier)
        )
        return results, current_scope()

    results, scope_after_gather = asyncio.run(run_both())

    assert results == [(company_a.pk, company_a.pk, None), (company_b.pk, company_b.pk, None)]
    assert scope_after_gather is None
    assert current_scope() is None


def test_an_asyncio_task_does_not_change_its_callers_company(company_a, company_b):
    """Given a caller in company A, when a task enters company B, then the caller still acts in company A."""

    async def caller():
        with company_context(company_a):
            in_task = await asyncio.create_task(_company_seen_by_task(company_b, asyncio.Barrier(1)))
            return in_task, current_company_id()

    in_task, caller_company = asyncio.run(caller())

    first, second, scope_after_block = in_task
    assert (first, second) == (company_b.pk, company_b.pk)
    assert scope_after_block.company_id == company_a.pk
    assert caller_company == company_a.pk


# 5. The middleware sets the company for each request and clears it afterwards, even on error.


@pytest.fixture
def seen_scopes():
    urls_context_probe.seen_scopes.clear()
    yield urls_context_probe.seen_scopes
    urls_context_probe.seen_scopes.clear()


def token_client(user) -> Client:
    """A plain Django test client that sends the user's bearer token and returns 500s instead of raising."""
    token = issue_tokens(user)["access_token"]
    return Client(raise_request_exception=False, headers={"authorization": f"Bearer {token}"})


@pytest.mark.urls("tests.urls_context_probe")
@pytest.mark.parametrize("user_fixture", ["user_a", "user_b"])
def test_request_runs_in_the_users_company_and_clears_it_afterwards(user_fixture, request, seen_scopes):
    """Given a company user's token, when a view runs, then it sees that company and none is left after."""
    user = request.getfixturevalue(user_fixture)

    response = token_client(user).get("/api/probe/scope")

    assert response.status_code == 200
    assert [scope.company_id for scope in seen_scopes] == [user.company_id]
    assert current_scope() is None


@pytest.mark.urls("tests.urls_context_probe")
@pytest.mark.parametrize("user_fixture", ["user_a", "user_b"])
def test_context_is_cleared_when_the_view_raises(user_fixture, request, seen_scopes):
    """Given a company user's token, when the view raises, then it answers 500 and no company is left set."""
    user = request.getfixturevalue(user_fixture)

    response = token_client(user).get("/api/probe/fail")

    assert response.status_code == 500
    assert [scope.company_id for scope in seen_scopes] == [user.company_id]
    assert current_scope() is None


@pytest.mark.urls("tests.urls_context_probe")
def test_super_admin_scope_is_cleared_when_the_view_raises(super_admin, seen_scopes):
    """Given a super admin's token, when the view raises, it ran across all companies and none is left."""
    response = token_client(super_admin).get("/api/probe/fail")

    assert response.status_code == 500
    assert [(scope.company_id, scope.spans_all_companies) for scope in seen_scopes] == [(None, True)]
    assert current_scope() is None


@pytest.mark.urls("tests.urls_context_probe")
@pytest.mark.parametrize("path", ["/api/probe/scope", "/api/probe/fail"])
def test_anonymous_request_runs_with_no_company(path, company_a, seen_scopes):
    """Given a caller inside a company, when an anonymous request runs, then its view has no company."""
    with company_context(company_a):
        Client(raise_request_exception=False).get(path)
        scope_after = current_scope()

    assert seen_scopes == [None]
    assert scope_after.company_id == company_a.pk


@pytest.mark.urls("tests.urls_context_probe")
def test_a_user_of_another_company_gets_their_own_company_not_the_callers(user_b, company_a, seen_scopes):
    """Given a caller inside company A, when company B's user makes a request, the view sees company B."""
    with company_context(company_a):
        token_client(user_b).get("/api/probe/scope")
        scope_after = current_scope()

    assert [scope.company_id for scope in seen_scopes] == [user_b.company_id]
    assert scope_after.company_id == company_a.pk


@pytest.mark.django_db
def test_hard_delete_of_another_companys_row_is_refused(company_a, company_b):
    """Deleting a row of company A from inside company B raises and the row survives."""
    contact = ContactFactory(company=company_a)
    with company_context(company_b), pytest.raises(CrossTenantWrite):
        contact.delete()
    with company_context(company_a):
        assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.django_db
def test_company_id_given_as_a_string_is_accepted_inside_its_company(company_a):
    """A company id spelled as a string is the same company, not another one."""
    with company_context(company_a):
        account = Account(company_id=str(company_a.pk), name="Initech")
        account.save()
        assert Account.objects.get(pk=account.pk).company_id == company_a.pk

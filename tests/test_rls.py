"""PostgreSQL itself keeps companies apart: row-level security, composite keys, and the application role."""

from collections.abc import Callable

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.backends.postgresql.base import DatabaseWrapper
from factory.django import DjangoModelFactory

from tenancy.checks import check_application_role, refuse_rls_bypass, rls_bypass_problems
from tenancy.context import company_context
from tenancy.rls import composite_fk_name, tenant_foreign_keys, tenant_models_in_state

from . import factories
from .conftest import APP_ROLE, DATABASE_OWNER
from .factories import ContactFactory
from .unscoped import unscoped

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TENANT_MODELS = tenant_models_in_state(apps)
TENANT_FOREIGN_KEYS = tenant_foreign_keys(TENANT_MODELS)
FACTORIES = {
    factory_class._meta.model: factory_class
    for factory_class in vars(factories).values()
    if isinstance(factory_class, type)
    and issubclass(factory_class, DjangoModelFactory)
    and not factory_class._meta.abstract
    # The model's own factory, not a variant of it (SuperAdminFactory).
    and factory_class.__name__ == f"{factory_class._meta.model.__name__}Factory"
}


def _note_about(field: str, factory) -> Callable[[], dict]:
    def arguments() -> dict:
        target = factory()
        return {"company": target.company, "contact": None, "user": target.owner, field: target}

    return arguments


# A note is about exactly one record: the row under test names the one its key points at, so the
# check of that rule passes and the composite key is what refuses the other company's row.
ROW_ARGUMENTS = {
    ("notes", "account_id"): _note_about("account", factories.AccountFactory),
    ("notes", "deal_id"): _note_about("deal", factories.DealFactory),
}


def raw_contact_names() -> list[str]:
    """Contact names as raw SQL sees them, past the ORM's scoping."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT first_name FROM contacts ORDER BY first_name")
        return [row[0] for row in cursor.fetchall()]


def current_settings() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_scope', true)")
        return cursor.fetchone()


@pytest.fixture
def contacts(company_a, company_b):
    ContactFactory(company=company_a, first_name="Ada")
    ContactFactory(company=company_b, first_name="Bob")


def test_the_suite_runs_as_the_application_role():
    """The connection is the app role: not a superuser, no BYPASSRLS, owning no tenant table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == APP_ROLE
    assert rls_bypass_problems(connection) == []


def test_every_tenant_table_has_row_level_security_enabled_and_forced():
    """RLS is on and forced, with the tenant policy, on every tenant table."""
    tables = sorted(model._meta.db_table for model in TENANT_MODELS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relrowsecurity "
            "AND relforcerowsecurity AND EXISTS (SELECT 1 FROM pg_policies "
            "WHERE tablename = relname AND policyname = 'tenant_isolation') ORDER BY relname",
            [tables],
        )
        protected = [row[0] for row in cursor.fetchall()]
    assert len(tables) >= 19
    assert protected == tables


def test_raw_sql_without_a_company_sees_no_rows(contacts):
    """Outside any tenant context, raw SQL on a tenant table returns nothing."""
    assert raw_contact_names() == []


def test_raw_sql_in_a_company_sees_only_its_rows(contacts, company_a, company_b):
    """Inside company_context(A), raw SQL sees A's rows and not B's."""
    with company_context(company_a):
        assert raw_contact_names() == ["Ada"]
    with company_context(company_b):
        assert raw_contact_names() == ["Bob"]
    with unscoped():
        assert raw_contact_names() == ["Ada", "Bob"]


def test_raw_insert_into_another_company_is_refused(company_a, company_b):
    """An INSERT of a row of company B from company A's context violates the policy."""
    with (
        company_context(company_a),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO contacts (id, company_id, first_name, last_name, email, phone, title, notes, "
            "sms_opted_out, created_at, updated_at, is_deleted) VALUES (gen_random_uuid(), %s, "
            "'Planted', '', '', '', '', '', false, now(), now(), false)",
            [company_b.pk],
        )
    with unscoped():
        assert "Planted" not in raw_contact_names()


def test_raw_update_moving_a_row_to_another_company_is_refused(contacts, company_a, company_b):
    """An UPDATE that gives A's row company B's id violates the policy's WITH CHECK."""
    with (
        company_context(company_a),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE contacts SET company_id = %s WHERE first_name = 'Ada'", [company_b.pk])
    with company_context(company_a):
        assert raw_contact_names() == ["Ada"]


def test_raw_update_of_another_companys_row_changes_nothing(contacts, company_a, company_b):
    """From company A's context, an UPDATE of B's row finds no row to change."""
    with company_context(company_a), connection.cursor() as cursor:
        cursor.execute("UPDATE contacts SET first_name = 'Hijacked' WHERE first_name = 'Bob'")
        assert cursor.rowcount == 0
    with company_context(company_b):
        assert raw_contact_names() == ["Bob"]


@pytest.mark.parametrize(
    ("model", "field"),
    TENANT_FOREIGN_KEYS,
    ids=[f"{model._meta.db_table}.{field.column}" for model, field in TENANT_FOREIGN_KEYS],
)
def test_a_cross_company_foreign_key_is_refused_by_the_database(model, field):
    """Pointing a row at another company's row fails on the composite key, even with RLS open."""
    assert model in FACTORIES and field.related_model in FACTORIES, "add a factory to tests/factories.py"
    arguments = ROW_ARGUMENTS.get((model._meta.db_table, field.column), dict)
    child = FACTORIES[model](**arguments())  # each factory builds its row in a company of its own
    target = FACTORIES[field.related_model]()
    assert child.company_id != target.company_id
    table, column = model._meta.db_table, field.column

    with unscoped(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with (
            pytest.raises(IntegrityError, match=composite_fk_name(table, column)),
            transaction.atomic(),
        ):
            cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [target.pk, child.pk])  # noqa: S608


def test_a_setting_made_inside_a_rolled_back_savepoint_is_made_again(contacts, company_a):
    """After a savepoint that set the company rolls back, the next statement still runs in it."""
    assert raw_contact_names() == []  # leaves the transaction with no company set
    with company_context(company_a):
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            assert raw_contact_names() == ["Ada"]
            1 / 0  # noqa: B018
        assert raw_contact_names() == ["Ada"]


@pytest.mark.django_db(transaction=True)
def test_a_statement_outside_any_transaction_runs_in_its_company(contacts, company_a):
    """In autocommit mode, a query in a company context still sees that company's rows, and only them."""
    assert connection.get_autocommit()
    with company_context(company_a):
        assert raw_contact_names() == ["Ada"]
    assert current_settings() in {(None,), ("",)}


@pytest.mark.django_db(transaction=True)
def test_a_connection_reused_after_a_request_carries_no_company(contacts, client_a):
    """A request sets the company for its own transaction only; the connection keeps nothing."""
    response = client_a.get("/api/contacts")
    assert response.status_code == 200
    assert [row["first_name"] for row in response.json()["results"]] == ["Ada"]

    assert current_settings() in {(None,), ("",)}
    assert raw_contact_names() == []


@pytest.mark.django_db(transaction=True)
def test_a_transaction_opened_by_a_savepoint_gets_its_scope_though_the_last_one_had_the_same(
    contacts, company_a
):
    """A request's atomic block nested at once in another starts with SAVEPOINT: the scope is still set."""
    with transaction.atomic(), company_context(company_a):
        assert raw_contact_names() == ["Ada"]
    with transaction.atomic(), transaction.atomic(), company_context(company_a):
        assert raw_contact_names() == ["Ada"]


def owner_connection() -> DatabaseWrapper:
    """A second connection to the test database as its owner (a superuser here)."""
    return DatabaseWrapper({**connection.settings_dict, "USER": DATABASE_OWNER[0]}, alias="owner")


def test_the_startup_check_refuses_a_superuser_connection(settings):
    """Production settings refuse to serve through a connection that bypasses RLS."""
    settings.DEBUG = False
    settings.TENANCY_ALLOW_RLS_BYPASS = False
    owner = owner_connection()
    try:
        assert any("superuser" in problem for problem in rls_bypass_problems(owner))
        with pytest.raises(ImproperlyConfigured, match="superuser"):
            refuse_rls_bypass(owner)
        settings.TENANCY_ALLOW_RLS_BYPASS = True
        refuse_rls_bypass(owner)
    finally:
        owner.close()


def test_the_startup_check_accepts_the_application_role(settings):
    """The application role passes the startup check and the deploy system check."""
    settings.DEBUG = False
    settings.TENANCY_ALLOW_RLS_BYPASS = False
    refuse_rls_bypass(connection)
    assert check_application_role() == []

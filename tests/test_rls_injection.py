"""Arbitrary SQL as the application role, inside company A's transaction and outside any, reaches B never.

The model of an injection: whatever SQL an attacker slips into company A's request runs on the
application's own connection, in A's transaction. It may set any setting, switch roles, read the
policy catalog and other sessions' activity, and try to change the audit log.
"""

import re
import time
from contextlib import nullcontext

import psycopg
import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from tenancy.audit import SUPER_ADMIN_REQUEST, record_access
from tenancy.auth import ScopedRefreshToken, issue_tokens
from tenancy.checks import check_application_role, refuse_rls_bypass, scope_seal_problems
from tenancy.context import company_context
from tenancy.models import AuditLog, Company, User
from tenancy.sealed_scope import EVERY_COMPANY, KEY_TABLE, SCOPE_SETTING, SEAL_TOLERANCE_SECONDS, seal

from .conftest import APP_ROLE, DATABASE_OWNER
from .factories import ContactFactory, TwilioSettingsFactory
from .unscoped import as_the_platform_unaudited, audit_entries, unscoped

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def contacts(company_a, company_b):
    ContactFactory(company=company_a, first_name="Ada")
    ContactFactory(company=company_b, first_name="Bob")


def run(sql: str, params=None) -> list[tuple]:
    """One statement on the application's connection, as an injection would run it."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def contact_names() -> list[str]:
    return sorted(row[0] for row in run("SELECT first_name FROM contacts"))


def settings_the_policies_read() -> set[str]:
    """Settings a policy, or a function a policy calls, reads: from the catalog, as an attacker would."""
    quals = [
        row[0] for row in run("SELECT coalesce(qual, '') || ' ' || coalesce(with_check, '') FROM pg_policies")
    ]
    functions = {name for qual in quals for name in re.findall(r"(\w+)\(\)", qual)}
    sources = [row[0] for row in run("SELECT prosrc FROM pg_proc WHERE proname = ANY(%s)", [list(functions)])]
    named = r"current_setting\('([^']+)'"
    return {name for text in [*quals, *sources] for name in re.findall(named, text)}


def forged_values(company_b) -> list[str]:
    """What an attacker may put into a setting: B's id, every company, A's seal re-labelled, stale seals."""
    now = int(time.time())
    b = str(company_b.pk)
    return [
        b,
        "on",
        EVERY_COMPANY,
        f"{b}.{now}.{'0' * 64}",
        f"{EVERY_COMPANY}.{now}.{'f' * 64}",
        seal(b, issued_at=now - 3600),  # a real seal, long expired (read from a log, say)
        seal(EVERY_COMPANY, issued_at=now + 3600),
    ]


def relabelled_seal(company_a, company_b) -> str:
    """Company A's own valid seal with B's id put in front."""
    own = run(f"SELECT current_setting('{SCOPE_SETTING}', true)")[0][0]
    assert own.startswith(str(company_a.pk))
    return str(company_b.pk) + own[len(str(company_a.pk)) :]


def test_the_policies_read_the_sealed_scope_and_nothing_an_attacker_can_set_freely(contacts):
    """The catalog shows one setting behind the policies, and it is sealed."""
    assert settings_the_policies_read() == {SCOPE_SETTING}


@pytest.mark.parametrize("inside_company_a", [True, False], ids=["in A's transaction", "outside any"])
def test_setting_any_policy_setting_by_hand_reaches_no_row_of_company_b(
    inside_company_a, contacts, company_a, company_b
):
    """set_config of every setting the policies read, and of the old plain ones, to each forged value."""
    names = settings_the_policies_read() | {"app.company_id", "app.all_companies"}
    with company_context(company_a) if inside_company_a else transaction.atomic(), transaction.atomic():
        assert contact_names() == (["Ada"] if inside_company_a else [])
        candidates = forged_values(company_b)
        if inside_company_a:
            candidates.append(relabelled_seal(company_a, company_b))
        for name in sorted(names):
            for value in candidates:
                run("SELECT set_config(%s, %s, true)", [name, value])
                assert "Bob" not in contact_names(), (name, value)
                assert run("SELECT tenancy_current_scope()")[0][0] in {None, str(company_a.pk)}


def test_a_forged_every_company_scope_reads_no_twilio_token_of_any_company(company_a, company_b):
    """The encrypted Twilio tokens of both companies stay out of reach of a forged scope."""
    TwilioSettingsFactory(company=company_a)
    TwilioSettingsFactory(company=company_b)
    with company_context(company_a), transaction.atomic():
        assert len(run("SELECT auth_token FROM twilio_settings")) == 1
        run("SELECT set_config('app.tenant_scope', %s, true)", [f"*.{int(time.time())}.{'a' * 64}"])
        assert run("SELECT auth_token FROM twilio_settings") == []


def test_the_seal_key_and_the_role_switches_are_closed_to_the_application_role(contacts, company_a):
    """SET ROLE and SET SESSION AUTHORIZATION fail, RESET ROLE keeps the app role, the key is unreadable."""
    owner = DATABASE_OWNER[0]
    with company_context(company_a):
        for statement in (f'SET ROLE "{owner}"', "SET ROLE postgres", f'SET SESSION AUTHORIZATION "{owner}"'):
            with pytest.raises(DatabaseError), transaction.atomic():
                run(statement)
        with transaction.atomic():
            run("RESET ROLE")
            assert run("SELECT current_user")[0][0] == APP_ROLE
            assert contact_names() == ["Ada"]
        for statement in ("SELECT key FROM " + KEY_TABLE, "SELECT * FROM tenancy_private.scope_key"):  # noqa: S608
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                run(statement)


@pytest.mark.django_db(transaction=True)
def test_another_sessions_seal_never_shows_in_pg_stat_activity(contacts, company_a, company_b):
    """The seal travels as a bound parameter: a session of company B idle in its transaction shows `$1`."""
    dsn = connection.get_connection_params()
    other = psycopg.connect(**{key: value for key, value in dsn.items() if key != "cursor_factory"})
    try:
        other.execute("BEGIN")
        other.execute(
            f"SELECT set_config('{SCOPE_SETTING}', %s, true)", [seal(str(company_b.pk))], prepare=False
        )
        pid = other.info.backend_pid
        with company_context(company_a):
            [(query,)] = run("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        assert str(company_b.pk) not in query
        assert "$1" in query
    finally:
        other.close()


def changed_rows(statement: str, params) -> int | str:
    """How many rows a statement changed in its own transaction, or "refused" when PostgreSQL raised."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount
    except DatabaseError as error:
        assert re.search("append-only|row-level security", str(error)), error
        return "refused"


def test_the_audit_log_is_append_only_for_the_application_role(company_a, user_a):
    """UPDATE and DELETE of an entry are refused or reach no row, inside its company and outside any."""
    record_access(action=AuditLog.Action.COMPANY_ACCESS, reason=SUPER_ADMIN_REQUEST, company_id=company_a.pk)
    (entry,) = audit_entries(company=company_a)
    statements = (
        "UPDATE audit_log SET reason = 'nothing happened' WHERE id = %s",
        "UPDATE audit_log SET actor_id = NULL, company_id = NULL WHERE id = %s",
        "DELETE FROM audit_log WHERE id = %s",
    )
    for statement in statements:
        for scope in (company_context(company_a), nullcontext()):
            with scope:
                assert changed_rows(statement, [entry.pk]) in {"refused", 0}, statement
    (stored,) = audit_entries(company=company_a)
    assert (stored.reason, stored.actor_id, stored.company_id) == (
        entry.reason,
        entry.actor_id,
        entry.company_id,
    )


def test_the_audit_log_shows_each_company_only_entries_about_itself(company_a, company_b):
    """Company A's transaction reads A's entries; B's and the platform's stay out, and A cannot write B's."""
    record_access(action=AuditLog.Action.COMPANY_ACCESS, reason=SUPER_ADMIN_REQUEST, company_id=company_a.pk)
    record_access(action=AuditLog.Action.COMPANY_ACCESS, reason=SUPER_ADMIN_REQUEST, company_id=company_b.pk)
    record_access(action=AuditLog.Action.ALL_COMPANIES, reason="nightly report")
    with company_context(company_a), transaction.atomic():
        assert run("SELECT company_id FROM audit_log") == [(company_a.pk,)]
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            run(
                "INSERT INTO audit_log (created_at, action, reason, method, path, company_id) "
                "VALUES (now(), 'company_access', 'forged', '', '', %s)",
                [company_b.pk],
            )
    with transaction.atomic():
        assert run("SELECT company_id FROM audit_log") == []
    assert len(audit_entries()) == 3


def test_an_audit_entry_may_lose_the_link_to_a_deleted_user(user_a, super_admin):
    """Django's ON DELETE SET NULL still works: deleting a user keeps their entries, unlinked."""
    record_access(
        action=AuditLog.Action.COMPANY_ACCESS, reason="test entry", actor=user_a, company_id=user_a.company_id
    )
    with unscoped():
        user_a.delete()
    (entry,) = audit_entries(reason="test entry")
    assert entry.actor_id is None


def test_the_startup_check_refuses_an_application_whose_seal_the_database_does_not_accept(settings):
    """A scope key the database was not given (no sync after a rotation) refuses to serve, naming the fix."""
    settings.DEBUG = False
    settings.TENANCY_ALLOW_RLS_BYPASS = False
    assert scope_seal_problems(connection) == []
    refuse_rls_bypass(connection)

    settings.TENANCY_SCOPE_KEY = "a-rotated-key-the-database-was-never-given-0123456789"
    assert scope_seal_problems(connection) == [
        "the database does not accept this application's tenant scope seal (another key or clock)"
    ]
    with pytest.raises(ImproperlyConfigured, match="tenancy_grant_app_role"):
        refuse_rls_bypass(connection)
    assert [error.id for error in check_application_role()] == ["tenancy.E002"]


def test_an_admin_session_leaves_no_key_in_the_database(client, user_a):
    """A signed-in staff member's session works, and SQL finds no session row to steal."""
    client.force_login(user_a)
    assert client.get("/admin/").status_code == 200
    assert run("SELECT count(*) FROM django_session") == [(0,)]


def test_the_admin_log_shows_each_company_only_its_own_staffs_entries(company_a, company_b, user_a, user_b):
    """Record names in django_admin_log stay inside the company whose staff changed them."""
    for user, name in ((user_a, "Alpha"), (user_b, "Bravo")):
        with company_context(user.company_id):
            contact = ContactFactory(first_name=name, last_name="Secret")
            LogEntry.objects.log_actions(user.pk, [contact], ADDITION)

    def logged() -> list[str]:
        return sorted(row[0] for row in run("SELECT object_repr FROM django_admin_log"))

    with company_context(company_a), transaction.atomic():
        assert [name for name in logged() if "Secret" in name] == ["Alpha Secret"]
        run("SELECT set_config('app.tenant_scope', %s, true)", [f"*.{int(time.time())}.{'b' * 64}"])
        assert logged() == []
    with transaction.atomic():
        assert logged() == []


def test_a_long_transaction_seals_its_scope_again_before_the_seal_goes_stale(
    contacts, company_a, monkeypatch
):
    """A task or migration that holds one transaction for minutes keeps seeing its company's rows."""
    import tenancy.rls as rls

    sealed = []
    real_set_scope = rls.set_scope
    monkeypatch.setattr(
        rls, "set_scope", lambda raw, scope: sealed.append(scope) or real_set_scope(raw, scope)
    )
    clock = [1000.0]
    monkeypatch.setattr(rls.time, "monotonic", lambda: clock[0])
    with company_context(company_a), transaction.atomic():
        assert contact_names() == ["Ada"]
        assert contact_names() == ["Ada"]
        assert len(sealed) == 1  # one seal a transaction while it is fresh
        clock[0] += rls.RESEAL_AFTER_SECONDS + 1
        assert contact_names() == ["Ada"]
        assert sealed == [str(company_a.pk)] * 2
    assert rls.RESEAL_AFTER_SECONDS < SEAL_TOLERANCE_SECONDS


def test_sql_in_company_a_cannot_raise_move_or_rewrite_any_user_but_a_own(
    company_a, company_b, user_a, user_b, super_admin
):
    """No super admin made, no user moved, no password of B's set: refused or no row, in A and outside."""
    forged_user = (
        "INSERT INTO users (id, password, email, full_name, role, phone, is_active, is_staff, "
        "is_superuser, date_joined, company_id) VALUES "
        "(gen_random_uuid(), 'x', %s, '', 'owner', '', true, true, %s, now(), %s)"
    )
    attempts = [
        ("UPDATE users SET is_superuser = true WHERE id = %s", [user_a.pk]),
        ("UPDATE users SET company_id = NULL, is_superuser = true WHERE id = %s", [user_a.pk]),
        ("UPDATE users SET company_id = %s WHERE id = %s", [company_b.pk, user_a.pk]),
        ("UPDATE users SET password = 'known', is_staff = true WHERE id = %s", [user_b.pk]),
        ("UPDATE users SET company_id = %s WHERE id = %s", [company_a.pk, user_b.pk]),
        ("UPDATE users SET password = 'known' WHERE id = %s", [super_admin.pk]),
        ("DELETE FROM users WHERE id = %s", [user_b.pk]),
        ("DELETE FROM users WHERE id = %s", [super_admin.pk]),
        (forged_user, ["root@evil.example", True, None]),
        (forged_user, ["spy@evil.example", False, company_b.pk]),
        (forged_user, ["boss@evil.example", True, company_a.pk]),
        ("UPDATE companies SET name = 'Taken', is_active = false WHERE id = %s", [company_b.pk]),
        ("DELETE FROM companies WHERE id = %s", [company_b.pk]),
        (
            "INSERT INTO companies (id, name, slug, is_active, created_at, updated_at) "
            "VALUES (gen_random_uuid(), 'Rogue', 'rogue', true, now(), now())",
            [],
        ),
    ]
    with as_the_platform_unaudited():
        before = {row.pk: (row.password, row.company_id, row.is_superuser) for row in User.objects.all()}
        companies_before = sorted(Company.objects.values_list("id", "name", "is_active"))
    for statement, params in attempts:
        for scope in (company_context(company_a), nullcontext()):
            with scope:
                assert changed_rows(statement, params) in {"refused", 0}, statement
    with as_the_platform_unaudited():
        after = {row.pk: (row.password, row.company_id, row.is_superuser) for row in User.objects.all()}
        assert after == before
        assert sorted(Company.objects.values_list("id", "name", "is_active")) == companies_before
    with company_context(company_a):
        assert changed_rows("UPDATE users SET phone = '+14155550100' WHERE id = %s", [user_a.pk]) == 1


def test_sql_reads_and_changes_only_its_own_companys_refresh_token_records(
    company_a, company_b, user_a, user_b, super_admin
):
    """The issued refresh tokens of B and of the platform stay out of A's transaction and out of none."""
    issue_tokens(user_a)
    issue_tokens(user_b)
    with as_the_platform_unaudited():
        issue_tokens(super_admin)
    with company_context(company_a), transaction.atomic():
        holders = {row[0] for row in run("SELECT user_id FROM token_blacklist_outstandingtoken")}
        assert holders == {user_a.pk}
    with transaction.atomic():
        assert run("SELECT token FROM token_blacklist_outstandingtoken") == []
    with as_the_platform_unaudited():
        b_record = OutstandingToken.objects.get(user=user_b)
    blacklist_b = "INSERT INTO token_blacklist_blacklistedtoken (token_id, blacklisted_at) VALUES (%s, now())"
    for scope in (company_context(company_a), nullcontext()):
        with scope:
            assert changed_rows(blacklist_b, [b_record.pk]) == "refused"
            assert (
                changed_rows(
                    "UPDATE token_blacklist_outstandingtoken SET user_id = %s WHERE id = %s",
                    [user_a.pk, b_record.pk],
                )
                == 0
            )
            assert (
                changed_rows("DELETE FROM token_blacklist_outstandingtoken WHERE id = %s", [b_record.pk]) == 0
            )
    with as_the_platform_unaudited():
        assert OutstandingToken.objects.filter(user=user_b, blacklistedtoken__isnull=True).count() == 1


def test_a_refresh_token_checked_outside_its_users_scope_is_refused_not_passed(company_b, user_a):
    """Where its record is out of sight the token is refused: the blacklist check never fails open."""
    raw = issue_tokens(user_a)["refresh_token"]
    for scope in (company_context(company_b), nullcontext()):
        with scope, pytest.raises(TokenError):
            ScopedRefreshToken(raw)
    with company_context(user_a.company_id):
        assert ScopedRefreshToken(raw)["user_id"] == str(user_a.pk)


def test_sql_in_company_a_reads_only_a_users_and_a_company_row(
    company_a, company_b, user_a, user_b, super_admin
):
    """No password hash of B or of the platform, no other company's name: in A's transaction and in none."""
    with company_context(company_a), transaction.atomic():
        assert {row[0] for row in run("SELECT id FROM users")} == {user_a.pk}
        assert run("SELECT password FROM users WHERE id = ANY(%s)", [[user_b.pk, super_admin.pk]]) == []
        assert {row[0] for row in run("SELECT id FROM companies")} == {company_a.pk}
        for name in settings_the_policies_read() | {"app.company_id", "app.all_companies"}:
            for value in [*forged_values(company_b), relabelled_seal(company_a, company_b)]:
                with transaction.atomic():
                    run("SELECT set_config(%s, %s, true)", [name, value])
                    assert {row[0] for row in run("SELECT id FROM users")} <= {user_a.pk}, (name, value)
                    assert {row[0] for row in run("SELECT id FROM companies")} <= {company_a.pk}, (
                        name,
                        value,
                    )
                    transaction.set_rollback(True)
    with transaction.atomic():
        assert run("SELECT id, password FROM users") == []
        assert run("SELECT id, name FROM companies") == []


def test_users_and_companies_read_without_a_scope_raise_instead_of_finding_nothing(user_a):
    """Code that forgets its scope learns it at once, as with tenant models, rather than seeing no user."""
    from tenancy.exceptions import NoTenantContext

    for read in (User.objects.count, Company.objects.exists, lambda: list(User.objects.all())):
        with pytest.raises(NoTenantContext):
            read()
    with company_context(user_a.company_id):
        assert list(User.objects.values_list("pk", flat=True)) == [user_a.pk]

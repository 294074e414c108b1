"""Every tenant viewset and every tenant admin answers each role as its model's role rule says.

The rule of each kind of record is written once (tenancy.roles, named by the model); this walks the
API router and the admin site and, for the owner, an admin and a member of company A, tries to
read, create, change, delete and restore a colleague's record and the member's own. A refusal is a 403
that changes nothing. The README's role matrix is EXPECTED_RULES below.
"""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from rest_framework.test import APIClient

from calls.models import Call
from config.urls import router
from crm.models import Account, Contact, Deal, Note
from documents.models import Document, DocumentSignature
from files.models import File, Folder
from messaging.api.sms import SmsConversationViewSet
from messaging.models import (
    Email,
    EmailCampaign,
    EmailTemplate,
    Notification,
    PhoneNumber,
    SmsMessage,
    TwilioSettings,
)
from quotes.models import Quote, QuoteLineItem
from tenancy.admin import ServiceRecordAdmin, TenantModelAdmin
from tenancy.api.audit import AuditLogViewSet
from tenancy.api.companies import CompanyViewSet
from tenancy.api.users import UserViewSet
from tenancy.context import company_context
from tenancy.models import AuditLog, User
from tenancy.roles import COMPANY_SETTINGS, MANAGERS_ONLY, PERSONAL, RECORDS, Access, Who, rule_of
from workflows.models import Workflow, WorkflowDelivery, WorkflowExecution

from . import leaky
from .conftest import bearer_client
from .factories import UserFactory
from .isolation import count_rows, registration_for, snapshot, tenant_routes

ROLES = ["owner", "admin", "member"]
ROUTES = tenant_routes(router)
ROUTE_IDS = [viewset.__name__ for _, viewset in ROUTES]

# Admins that only show what happened: stricter than the rule, by design, and never looser.
HISTORY = {DocumentSignature: "a signature is given by its signer", WorkflowExecution: "a record of what ran"}

EXPECTED_RULES = {
    Account: RECORDS,
    Contact: RECORDS,
    Deal: RECORDS,
    Note: RECORDS,
    Call: RECORDS,
    SmsMessage: RECORDS,
    Email: RECORDS,
    EmailTemplate: RECORDS,
    Document: RECORDS,
    DocumentSignature: RECORDS,
    Quote: RECORDS,
    QuoteLineItem: RECORDS,
    Folder: RECORDS,
    File: RECORDS,
    TwilioSettings: COMPANY_SETTINGS,
    PhoneNumber: COMPANY_SETTINGS,
    EmailCampaign: COMPANY_SETTINGS,
    Workflow: COMPANY_SETTINGS,
    WorkflowExecution: COMPANY_SETTINGS,
    WorkflowDelivery: COMPANY_SETTINGS,
    Notification: PERSONAL,
    AuditLog: MANAGERS_ONLY,
}


def may(role: str, rule, access: Access, *, owns: bool) -> bool:
    """What the rule grants a role, spelled out here rather than asked of the code under test."""
    who = rule.who(access)
    return who is Who.EVERYONE or role in {"owner", "admin"} or (who is Who.OWNER_OF_RECORD and owns)


def owned_by(model, user) -> dict:
    """Factory arguments that make `user` the record's owner (or creator)."""
    names = {field.name for field in model._meta.get_fields()}
    for name in ("owner", "user"):
        if name in names:
            return {name: user}
    return {}


def check_role_rule(url: str, viewset, company, role: str) -> list[str]:
    """Every answer of the viewset to one role that differs from the model's rule."""
    model, registration = viewset.model, registration_for(viewset)
    rule = EXPECTED_RULES[model]
    user = UserFactory(company=company, role=role)
    client = bearer_client(user)
    wrong = []

    def expect(what: str, response, allowed: bool, before=None, row=None) -> None:
        refused = response.status_code == 403
        if allowed and (refused or response.status_code >= 500):
            wrong.append(f"{what}: {response.status_code}, though the rule allows it")
        if not allowed:
            if not refused:
                wrong.append(f"{what}: {response.status_code}, not the 403 the rule asks")
            elif row is not None and snapshot(model, row.pk, company) != before:
                wrong.append(f"{what}: refused, yet the record changed")

    expect("list", client.get(url), may(role, rule, Access.READ, owns=False))
    # A personal record of another user is not even visible (the queryset's 404): nothing to refuse.
    # Ownership matters only where the rule lets a member change what they own.
    mine_too = rule.who(Access.CHANGE) is Who.OWNER_OF_RECORD
    for owns in (False, True) if mine_too else (() if rule is PERSONAL else (False,)):
        row = registration.create(company, **(owned_by(model, user) if owns else {}))
        detail, whose = f"{url}/{row.pk}", "own" if owns else "a colleague's"
        expect(f"read {whose}", client.get(detail), may(role, rule, Access.READ, owns=owns))
        if hasattr(viewset, "partial_update"):
            before = snapshot(model, row.pk, company)
            response = client.patch(detail, {}, format="json")
            expect(f"change {whose}", response, may(role, rule, Access.CHANGE, owns=owns), before, row)
        if hasattr(viewset, "destroy"):
            before = snapshot(model, row.pk, company)
            response = client.delete(detail)
            expect(f"delete {whose}", response, may(role, rule, Access.DELETE, owns=owns), before, row)
        with company_context(company):
            model._base_manager.filter(pk=row.pk).update(is_deleted=True)
        restores = may(role, rule, Access.RESTORE, owns=owns)
        expect(f"list deleted ({whose})", client.get(url, {"deleted": "true"}), restores)
        before = snapshot(model, row.pk, company)
        response = client.post(f"{detail}/restore")
        expect(f"restore {whose}", response, restores, before, row)
        if restores and response.status_code != 200:
            wrong.append(f"restore {whose}: {response.status_code} {response.content}")
        with company_context(company):
            # Deleted again, as before: the create below must not meet a restored one-per-company row.
            model._base_manager.filter(pk=row.pk).update(is_deleted=True)
    # Last: a record stored through the API must not collide with the factory's (numbers, one per company).
    if hasattr(viewset, "create"):
        rows = count_rows(model, company)
        response = client.post(url, registration.payload(company), format=registration.format)
        expect("create", response, may(role, rule, Access.CREATE, owns=False))
        if response.status_code == 403 and count_rows(model, company) != rows:
            wrong.append("create: refused, yet a record was stored")
    return wrong


def test_every_model_names_the_rule_the_readme_states():
    """Each model behind the API and the admin follows the rule of the README's matrix."""
    models = {viewset.model for _, viewset in ROUTES} | {AuditLog, SmsMessage}
    models |= {
        model
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, TenantModelAdmin)
    }
    assert {model: rule_of(model) for model in models} == {model: EXPECTED_RULES[model] for model in models}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("prefix", "viewset"), ROUTES, ids=ROUTE_IDS)
def test_every_viewset_answers_each_role_as_its_rule_says(
    prefix, viewset, role, company_a, company_b, twilio_fake
):
    """Owner, admin and member of A get exactly what the rule grants; a refusal changes nothing."""
    with company_context(company_a):
        wrong = check_role_rule(f"/api/{prefix}", viewset, company_a, role)
    assert not wrong, f"{viewset.__name__} as {role}: {wrong}"


@pytest.mark.parametrize("role", ROLES)
def test_the_audit_log_and_conversations_answer_each_role_as_their_rules_say(role, company_a, company_b):
    """The two router viewsets on no tenant model's CRUD follow their models' rules too."""
    user = UserFactory(company=company_a, role=role)
    client = bearer_client(user)
    manages = role in {"owner", "admin"}
    assert client.get("/api/audit-log").status_code == (200 if manages else 403)
    assert client.get("/api/sms/conversations").status_code == 200
    assert {AuditLogViewSet.model, SmsConversationViewSet.model} == {AuditLog, SmsMessage}


@pytest.mark.parametrize("role", ROLES)
def test_the_users_answer_each_role_as_company_settings_do(role, company_a, company_b):
    """Everyone reads the company's users; only owners and admins invite or change them, refused unchanged."""
    user = UserFactory(company=company_a, role=role)
    colleague = UserFactory(company=company_a, role="member", full_name="Colleague")
    client = bearer_client(user)
    manages = role in {"owner", "admin"}
    assert UserViewSet().role_rule() is COMPANY_SETTINGS
    assert client.get("/api/users").status_code == 200
    assert client.get(f"/api/users/{colleague.pk}").status_code == 200
    changed = client.patch(f"/api/users/{colleague.pk}", {"role": "admin"}, format="json")
    assert changed.status_code == (200 if manages else 403)
    invited = client.post("/api/users", {"email": f"new-{role}@a.example"}, format="json")
    assert invited.status_code == (201 if manages else 403)
    with company_context(company_a):
        colleague.refresh_from_db()
        invitees = User.objects.filter(email=f"new-{role}@a.example").count()
    assert (colleague.role, invitees) == (("admin", 1) if manages else ("member", 0))


@pytest.mark.parametrize("role", ROLES)
def test_the_companies_refuse_every_role_of_a_company(role, company_a, company_b):
    """/api/companies is for platform super admins: each company role gets 403 on read and write alike."""
    client = bearer_client(UserFactory(company=company_a, role=role))
    assert CompanyViewSet.permission_classes[0]().message.startswith("Only platform super admins")
    assert client.get("/api/companies").status_code == 403
    assert client.get(f"/api/companies/{company_a.pk}").status_code == 403
    assert client.patch(f"/api/companies/{company_a.pk}", {"name": "Mine"}, format="json").status_code == 403
    with company_context(company_a):
        company_a.refresh_from_db()
    assert company_a.name == "Company A"


@pytest.mark.urls("tests.urls_leaky")
def test_a_viewset_that_skips_the_rule_fails_the_matrix(company_a, company_b):
    """The canary lets a member delete a colleague's deal: the matrix names it."""
    wrong = check_role_rule("/api/leaky/no-role-rule", leaky.NoRoleRuleDealViewSet, company_a, "member")
    assert "delete a colleague's: 204, not the 403 the rule asks" in wrong
    assert "change a colleague's: 200, not the 403 the rule asks" in wrong


TENANT_ADMINS = sorted(
    (
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, TenantModelAdmin)
    ),
    key=lambda pair: pair[0].__name__,
)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("model", "model_admin"), TENANT_ADMINS, ids=[model.__name__ for model, _ in TENANT_ADMINS]
)
def test_every_admin_answers_each_role_as_its_rule_says(model, model_admin, role, company_a, company_b):
    """The admin's view, add, change and delete permissions follow the same rule as the API."""
    rule = EXPECTED_RULES[model]
    user = UserFactory(company=company_a, role=role, is_staff=True)
    request = RequestFactory().get("/admin/")
    request.user = user
    with company_context(company_a):
        colleague_row = model(company=company_a)
        own_row = model(company=company_a, **dict.fromkeys(owned_by(model, user), user))
        answers = {
            "view": model_admin.has_view_permission(request, colleague_row),
            "change a colleague's": model_admin.has_change_permission(request, colleague_row),
            "delete a colleague's": model_admin.has_delete_permission(request, colleague_row),
            "delete own": model_admin.has_delete_permission(request, own_row),
            "restore": model_admin.has_restore_permission(request),
        }
    # Records only the services write (texts, calls, e-mails) and records of what happened
    # (signatures, executions) are never edited in the admin; the latter are never deleted there.
    editable = not isinstance(model_admin, ServiceRecordAdmin) and model not in HISTORY
    deletable = model not in HISTORY
    expected = {
        "view": may(role, rule, Access.READ, owns=False),
        "change a colleague's": editable and may(role, rule, Access.CHANGE, owns=False),
        "delete a colleague's": deletable and may(role, rule, Access.DELETE, owns=False),
        "delete own": deletable and may(role, rule, Access.DELETE, owns=bool(owned_by(model, user))),
        "restore": may(role, rule, Access.RESTORE, owns=False),
    }
    assert answers == expected, f"{model.__name__} as {role}"


def test_a_member_is_refused_a_colleagues_deal_in_the_admin_and_the_api_alike(company_a, user_a):
    """The same member meets the same rule on both doors: a colleague's deal neither changes nor goes."""
    from crm.api import DealViewSet

    member = UserFactory(company=company_a, role="member", is_staff=True)
    deals = registration_for(DealViewSet)
    with company_context(company_a):
        theirs = deals.create(company_a, owner=user_a, name="Theirs")
        mine = deals.create(company_a, owner=member, name="Mine")
    browser = APIClient()
    browser.force_login(member)
    api = bearer_client(member)

    assert browser.get(f"/admin/crm/deal/{theirs.pk}/delete/").status_code == 403
    assert api.delete(f"/api/deals/{theirs.pk}").status_code == 403
    assert api.patch(f"/api/deals/{theirs.pk}", {"name": "Taken"}, format="json").status_code == 403
    assert browser.get(f"/admin/crm/deal/{mine.pk}/delete/").status_code == 200
    assert api.delete(f"/api/deals/{mine.pk}").status_code == 204
    with company_context(company_a):
        theirs.refresh_from_db()
    assert (theirs.name, theirs.is_deleted) == ("Theirs", False)

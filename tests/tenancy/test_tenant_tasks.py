"""Celery tasks run inside the company their arguments name, and refuse to run without one."""

import pytest
from celery import shared_task

from crm.models import Contact
from tenancy.context import current_scope
from tenancy.exceptions import NoTenantContext
from tenancy.tasks import TenantTask, enqueue_after_commit

from ..factories import ContactFactory

seen: list = []


@shared_task(base=TenantTask)
def record_visible_contacts(*, company_id):
    """Record which contacts the task can see."""
    seen.append(sorted(str(pk) for pk in Contact.objects.values_list("id", flat=True)))


@shared_task(base=TenantTask)
def fail_inside_company(*, company_id):
    """Raise from inside the company context."""
    raise RuntimeError("step failed")


@pytest.fixture(autouse=True)
def _reset_seen():
    seen.clear()


@pytest.mark.django_db
def test_each_task_sees_only_its_company(company_a, company_b):
    """Tasks of two companies each see their own contacts, and no context remains afterwards."""
    contact_a = ContactFactory(company=company_a)
    contact_b = ContactFactory(company=company_b)
    record_visible_contacts.apply(kwargs={"company_id": str(company_a.id)})
    record_visible_contacts.apply(kwargs={"company_id": str(company_b.id)})
    assert seen == [[str(contact_a.id)], [str(contact_b.id)]]
    assert current_scope() is None


@pytest.mark.parametrize("company_id", [None, "", "not-a-uuid"])
def test_a_task_without_a_company_refuses_to_run(company_id):
    """No company, or a malformed one, is an error before the task body runs."""
    kwargs = {} if company_id is None else {"company_id": company_id}
    with pytest.raises(NoTenantContext, match="company_id"):
        record_visible_contacts.apply(kwargs=kwargs, throw=True)
    assert seen == []


@pytest.mark.django_db
def test_context_is_cleared_when_the_task_raises(company_a):
    """A failing task leaves no company behind for the next one on the same worker."""
    with pytest.raises(RuntimeError):
        fail_inside_company.apply(kwargs={"company_id": str(company_a.id)}, throw=True)
    assert current_scope() is None


@pytest.mark.django_db(transaction=True)
def test_tasks_are_queued_only_after_commit(company_a):
    """A task queued inside a transaction that rolls back never runs; after a commit it does."""
    from django.db import transaction

    contact = ContactFactory(company=company_a)
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_after_commit(record_visible_contacts, company_id=company_a.id)
        raise RuntimeError("rolled back")
    assert seen == []
    with transaction.atomic():
        enqueue_after_commit(record_visible_contacts, company_id=company_a.id)
        assert seen == []
    assert seen == [[str(contact.id)]]

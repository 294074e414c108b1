from crm.models import Contact
from tenancy.context import company_context

from ..factories import ContactFactory


def test_contacts_listed_only_for_own_company(client_a, company_a, company_b):
    mine = ContactFactory(company=company_a)
    ContactFactory(company=company_b)
    response = client_a.get("/api/contacts")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(mine.id)]
    with company_context(company_b):
        assert Contact.objects.count() == 1

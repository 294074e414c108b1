"""factory_boy factories; a tenant record takes its company from its parent, never a fresh one."""

import factory
from factory.django import DjangoModelFactory

from crm.models import Account, Contact, Deal
from tenancy.context import company_context
from tenancy.models import Company, User

TEST_PASSWORD = "correct-horse-battery-staple"


class CompanyFactory(DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    company = factory.SubFactory(CompanyFactory)
    role = User.Role.MEMBER
    is_staff = True
    password = factory.django.Password(TEST_PASSWORD)


class SuperAdminFactory(UserFactory):
    company = None
    is_superuser = True
    role = User.Role.OWNER
    email = factory.Sequence(lambda n: f"support{n}@platform.example")


class TenantFactory(DjangoModelFactory):
    """Creates a tenant record inside its own company's context, as the application would."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with company_context(kwargs["company"]):
            return super()._create(model_class, *args, **kwargs)


class AccountFactory(TenantFactory):
    class Meta:
        model = Account

    company = factory.SubFactory(CompanyFactory)
    name = factory.Faker("company")
    domain = factory.Faker("domain_name")
    industry = "Software"
    owner = factory.SubFactory(UserFactory, company=factory.SelfAttribute("..company"))


class ContactFactory(TenantFactory):
    class Meta:
        model = Contact

    company = factory.SubFactory(CompanyFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Faker("email")
    phone = factory.Sequence(lambda n: f"+1415555{n:04d}")
    account = factory.SubFactory(AccountFactory, company=factory.SelfAttribute("..company"))
    owner = factory.SelfAttribute("account.owner")


class DealFactory(TenantFactory):
    class Meta:
        model = Deal

    company = factory.SelfAttribute("account.company")
    account = factory.SubFactory(AccountFactory)
    contact = factory.SubFactory(
        ContactFactory, company=factory.SelfAttribute("..company"), account=factory.SelfAttribute("..account")
    )
    owner = factory.SelfAttribute("account.owner")
    name = factory.Sequence(lambda n: f"Deal {n}")
    stage = Deal.Stage.QUALIFIED
    amount = "1000.00"
    currency = "USD"

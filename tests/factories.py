"""factory_boy factories; a tenant record takes its company from its parent, never a fresh one."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from calls.models import Call
from crm.models import Account, Contact, Deal, DealStageChange, Note
from documents.models import Document, DocumentSignature
from files.models import File, Folder
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
from tenancy.context import company_context
from tenancy.models import Company, User
from workflows.models import Workflow, WorkflowDelivery, WorkflowExecution

from .unscoped import as_the_platform_unaudited

TEST_PASSWORD = "correct-horse-battery-staple"


def attribute_as_stored(path: str) -> factory.LazyAttribute:
    """`SelfAttribute` that may load a relation: a parent read back from the database has none cached."""

    def resolve(obj):
        with as_the_platform_unaudited():
            value = obj
            for name in path.split("."):
                value = getattr(value, name)
            return value

    return factory.LazyAttribute(resolve)


class CompanyFactory(DjangoModelFactory):
    """Creates a company as the platform does: only the all-companies scope may insert one."""

    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with as_the_platform_unaudited():
            return super()._create(model_class, *args, **kwargs)


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

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Inside its own company, as the application writes users; a platform user across all.
        company = kwargs.get("company")
        with company_context(company) if company is not None else as_the_platform_unaudited():
            return super()._create(model_class, *args, **kwargs)


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
    owner = attribute_as_stored("account.owner")


class DealFactory(TenantFactory):
    class Meta:
        model = Deal

    company = attribute_as_stored("account.company")
    account = factory.SubFactory(AccountFactory)
    contact = factory.SubFactory(
        ContactFactory, company=factory.SelfAttribute("..company"), account=factory.SelfAttribute("..account")
    )
    owner = attribute_as_stored("account.owner")
    name = factory.Sequence(lambda n: f"Deal {n}")
    stage = Deal.Stage.QUALIFIED
    amount = "1000.00"
    currency = "USD"


class DealStageChangeFactory(TenantFactory):
    class Meta:
        model = DealStageChange

    company = attribute_as_stored("deal.company")
    deal = factory.SubFactory(DealFactory)
    from_stage = Deal.Stage.LEAD
    to_stage = Deal.Stage.QUALIFIED
    user = attribute_as_stored("deal.owner")


class NoteFactory(TenantFactory):
    class Meta:
        model = Note

    company = factory.SubFactory(CompanyFactory)
    contact = factory.SubFactory(ContactFactory, company=factory.SelfAttribute("..company"))
    user = attribute_as_stored("contact.owner")
    body = factory.Faker("sentence")


class TwilioSettingsFactory(TenantFactory):
    class Meta:
        model = TwilioSettings

    company = factory.SubFactory(CompanyFactory)
    account_sid = factory.Sequence(lambda n: f"AC{n:032x}")
    auth_token = factory.Sequence(lambda n: f"auth-token-{n:024d}")


class PhoneNumberFactory(TenantFactory):
    class Meta:
        model = PhoneNumber

    company = factory.SubFactory(CompanyFactory)
    number = factory.Sequence(lambda n: f"+1202555{n:04d}")
    friendly_name = factory.Sequence(lambda n: f"Line {n}")
    user = factory.SubFactory(UserFactory, company=factory.SelfAttribute("..company"), phone="+14155550199")


class PhoneActivityFactory(TenantFactory):
    """An outbound text or call from a company number to a contact, all of one company."""

    class Meta:
        abstract = True

    company = attribute_as_stored("phone_number.company")
    phone_number = factory.SubFactory(PhoneNumberFactory)
    contact = factory.SubFactory(ContactFactory, company=factory.SelfAttribute("..company"))
    user = attribute_as_stored("phone_number.user")
    direction = "outbound"
    from_number = attribute_as_stored("phone_number.number")
    to_number = attribute_as_stored("contact.phone")


class SmsMessageFactory(PhoneActivityFactory):
    class Meta:
        model = SmsMessage

    body = factory.Faker("sentence")
    status = SmsMessage.Status.SENT


class CallFactory(PhoneActivityFactory):
    class Meta:
        model = Call

    status = Call.Status.COMPLETED
    duration_seconds = 60


class EmailTemplateFactory(TenantFactory):
    class Meta:
        model = EmailTemplate

    company = factory.SubFactory(CompanyFactory)
    user = factory.SubFactory(UserFactory, company=factory.SelfAttribute("..company"))
    name = factory.Sequence(lambda n: f"Template {n}")
    subject = "Hello {{ contact.first_name }}"
    body_text = "Dear {{ contact.first_name }}, greetings from {{ sender.full_name }}."


class EmailCampaignFactory(TenantFactory):
    class Meta:
        model = EmailCampaign

    company = attribute_as_stored("template.company")
    template = factory.SubFactory(EmailTemplateFactory)
    user = attribute_as_stored("template.user")
    name = factory.Sequence(lambda n: f"Campaign {n}")
    recipient_filter = factory.LazyFunction(dict)


class EmailFactory(TenantFactory):
    class Meta:
        model = Email

    company = attribute_as_stored("contact.company")
    contact = factory.SubFactory(ContactFactory)
    user = attribute_as_stored("contact.owner")
    to_email = attribute_as_stored("contact.email")
    subject = "Following up"
    body_text = "Thanks for your time today."
    status = Email.Status.SENT


class NotificationFactory(TenantFactory):
    class Meta:
        model = Notification

    company = attribute_as_stored("user.company")
    user = factory.SubFactory(UserFactory)
    kind = Notification.Kind.INFO
    title = factory.Sequence(lambda n: f"Notice {n}")


class FolderFactory(TenantFactory):
    class Meta:
        model = Folder

    company = factory.SubFactory(CompanyFactory)
    user = factory.SubFactory(UserFactory, company=factory.SelfAttribute("..company"))
    name = factory.Sequence(lambda n: f"Folder {n}")
    parent = None


class FileFactory(TenantFactory):
    """A file stored through the files service, so its bytes, size and SHA-256 are real."""

    class Meta:
        model = File

    company = factory.SubFactory(CompanyFactory)
    user = factory.SubFactory(UserFactory, company=factory.SelfAttribute("..company"))
    folder = None
    name = factory.Sequence(lambda n: f"file-{n}.txt")
    content = b"Terms and conditions.\n"

    @classmethod
    def _create(cls, model_class, *args, content=b"", **kwargs):
        from files.services import store_bytes

        with company_context(kwargs["company"]):
            return store_bytes(
                content, name=kwargs["name"], folder=kwargs.get("folder"), user=kwargs.get("user")
            )


class DocumentFactory(TenantFactory):
    class Meta:
        model = Document

    company = attribute_as_stored("file.company")
    file = factory.SubFactory(FileFactory, name=factory.Sequence(lambda n: f"contract-{n}.pdf"))
    user = attribute_as_stored("file.user")
    name = factory.Sequence(lambda n: f"Contract {n}")
    contact = factory.SubFactory(ContactFactory, company=factory.SelfAttribute("..company"))


class DocumentSignatureFactory(TenantFactory):
    class Meta:
        model = DocumentSignature

    company = attribute_as_stored("document.company")
    document = factory.SubFactory(DocumentFactory)
    order = factory.Sequence(lambda n: n + 1)
    signer_name = factory.Faker("name")
    signer_email = factory.Faker("email")


class QuoteFactory(TenantFactory):
    class Meta:
        model = Quote

    company = attribute_as_stored("deal.company")
    deal = factory.SubFactory(DealFactory)
    contact = attribute_as_stored("deal.contact")
    account = attribute_as_stored("deal.account")
    user = attribute_as_stored("deal.owner")
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Proposal {n}")
    currency = "USD"


class QuoteLineItemFactory(TenantFactory):
    class Meta:
        model = QuoteLineItem

    company = attribute_as_stored("quote.company")
    quote = factory.SubFactory(QuoteFactory)
    position = factory.Sequence(lambda n: n)
    description = "Consulting"
    quantity = "1.000"
    unit_price = "100.00"


class WorkflowFactory(TenantFactory):
    class Meta:
        model = Workflow

    company = factory.SubFactory(CompanyFactory)
    user = factory.SubFactory(UserFactory, company=factory.SelfAttribute("..company"))
    name = factory.Sequence(lambda n: f"Workflow {n}")
    trigger = Workflow.Trigger.MANUAL
    actions = factory.LazyFunction(lambda: [{"type": "create_notification", "params": {"title": "Hello"}}])
    secret = factory.Sequence(lambda n: f"workflow-secret-{n:024d}")


class WorkflowExecutionFactory(TenantFactory):
    class Meta:
        model = WorkflowExecution

    company = attribute_as_stored("workflow.company")
    workflow = factory.SubFactory(WorkflowFactory)
    trigger = attribute_as_stored("workflow.trigger")
    status = WorkflowExecution.Status.SUCCEEDED


class WorkflowDeliveryFactory(TenantFactory):
    class Meta:
        model = WorkflowDelivery

    company = attribute_as_stored("workflow.company")
    workflow = factory.SubFactory(WorkflowFactory, trigger=Workflow.Trigger.WEBHOOK)
    delivery_id = factory.Sequence(lambda n: f"evt_{n}")
    signed_at = factory.LazyFunction(timezone.now)

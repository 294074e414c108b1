"""Deterministic demo records of the sales core, written with bulk inserts."""

import random
import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from .models import Account, Contact, Deal, DealStageChange, Note

FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Frances", "Ken"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Allen"]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Healthcare", "Finance", "Logistics", "Education"]
TITLES = ["CEO", "CTO", "Head of Sales", "Buyer", "Operations Manager", "Founder", "Engineer"]
BATCH_SIZE = 2000
NAMED_COMPANIES = [("Acme Corporation", "acme"), ("Globex Industries", "globex")]


def demo_company_identity(index: int) -> tuple[str, str]:
    """Name and slug of the index-th demo company (0-based)."""
    if index < len(NAMED_COMPANIES):
        return NAMED_COMPANIES[index]
    return f"Demo Company {index + 1:05d}", f"demo-{index + 1:05d}"


def demo_company_index(slug: str) -> int:
    """Position (0-based) of a demo company from its slug: the inverse of demo_company_identity.

    Seeders derive what must be unique across companies (phone numbers) from it.
    """
    for index, (_, named_slug) in enumerate(NAMED_COMPANIES):
        if slug == named_slug:
            return index
    match = re.fullmatch(r"demo-(\d{5,})", slug)
    if match is None or int(match.group(1)) <= len(NAMED_COMPANIES):
        raise ValueError(f"{slug!r} is not the slug of a demo company.")
    return int(match.group(1)) - 1


def seeded_uuid(rng: random.Random) -> uuid.UUID:
    """A UUID drawn from the seeded generator, so the same seed gives the same ids."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def seed_sales(company, users, rng: random.Random, per_company: int) -> dict[str, int]:
    """Accounts, contacts and deals for one company; the caller sets the company context."""
    today = date(2026, 1, 1)
    accounts = [
        Account(
            id=seeded_uuid(rng),
            company=company,
            name=f"{rng.choice(LAST_NAMES)} {rng.choice(['Labs', 'Systems', 'Group', 'Works'])} {n + 1}",
            domain=f"customer{n + 1}.{company.slug}.example",
            industry=rng.choice(INDUSTRIES),
            owner=rng.choice(users),
        )
        for n in range(max(1, per_company // 10))
    ]
    contacts = []
    for n in range(per_company):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        contacts.append(
            Contact(
                id=seeded_uuid(rng),
                company=company,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}.{n + 1}@{company.slug}-customer.example",
                phone=f"+1415{rng.randrange(2 * 10**6, 10**7)}",  # a valid US number (core.phones)
                title=rng.choice(TITLES),
                account=rng.choice(accounts),
                owner=rng.choice(users),
            )
        )
    deals = []
    for n, contact in enumerate(contacts):
        stage = rng.choice(Deal.Stage.values)
        deals.append(
            Deal(
                id=seeded_uuid(rng),
                company=company,
                name=f"{contact.account.name} deal {n + 1}",
                stage=stage,
                amount=Decimal(rng.randrange(500, 250_000)) + Decimal(rng.randrange(100)) / 100,
                currency="USD",
                expected_close_date=today + timedelta(days=rng.randrange(-90, 180)),
                owner=contact.owner,
                contact=contact,
                account=contact.account,
            )
        )
    Account.objects.bulk_create(accounts, batch_size=BATCH_SIZE)
    Contact.objects.bulk_create(contacts, batch_size=BATCH_SIZE)
    Deal.objects.bulk_create(deals, batch_size=BATCH_SIZE)
    date_deals(deals, random.Random(f"{company.slug}:deal dates"))
    history = seed_history(company, deals, random.Random(f"{company.slug}:history"))
    return {"accounts": len(accounts), "contacts": len(contacts), "deals": len(deals), **history}


NOTE_BODIES = [
    "Prefers e-mail to calls.",
    "Asked for a pilot first.",
    "Budget decided in Q3.",
    "Met at the fair.",
]


def seed_history(company, deals: list[Deal], rng: random.Random) -> dict[str, int]:
    """Each deal past its first stage moved there from lead; a note on every third contact and deal."""
    changes = [
        DealStageChange(
            id=seeded_uuid(rng),
            company=company,
            deal=deal,
            from_stage=Deal.Stage.LEAD,
            to_stage=deal.stage,
            user=deal.owner,
        )
        for deal in deals
        if deal.stage != Deal.Stage.LEAD
    ]
    noted = [
        (
            deal,
            Note(
                id=seeded_uuid(rng), company=company, user=deal.owner, body=rng.choice(NOTE_BODIES), **target
            ),
        )
        for n, deal in enumerate(deals)
        if n % 3 == 0
        for target in ({"contact": deal.contact}, {"deal": deal})
    ]
    notes = [note for _, note in noted]
    DealStageChange.objects.bulk_create(changes, batch_size=BATCH_SIZE)
    Note.objects.bulk_create(notes, batch_size=BATCH_SIZE)
    # A deal moved on while it was open: a closed one on the day it closed, an open one since it opened.
    now = timezone.now()
    for change in changes:
        deal = change.deal
        change.created_at = deal.closed_at or deal.created_at + (now - deal.created_at) * rng.random()
    for deal, note in noted:
        note.created_at = deal.created_at + ((deal.closed_at or now) - deal.created_at) * rng.random()
    restamp(DealStageChange, changes, ["created_at"])
    restamp(Note, notes, ["created_at"])
    return {"deal stage changes": len(changes), "notes": len(notes)}


def date_deals(deals: list[Deal], rng: random.Random) -> None:
    """Spread the deals' creation over the last months, and close won and lost ones in the past.

    `created_at` is stamped on insert, so without this every deal was opened today and closed never,
    and the reports (won, lost, days to close over the last 30 days) showed nothing. A separate
    generator keeps the other seeded records as they were for a seed.
    """
    now = timezone.now()
    for deal in deals:
        if deal.stage in Deal.CLOSED_STAGES:
            # Most in the reports' default range (the last 30 days), the rest in the months before.
            recent = rng.random() < 0.6
            deal.closed_at = now - timedelta(days=rng.uniform(0, 28) if recent else rng.uniform(30, 120))
            deal.created_at = deal.closed_at - timedelta(days=rng.uniform(3, 120))
        else:
            deal.created_at = now - timedelta(days=rng.uniform(0, 150))
    restamp(Deal, deals, ["created_at", "closed_at"])


def restamp(model, rows: list, fields: list[str]) -> None:
    """Write the given timestamps of rows already inserted (auto_now_add stamps them on insert)."""
    # One UPDATE ... FROM (VALUES ...) per batch: bulk_update's CASE per row is quadratic in the batch.
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(f"{field} = v.{field}" for field in fields)
    row_sql = "(" + ", ".join(["%s::uuid", *["%s::timestamptz"] * len(fields)]) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} SET {columns} "  # noqa: S608
                    f"FROM (VALUES {', '.join([row_sql] * len(batch))}) AS v(id, {', '.join(fields)}) "
                    f"WHERE {table}.id = v.id",
                    [value for row in batch for value in (row.pk, *(getattr(row, f) for f in fields))],
                )
            else:
                model.objects.bulk_update(batch, fields)

"""Every list of the API reads its page through an index led by company_id, in a fixed number of queries.

The lists are discovered from the router by bench.lists, as the list benchmark finds them, so a new
list fails here until its query count is stated below.

On a test database of a few dozen rows the planner reads whole tables, which is cheaper there than
any index. With sequential scans and explicit sorts priced out (`enable_seqscan` and `enable_sort`
off, for the EXPLAIN only) it still falls back to them when no index can serve the query; so the
plan shows whether an index leading with company_id can read the company's rows, in the page's
order: what the planner picks by itself on the bench dataset of a million rows (docs/BENCHMARKS.md).
"""

import re
from io import StringIO
from pprint import pformat

import pytest
from django.core.management import call_command
from django.db import connection

from bench.lists import (
    BearerClient,
    captured_queries,
    list_endpoints,
    main_table,
    page_query,
    plan_nodes,
    resolve,
    tenant_statements,
)
from tenancy.audit import SUPER_ADMIN_REQUEST, record_access
from tenancy.context import company_context
from tenancy.models import AuditLog, User

from .factories import EmailCampaignFactory
from .unscoped import as_stored

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PAGE_SIZES = (1, 10, 50)
# Queries of one GET of each list, whatever the page size: the token's revocation (a database table
# without Redis, as here), the signed-in user, then the list's own. A tenant viewset's list joins the
# records its rows name, for their `<name>_deleted` flags; a nested list (a workflow's executions) or a
# key to its own table (a folder's parent) reads those flags in one query per relation for the page.
QUERIES = {
    "accounts": 4,
    "contacts": 4,
    "deals": 4,
    "twilio-settings": 4,
    "sms/phone-numbers": 4,
    "sms/messages": 4,
    "sms/conversations": 6,
    "sms/conversations/{key}/messages": 6,
    "emails": 4,
    "email-templates": 4,
    "email-campaigns": 4,
    "email-campaigns/{key}/preview-recipients": 5,
    "email-campaigns/{key}/recipients": 8,
    "notifications": 4,
    "calls": 4,
    "folders": 5,
    "files": 4,
    "documents": 5,
    "quotes": 6,
    "workflows": 4,
    "workflows/{key}/executions": 6,
    "audit-log": 4,
    "accounts/{key}/timeline": 5,
    "contacts/{key}/timeline": 5,
    "deals/{key}/timeline": 5,
    "notes": 4,
    "users": 4,
}
# Lists whose page may be sorted after an index led by company_id has read the company's rows, and why.
SORTED_AFTER_READING = {
    "twilio-settings": "one row per company",
    "sms/conversations": "one row per conversation, grouped from the messages before it can be ordered",
    "email-campaigns": "the campaigns are grouped with their e-mail counts before they can be ordered",
    "email-campaigns/{key}/preview-recipients": "one row per address: contacts are grouped by address first",
    "workflows": "a company keeps a handful of workflows",
    **dict.fromkeys(
        ["accounts/{key}/timeline", "contacts/{key}/timeline", "deals/{key}/timeline"],
        "one record's entries, gathered from every app's table before they can be ordered",
    ),
}
# Lists of one parent row's children, whose rows the planner may equally read through the parent's own
# key index: the parent belongs to the one company, so that index reads only that company's rows.
READ_BY_PARENT_KEY = {"sms/conversations/{key}/messages": "contact_id"}
# Lists that hold a single row in the seeded company, so page sizes cannot tell an N+1 apart.
SINGLE_ROW = {"twilio-settings": "one row per company"}


@pytest.fixture
def lists():
    """Two seeded demo companies; the lists of the first as its owner sees them, by name."""
    call_command("seed_demo", "--companies", "2", "--per-company", "20", stdout=StringIO())
    owner = as_stored(lambda: User.objects.select_related("company").get(email="owner@acme.example"))
    # A second campaign, so the campaign list has more than one row to tell page sizes apart.
    EmailCampaignFactory(template__company=owner.company, template__user=owner)
    for _ in range(2):  # two platform visits, so the owner's audit log has rows to page
        record_access(
            action=AuditLog.Action.COMPANY_ACCESS, reason=SUPER_ADMIN_REQUEST, company_id=owner.company_id
        )
    client = BearerClient(owner)
    return owner, client, resolve(client, list_endpoints())


def index_leading_column(index: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_class i JOIN pg_index x ON x.indexrelid = i.oid "
            "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] WHERE i.relname = %s",
            [index],
        )
        return cursor.fetchone()[0]


def forced_plan(sql: str) -> dict:
    """The plan of sql with sequential scans and explicit sorts priced out, inside a savepoint."""
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT forced_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0][0]["Plan"]
        cursor.execute("ROLLBACK TO SAVEPOINT forced_plan")
    return plan


def plan_problems(plan: dict, table: str, *, sorted_ok: bool, parent_key: str | None = None) -> list[str]:
    """What is wrong with how plan reads table: a sequential scan, an index not led by company_id, a sort."""
    problems = []
    indexes = []
    for node in plan_nodes(plan):
        reads_table = node.get("Relation Name") == table
        if reads_table and node["Node Type"] == "Seq Scan":
            problems.append(f"reads {table} with a sequential scan")
        if reads_table and "Index Name" in node:
            indexes.append(node["Index Name"])
        if reads_table and node["Node Type"] == "Bitmap Heap Scan":
            indexes += [child["Index Name"] for child in plan_nodes(node) if "Index Name" in child]
        if node["Node Type"] == "Sort" and not sorted_ok:
            problems.append(f"sorts by {', '.join(node['Sort Key'])}: no index serves the page's order")
    if not indexes and not problems:
        problems.append(f"reads {table} without an index")
    problems += [
        f"reads {table} through {index}, which does not lead with company_id"
        for index in indexes
        if index_leading_column(index) not in {"company_id", parent_key}
    ]
    return problems


def test_every_list_sends_the_same_stated_number_of_queries_whatever_the_page_size(lists):
    """No list runs a query per row: a page of one or of fifty, the same number of queries, as stated."""
    _, client, paths = lists
    assert set(paths) == set(QUERIES), "state the query count of each list endpoint in QUERIES"

    wrong = {}
    for name, path in paths.items():
        counts = {size: len(captured_queries(client, f"{path}?page_size={size}")) for size in PAGE_SIZES}
        rows = client.get(f"{path}?page_size=50").json()["results"]
        if set(counts.values()) != {QUERIES[name]} or (len(rows) < 2 and name not in SINGLE_ROW):
            wrong[name] = {"queries by page size": counts, "rows": len(rows)}

    assert not wrong, f"expected the queries in QUERIES and two rows or more per list:\n{pformat(wrong)}"


def test_every_list_reads_its_page_through_an_index_leading_with_company_id(lists):
    """Each list's count and page queries read its table through a company_id index, in the page's order."""
    owner, client, paths = lists

    problems = {}
    for name, path in paths.items():
        queries = captured_queries(client, f"{path}?page_size=50")
        page = page_query(queries)
        if page is None:
            problems[name] = ["reads its rows with no LIMIT: the page is cut in Python, not by the database"]
            continue
        table = main_table(page)
        counts = [sql for sql in tenant_statements(queries) if re.match(r"SELECT COUNT\(\*\)", sql)]
        with company_context(owner.company_id):
            parent_key = READ_BY_PARENT_KEY.get(name)
            found = plan_problems(
                forced_plan(page), table, sorted_ok=name in SORTED_AFTER_READING, parent_key=parent_key
            )
            for count in counts:
                found += plan_problems(forced_plan(count), table, sorted_ok=True, parent_key=parent_key)
        if found:
            problems[name] = found

    assert not problems, pformat(problems)

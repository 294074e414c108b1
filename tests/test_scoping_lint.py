"""Domain apps never scope by company themselves, never read unscoped, never use a plain pk relation."""

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_APPS = ["crm", "calls", "messaging", "documents", "quotes", "workflows", "files", "analytics"]
QUERY_METHODS = {"filter", "exclude", "get", "get_or_create", "update_or_create"}
# (path, rule) pairs reviewed as legitimate, e.g. a platform job that reads every company to find work.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        # Platform jobs that find work across companies, then act inside each company.
        ("messaging/tasks/campaigns.py", "all-companies"),
        ("workflows/tasks.py", "all-companies"),
        ("documents/tasks.py", "all-companies"),
    }
)

HELP = {
    "company-query": (
        "scopes a query by company itself; the tenant manager already limits every query "
        "to the current company, so drop the company condition"
    ),
    "base-manager": (
        "uses _base_manager, which reads every company's rows; use Model.objects, or keep the "
        "bypass inside tenancy"
    ),
    "plain-pk-field": (
        "uses PrimaryKeyRelatedField, which accepts another company's ids; use tenancy.api.TenantRelatedField"
    ),
    "all-companies": (
        "reads across every company with all_companies(); after review, allow it with "
        "(path, 'all-companies') in ALLOWED of tests/test_scoping_lint.py"
    ),
}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {HELP[self.rule]}"


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _scopes_by_company(keyword: ast.keyword) -> bool:
    return keyword.arg is not None and bool({"company", "company_id"} & set(keyword.arg.split("__")))


def _rule_broken_by(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and node.attr == "_base_manager":
        return "base-manager"
    if not isinstance(node, ast.Call):
        return None
    name = _called_name(node)
    if name in QUERY_METHODS and any(_scopes_by_company(keyword) for keyword in node.keywords):
        return "company-query"
    if name == "PrimaryKeyRelatedField":
        return "plain-pk-field"
    if name == "all_companies":
        return "all-companies"
    return None


def scoping_violations(source: str, path: str, *, allowed=ALLOWED) -> list[Violation]:
    """Every place in one module's source that scopes, unscopes or relates by company on its own."""
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        rule = _rule_broken_by(node)
        if rule is not None and (path, rule) not in allowed:
            found.append(Violation(path, node.lineno, rule))
    return sorted(found, key=lambda violation: violation.line)


def domain_sources() -> list[Path]:
    """Python modules of the domain apps, without migrations and tests."""
    return sorted(
        path
        for app in DOMAIN_APPS
        for path in (ROOT / app).rglob("*.py")
        if not {"migrations", "tests"} & set(path.relative_to(ROOT).parts)
        and not path.name.startswith("test_")
    )


def test_lint_reads_the_domain_apps_without_migrations():
    """The scan covers the sales core's API and leaves migrations out."""
    scanned = {path.relative_to(ROOT).as_posix() for path in domain_sources()}
    assert {"crm/api.py", "crm/demo.py", "crm/services.py"} <= scanned
    assert not any("/migrations/" in path for path in scanned)


def test_domain_apps_leave_company_scoping_to_tenancy():
    """No domain module filters by company, reads unscoped, or accepts any company's ids."""
    violations = [
        violation
        for path in domain_sources()
        for violation in scoping_violations(path.read_text(), path.relative_to(ROOT).as_posix())
    ]
    assert not violations, "Company scoping belongs to tenancy:\n" + "\n".join(map(str, violations))


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("contacts = Contact.objects.filter(company=company)", "company-query"),
        ("deals = Deal.objects.exclude(company_id=company.id)", "company-query"),
        ("account = Account.objects.get(pk=pk, company__slug=slug)", "company-query"),
        ("deals = Deal.objects.filter(account__company=company)", "company-query"),
        ("contact, _ = Contact.objects.get_or_create(email=email, company=company)", "company-query"),
        ("rows = Contact._base_manager.all()", "base-manager"),
        ("owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())", "plain-pk-field"),
        ("owner = PrimaryKeyRelatedField(read_only=True)", "plain-pk-field"),
        ("with all_companies(reason='report'):\n    report(company)", "all-companies"),
    ],
)
def test_checker_reports_a_violation(source, rule):
    """A module breaking a rule is reported with its file, line and how to fix it."""
    module = "from crm.models import Account\n\n\ndef handler(company):\n" + textwrap.indent(source, "    ")
    violations = scoping_violations(module, "crm/broken.py")
    assert [(violation.rule, violation.line) for violation in violations] == [(rule, 5)]
    assert str(violations[0]).startswith("crm/broken.py:5: ")


def test_checker_allows_constructors_and_other_fields():
    """Building rows with a company, and querying fields merely named like it, is not scoping."""
    module = (
        "accounts = [Account(company=company, name='Initech')]\n"
        "Account.objects.bulk_create(accounts)\n"
        "leads = Lead.objects.filter(company_name='Initech')\n"
        "owner = TenantRelatedField(model=User)\n"
    )
    assert scoping_violations(module, "crm/demo.py") == []


def test_checker_honours_the_allow_list():
    """An allow-listed all_companies() in one file is accepted there and still reported elsewhere."""
    module = "with all_companies(reason='platform report'):\n    pass\n"
    allowed = frozenset({("crm/analytics.py", "all-companies")})
    assert scoping_violations(module, "crm/analytics.py", allowed=allowed) == []
    assert [v.rule for v in scoping_violations(module, "crm/api.py", allowed=allowed)] == ["all-companies"]

"""The floor plan holds: no module imports from a higher layer, and a function-level import says why.

Layers, lowest first: core, tenancy, crm, the domain apps (in the order below, each may use those
before it), analytics, config. Since every package ranks strictly, no circle can span two packages.
A lower package tells a higher one something through a hook the higher one subscribes to in its
AppConfig.ready() (crm.announcements, documents' signature hook, core.outbox).
"""

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [
    "core",
    "tenancy",
    "crm",
    "files",
    "messaging",
    "calls",
    "documents",
    "quotes",
    "workflows",
    "analytics",
    "config",
]
RANK = {package: rank for rank, package in enumerate(LAYERS)}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def imported_modules(node: ast.AST) -> list[str]:
    """The absolute module names an import statement reads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def upward_imports(source: str, package: str, path: str) -> list[Finding]:
    """Imports in one module of `package` that reach a package of a higher layer."""
    findings = []
    for node in ast.walk(ast.parse(source)):
        for module in imported_modules(node):
            target = module.split(".")[0]
            if target in RANK and RANK[target] > RANK[package]:
                findings.append(
                    Finding(
                        path,
                        node.lineno,
                        f"{package} (layer {RANK[package]}) imports {module}, a higher layer",
                    )
                )
    return findings


def function_level_imports_without_reason(source: str, path: str) -> list[Finding]:
    """Imports inside a function with no comment on the line or the one above saying why they wait.

    AppConfig.ready() is exempt: importing there is how Django says "once the app registry is ready".
    """
    lines = source.splitlines()
    findings = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or function.name == "ready":
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            here = lines[node.lineno - 1 : node.end_lineno]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            if not any("#" in line for line in here) and not above.strip().startswith("#"):
                findings.append(
                    Finding(path, node.lineno, "function-level import without a comment saying why")
                )
    return findings


def our_modules():
    """(package, relative path, source) of every module of the layered packages but migrations."""
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            yield package, str(relative), path.read_text()


def test_no_module_imports_from_a_higher_layer():
    """Each package imports only from itself and the packages below it."""
    findings = [
        finding
        for package, path, source in our_modules()
        for finding in upward_imports(source, package, path)
    ]
    assert findings == [], "\n".join(map(str, findings))


def test_every_function_level_import_says_why_it_is_not_at_the_top():
    """A function-level import breaks a cycle or waits for the app registry, and its comment says which."""
    findings = [
        finding
        for _, path, source in our_modules()
        for finding in function_level_imports_without_reason(source, path)
    ]
    assert findings == [], "\n".join(map(str, findings))


def test_every_package_of_the_project_has_a_layer():
    """A new top-level package must be placed in LAYERS, so the rule covers it."""
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", "bench", "scripts", "docs"}
    }
    assert packages == set(LAYERS)


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("crm", "from workflows import services\n", 1),
        ("documents", "def f():\n    from quotes.services import accept  # later\n", 1),
        ("core", "import tenancy.context\n", 1),
        ("workflows", "from crm.models import Contact\nfrom core.text import UUID\n", 0),
        ("crm", "from crm.models import Contact\nfrom django.db import models\n", 0),
    ],
)
def test_the_layer_check_itself_catches_an_upward_import(package, source, expected):
    """Canary: the checker reports an upward import, top-level or inside a function, and nothing else."""
    assert len(upward_imports(source, package, f"{package}/canary.py")) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from crm import models\n", 1),
        ("def f():\n    from crm import models  # crm imports this module at start-up\n", 0),
        ("def f():\n    # waits for the app registry\n    from crm import models\n", 0),
        ("from crm import models\n\n\ndef f():\n    return models\n", 0),
        ("class C:\n    def ready(self):\n        from crm import models\n", 0),
    ],
)
def test_the_function_level_import_check_itself_fires(source, expected):
    """Canary: an uncommented function-level import is reported; a commented or top-level one is not."""
    found = function_level_imports_without_reason(textwrap.dedent(source), "canary.py")
    assert len(found) == expected

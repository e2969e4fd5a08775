"""The layout's rules, checked on the source (docs/design.md, "Where each decision lives").

- Only the store seam (jobs/execution/store/) asks which database it is on.
- Modules import each other in one direction: entry points (api, admin,
  tasks, beat's scheduler, commands) -> services / selectors -> execution ->
  models -> schedules; no function-level import of project code to dodge a
  cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    path
    for package in ("jobs", "accounts", "scheduler_site")
    for path in sorted((ROOT / package).rglob("*.py"))
    if "migrations" not in path.parts
]
SEAM = ROOT / "jobs" / "execution" / "store"

VENDOR_QUESTIONS = re.compile(r"\.vendor\b|BATCH_VENDORS|_supports_transactions|supports_transactions")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported project module, imported inside a function) for each import of project code."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    found.append((f"{child.module}.{alias.name}", inner))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return [(name, nested) for name, nested in found if name.split(".")[0] in ("jobs", "accounts", "scheduler_site")]


def test_only_the_store_seam_asks_which_database_it_is_on():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in SOURCES
        if SEAM not in path.parents
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if VENDOR_QUESTIONS.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


# Which layers a module may import: a layer imports only layers listed after it.
LAYERS = [
    ("entry points", ("jobs.api", "jobs.admin", "jobs.tasks", "jobs.management", "jobs.beat.scheduler")),
    ("beat", ("jobs.beat.firing", "jobs.beat.planning")),
    ("services", ("jobs.services", "jobs.selectors", "jobs.diagnostics", "accounts.services")),
    ("beat's mirror and lease", ("jobs.beat.mirror", "jobs.beat.lease", "jobs.beat.partitions")),
    ("execution", ("jobs.execution", "jobs.alerts")),
    ("models", ("jobs.models", "jobs.cache")),
    ("schedules", ("jobs.schedules",)),
]


def _layer(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    return None


# AppConfig.ready() imports what registers itself once the app registry is ready: that is its purpose.
@pytest.mark.parametrize("path", [p for p in SOURCES if p.name != "apps.py"], ids=_module)
def test_modules_import_downwards_only_and_at_the_top(path):
    here = _layer(_module(path))
    problems = []
    for name, nested in _imports(path):
        if nested:
            problems.append(f"function-level import of {name}")
        there = _layer(name) if _layer(name) is not None else _layer(name.rsplit(".", 1)[0])
        if here is not None and there is not None and there < here:
            problems.append(f"imports {name} ({LAYERS[there][0]}) from the {LAYERS[here][0]} layer")
    assert problems == []


def test_the_schedules_package_never_imports_django():
    for path in sorted((ROOT / "jobs" / "schedules").rglob("*.py")) or [ROOT / "jobs" / "schedules.py"]:
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) django", text, re.MULTILINE), path

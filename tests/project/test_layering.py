"""Which package may import which, read from the source with `ast` (no module is imported).

The rule:
- `workers` (tasks, supervisor, training) uses the domain; `experiments` and `guide` never
  import `workers`, directly or through another package, at module level or inside a function.
  The domain starts background work through `experiments/dispatch.py`, by task name.
- No import circle between packages. `config` is the project: its wiring (settings, URLconfs,
  the Celery app loaded in `config/__init__.py`, the outage handler) imports the apps, and the
  apps use a few of its helpers (`config.redirects`, `config.auth`) that import no app. So each
  `config` module is its own node; `guide`, `experiments` and `workers` are one node each. An
  import of `config.auth` counts as an import of that module only (Python also runs
  `config/__init__.py`, which every Django process has loaded by then anyway).

- Inside `experiments`, the domain packages build on each other one way: `datasets`, then
  `jobs` (a job trains on a dataset), then `research` (it studies finished jobs). `figures`
  and the shared modules at the top (`storage`, `dispatch`, `validation`, ...) import none of
  them; only the entry points (`urls`, `admin`, management commands, template tags) may
  import any.

Each failure names the file and line of every import on the offending path.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("experiments", "guide", "workers")
PACKAGES = (*APPS, "config")
DOMAIN = ("experiments", "guide")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """(module, line) for every import in the file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            # `from pkg import mod` imports pkg.mod when mod is a module, else a name of pkg.
            for alias in node.names:
                found.append((f"{base}.{alias.name}", node.lineno))
    return found


def node_of(module: str, config_modules: set[str]) -> str | None:
    """The graph node a module belongs to; None outside the project's packages."""
    top = module.split(".")[0]
    if top in APPS:
        return top
    if top != "config":
        return None
    # config.X.Y -> the longest config module that exists (a `from config.auth import f`
    # yields "config.auth.f", which belongs to config.auth).
    while module not in config_modules and "." in module:
        module = module.rpartition(".")[0]
    return module


def import_graph() -> dict[str, dict[str, list[str]]]:
    """node -> node it imports -> ["file:line", ...] (edges inside a node left out)."""
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    config_modules = {module_name(p) for p in files if module_name(p).startswith("config")}
    graph: dict[str, dict[str, list[str]]] = {}
    for path in files:
        source = node_of(module_name(path), config_modules)
        for module, line in imported_modules(path):
            target = node_of(module, config_modules)
            if target and target != source:
                where = f"{path.relative_to(ROOT)}:{line}"
                lines = graph.setdefault(source, {}).setdefault(target, [])
                if where not in lines:  # `from x import a, b` is one line
                    lines.append(where)
    return graph


def path_between(graph, start: str, goal: str) -> list[str] | None:
    """Nodes of one import path start -> ... -> goal (breadth first), or None."""
    previous = {start: None}
    queue = [start]
    for node in queue:
        for nxt in graph.get(node, {}):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    if goal not in previous or goal == start:
        return None
    path = [goal]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1]


def describe(graph, path: list[str]) -> str:
    return "\n".join(
        f"  {a} -> {b}: {', '.join(graph[a][b])}" for a, b in zip(path, path[1:], strict=False)
    )


def test_the_graph_sees_the_imports_it_checks():
    graph = import_graph()
    assert "experiments" in graph["workers"]  # the direction the rule allows
    assert "workers" in graph["config"]  # the Celery app, loaded with Django
    assert "experiments" in graph["config.api_urls"]
    assert "config.redirects" in graph["guide"]


def test_the_domain_never_imports_workers():
    graph = import_graph()
    offending = [path_between(graph, app, "workers") for app in DOMAIN]
    offending = [describe(graph, path) for path in offending if path]
    assert not offending, "The domain imports workers (dispatch by task name instead):\n" + (
        "\n".join(offending)
    )


def test_no_import_circle_between_packages():
    graph = import_graph()
    circles, seen = [], set()
    for a in graph:
        for b in graph[a]:
            back = path_between(graph, b, a)
            if back and frozenset(back) not in seen:
                seen.add(frozenset(back))
                circles.append(describe(graph, [a, *back]))
    assert not circles, "Import circle(s) between packages:\n" + "\n\n".join(circles)


def test_dispatch_reaches_the_project_app_from_any_thread():
    """`experiments.dispatch` finds the app through Celery's current app, which is per thread:
    Django's fix-up makes the project's app the default, so a request thread gets it too (not
    Celery's fallback app, which would publish to a local AMQP broker)."""
    from concurrent.futures import ThreadPoolExecutor

    from celery import current_app

    from config import celery_app

    with ThreadPoolExecutor(1) as pool:
        seen = pool.submit(lambda: current_app._get_current_object()).result()
    assert seen is celery_app


# experiments' packages, lowest first: each may import the ones before it, never after.
DOMAIN_ORDER = ("datasets", "jobs", "research")
ENTRY_POINTS = ("urls", "admin", "management", "templatetags", "migrations")


def experiments_part(module: str) -> str | None:
    """`datasets`, `jobs`, `research`, `figures`, `models`, an entry point, or `shared`."""
    parts = module.split(".")
    if parts[0] != "experiments" or len(parts) < 2:
        return None
    if parts[1] in (*DOMAIN_ORDER, "figures", "models", *ENTRY_POINTS):
        return parts[1]
    return "shared"


def wrong_way_imports() -> list[str]:
    found = []
    for path in sorted((ROOT / "experiments").rglob("*.py")):
        source = experiments_part(module_name(path))
        if source in ENTRY_POINTS:
            continue
        for module, line in imported_modules(path):
            target = experiments_part(module)
            if target not in DOMAIN_ORDER or target == source:
                continue
            allowed = source in DOMAIN_ORDER and (
                DOMAIN_ORDER.index(target) < DOMAIN_ORDER.index(source)
            )
            if not allowed:
                found.append(f"{path.relative_to(ROOT)}:{line} ({source}) imports {module}")
    return found


def test_experiments_packages_depend_one_way():
    assert experiments_part("experiments.research.views") == "research"
    assert experiments_part("experiments.storage.fetch_file") == "shared"
    assert not wrong_way_imports(), "Imports against datasets -> jobs -> research:\n" + (
        "\n".join(wrong_way_imports())
    )


def test_the_one_way_check_sees_a_wrong_import(tmp_path, monkeypatch):
    """A jobs module importing research, and a shared module importing jobs, are reported."""
    tree = tmp_path / "experiments"
    (tree / "jobs").mkdir(parents=True)
    (tree / "jobs" / "views.py").write_text("from experiments.research.studies import x\n")
    (tree / "storage.py").write_text("from .jobs import actions\n")
    (tree / "research").mkdir()
    (tree / "research" / "views.py").write_text("from experiments.jobs.actions import y\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    found = wrong_way_imports()
    assert any("jobs/views.py:1 (jobs) imports experiments.research.studies" in f for f in found)
    assert any("storage.py:1 (shared) imports experiments.jobs.actions" in f for f in found)
    assert not any("research/views.py" in f for f in found)

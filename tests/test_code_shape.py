"""The shape a newcomer relies on: no module of the library imports itself back (type-only imports
included), and no function is so long that it stops reading as a few named steps."""

from __future__ import annotations

import ast
from pathlib import Path

from harness import REPO

PACKAGES = {"components": "llm_maas.components", "models": "llm_maas.models", "smoke": "llm_maas.smoke", "policy": "llm_maas.policy"}
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            found[".".join((package, *parts)).removesuffix(".__init__")] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The library modules `module` imports, at any level of its code (TYPE_CHECKING blocks too)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known and name != module}


def test_no_module_imports_itself_back():
    modules = _modules()
    # A package's __init__ re-exports its modules; the modules themselves must form no circle.
    graph = {m: _imports(m, p, set(modules)) - {m} for m, p in modules.items() if p.name != "__init__.py"}
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    cycles = []

    def visit(node, trail):
        for dep in graph[node]:
            if dep in trail:
                cycles.append(trail[trail.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, trail + [dep])
        done.add(node)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_function_is_over_80_lines():
    long = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in _modules().values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "\n".join(long)

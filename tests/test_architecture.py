"""The package's shape: storeys that import only downward, no import cycles, short units.

The storeys (docs/architecture.md):

* base: the package root, ``errors``, ``settings``, ``jsonutil``, ``names``, ``choices``,
  ``imaging``, ``metrics``, ``samples`` and ``runtime``;
* primitives: ``attacks``, ``watermark``, ``labels``, ``registry``, ``detect``;
* capabilities: ``generate``, ``labelling``, ``screen``, ``eval``, ``integrations``,
  ``demo``;
* faces: ``cli``, ``serve`` and ``__main__``.

A module imports modules of its own storey or below. Imports inside functions count (they
run, only later); imports under ``if TYPE_CHECKING:`` do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "synthmark"

STOREYS: dict[str, int] = {
    **dict.fromkeys(
        ("", "errors", "settings", "jsonutil", "names", "choices", "imaging", "metrics",
         "samples", "runtime"),
        0,
    ),
    **dict.fromkeys(("attacks", "watermark", "labels", "registry", "detect"), 1),
    **dict.fromkeys(("generate", "labelling", "screen", "eval", "integrations", "demo"), 2),
    **dict.fromkeys(("cli", "serve", "__main__"), 3),
}
STOREY_NAMES = ("base", "primitives", "capabilities", "faces")

#: The most lines a file in ``src/`` and a function may have.
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
#: Known offenders, being split by other work (issue 21): each entry must still offend, so
#: that the list only shrinks. Empty when the issue is done.
KNOWN_LONG: set[str] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _known(name: str) -> str | None:
    """``name`` or the nearest package above it that is one of ours."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(sub) for sub in ast.walk(node))
    return skip


def _imports(module: str, path: Path) -> set[str]:
    """Our modules that ``module`` imports at run time (``from pkg import sub`` names the
    submodule ``pkg.sub``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(_known(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else _known(base))
    return {name for name in found if name and name != module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _storey(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    if top not in STOREYS:
        pytest.fail(f"{module}: its top-level name {top!r} has no storey in STOREYS")
    return STOREYS[top]


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = {frozenset(c) for c in _cycles(GRAPH)}
    assert cycles - KNOWN_CYCLES == set(), "import cycles: " + "; ".join(
        " <-> ".join(sorted(c)) for c in cycles - KNOWN_CYCLES
    )
    assert cycles >= KNOWN_CYCLES, f"gone, remove from KNOWN_CYCLES: {KNOWN_CYCLES - cycles}"


def test_imports_flow_down_the_storeys() -> None:
    upward = [
        f"{module} ({STOREY_NAMES[_storey(module)]}) imports {target} "
        f"({STOREY_NAMES[_storey(target)]})"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if _storey(target) > _storey(module)
    ]
    assert upward == []


def _long_units() -> set[str]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(SRC).as_posix()
        if len(text.splitlines()) > MAX_FILE_LINES:
            found.add(where)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                end = node.end_lineno or node.lineno
                if end - node.lineno + 1 > MAX_FUNCTION_LINES:
                    found.add(f"{where}:{node.name}")
    return found


def test_files_and_functions_stay_short() -> None:
    long = _long_units()
    assert long - KNOWN_LONG == set(), (
        f"over {MAX_FILE_LINES} lines a file or {MAX_FUNCTION_LINES} a function"
    )
    assert long >= KNOWN_LONG, f"now short, remove from KNOWN_LONG: {KNOWN_LONG - long}"


#: Modules that still read a ``SYNTHMARK_*`` variable themselves, pending other work: each
#: must still do so, so that the list only shrinks.
KNOWN_ENV_READERS: set[str] = set()


def _reads_synthmark_environment(tree: ast.AST, names: dict[str, str]) -> bool:
    """Whether the module reads ``os.environ`` / ``os.getenv`` with a ``SYNTHMARK_*`` name
    (a literal, or a module constant holding one)."""
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            key = node.slice
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in (
            "os.environ.get", "os.getenv", "os.environ.setdefault"
        ):
            key = node.args[0] if node.args else None
        if isinstance(key, ast.Constant) and str(key.value).startswith("SYNTHMARK_"):
            return True
        if isinstance(key, ast.Name) and names.get(key.id, "").startswith("SYNTHMARK_"):
            return True
    return False


def test_the_environment_check_sees_literal_and_named_variables() -> None:
    def reads(code: str) -> bool:
        tree = ast.parse(code)
        return _reads_synthmark_environment(tree, {"TOKEN_ENV": "SYNTHMARK_API_TOKEN"})

    assert reads("import os\nx = os.environ.get('SYNTHMARK_HOME')")
    assert reads("import os\nx = os.environ[TOKEN_ENV]")
    assert not reads("import os\nx = os.environ.get('COLUMNS')")


def test_only_settings_reads_synthmark_environment_variables() -> None:
    readers = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            target.id: str(node.value.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        if _reads_synthmark_environment(tree, names):
            readers.add(path.relative_to(SRC).as_posix())
    assert readers - KNOWN_ENV_READERS - {"synthmark/settings.py"} == set()
    assert readers >= KNOWN_ENV_READERS, f"gone, remove: {KNOWN_ENV_READERS - readers}"

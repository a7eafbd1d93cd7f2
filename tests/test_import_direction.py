"""The layers as imports: agent -> drivers -> sansio, never back, and no cycles.

An AST walk over every module of the three folders (all imports, also those
inside functions and under ``TYPE_CHECKING``), so a forbidden arrow fails here
even when no test happens to execute the line that carries it.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "sansio": "adk_realtime.sansio",
    "drivers": "adk_realtime.drivers",
    "agent": "adk_realtime",
}

# Standard-library modules that do I/O, run tasks or read clocks: never in sansio/.
IO_MODULES = (
    "anyio", "trio", "asyncio", "socket", "ssl", "selectors", "threading", "subprocess",
    "multiprocessing", "concurrent", "time", "livekit", "sounddevice", "http.client",
    "http.server", "urllib.request",
)  # fmt: skip


def _is_io(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in IO_MODULES)


# Distribution name -> import name, where they differ.
IMPORT_NAMES = {"pyopenssl": "OpenSSL", "google-crc32c": "google_crc32c", "livekit-api": "livekit"}


def _declared_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra, deps in project["optional-dependencies"].items():
        if extra not in ("dev", "bench"):
            specs += deps
    names = set()
    for spec in specs:
        dist = spec.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            dist = dist.split(sep)[0]
        names.add(IMPORT_NAMES.get(dist.lower(), dist.replace("-", "_")))
    return names


def _module_name(path: Path) -> str:
    layer, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [LAYERS[layer], *rest]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, lazy) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under a module-level `if`/`try` are still eager...
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # ...but not those for type checkers only: they never run
        if isinstance(node, ast.If | ast.Try):
            top_level.update(id(child) for child in ast.walk(node))
    out = []
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            # `from pkg import sub` imports the submodule when there is one.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        out += [(name, node.lineno, id(node) not in top_level) for name in names]
    return out


def _layer(module: str) -> str:
    if module.startswith("adk_realtime.sansio"):
        return "sansio"
    if module.startswith("adk_realtime.drivers"):
        return "drivers"
    return "agent"


def test_every_layer_imports_only_downwards() -> None:
    allowed = {
        "sansio": {"sansio"},
        "drivers": {"sansio", "drivers"},
        "agent": {"sansio", "drivers", "agent"},
    }
    bad = []
    for module, path in MODULES.items():
        for target, line, _lazy in _imports(path):
            if target.startswith("adk_realtime") and _layer(target) not in allowed[_layer(module)]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert bad == []


def test_sansio_imports_only_itself_the_standard_library_and_declared_dependencies() -> None:
    declared = _declared_dependencies() - {"anyio"}  # anyio is the drivers' dependency
    bad = []
    for module, path in MODULES.items():
        if _layer(module) != "sansio":
            continue
        for target, line, _lazy in _imports(path):
            top = target.split(".")[0]
            if top == "adk_realtime" or top == "__future__":
                continue
            stdlib_ok = top in sys.stdlib_module_names and not _is_io(target)
            if not (stdlib_ok or top in declared):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert bad == []


def test_drivers_import_no_undeclared_third_party_module() -> None:
    declared = _declared_dependencies()
    bad = []
    for module, path in MODULES.items():
        if _layer(module) != "drivers":
            continue
        for target, line, _lazy in _imports(path):
            top = target.split(".")[0]
            if top not in ("adk_realtime", "__future__") and top not in sys.stdlib_module_names:
                if top not in declared:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert bad == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative enough)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _edges(include_lazy: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        for target, _line, lazy in _imports(path):
            # A package's __init__ re-exporting its own submodules is not a cycle of design.
            if target in MODULES and target != module and (include_lazy or not lazy):
                if not target.startswith(module + "."):
                    edges.setdefault(module, set()).add(target)
    return edges


def test_no_import_cycles_at_module_level() -> None:
    assert _cycles(_edges(include_lazy=False)) == []


def test_a_lazy_import_that_closes_a_cycle_says_why() -> None:
    in_cycle = {m for cycle in _cycles(_edges(include_lazy=True)) for m in cycle}
    unexplained = []
    for module in sorted(in_cycle):
        path = MODULES[module]
        lines = path.read_text().splitlines()
        for target, line, lazy in _imports(path):
            if lazy and target in in_cycle and not target.startswith(module + "."):
                # The comment may sit on the import, above it, or above its `if TYPE_CHECKING:`.
                window = lines[max(0, line - 4) : line]
                comments = " ".join(ln.split("#", 1)[1] for ln in window if "#" in ln).lower()
                if not any(word in comments for word in ("cycle", "circular", "lazy", "lazily")):
                    unexplained.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert unexplained == []

"""The package layout keeps its promise: imports point one way and never form a cycle.

Layers, top to bottom (docs/architecture.md): the public face of `adapters` (its __init__ and the
kept module paths) and tools on top of everything; the facade `adapters.estimator`; the engine
`adapters.engine`; `adapters.hooks` and `adapters.export`; the TF1 emulation `adapters.tf1` and
`adapters.distribute`; the spec vocabulary `keras_spec`. A module may import its own package and
any lower layer, never a higher one or a sibling of its own layer. The check parses the sources
with `ast` (every import statement, including ones inside functions) and imports nothing.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Package -> layer. Deeper packages are found by their longest listed prefix.
LAYERS = {
    "keras_spec": 0,
    "adapters.tf1": 1,
    "adapters.distribute": 1,
    "adapters.hooks": 2,
    "adapters.export": 2,
    "adapters.engine": 3,
    "adapters.estimator": 4,
    "adapters": 5,  # adapters/__init__.py, the kept public paths, and tools such as the doctor
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(module: str, is_package: bool) -> str:
    """The listed package a module belongs to (its longest listed prefix)."""
    name = module if is_package else module.rpartition(".")[0] or module
    while name and name not in LAYERS:
        name = name.rpartition(".")[0]
    if not name:
        raise AssertionError(f"{module} is in no listed layer: add its package to LAYERS")
    return name


def _sources() -> dict[str, pathlib.Path]:
    found = {}
    for top in ("keras_spec", "adapters"):
        for path in sorted((ROOT / top).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(module: str, path: pathlib.Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported project module, line) for every import statement in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            # `from pkg import mod` imports the module pkg.mod when it exists.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append((name, node.lineno))
    return found


def _graph():
    sources = _sources()
    known = set(sources)
    return sources, {m: _imports(m, p, known) for m, p in sources.items()}


def test_every_import_points_down_or_within_its_own_package():
    sources, graph = _graph()
    upward = []
    for module, imports in graph.items():
        pkg = _package_of(module, sources[module].name == "__init__.py")
        for target, line in imports:
            target_pkg = _package_of(target, sources[target].name == "__init__.py")
            if target_pkg == pkg or (pkg == "adapters" and target_pkg.startswith("adapters")):
                continue
            if target_pkg.startswith(pkg + ".") and pkg != "adapters":
                continue  # a package's __init__ may name its own subpackages
            if LAYERS[target_pkg] >= LAYERS[pkg]:
                upward.append(f"{sources[module].relative_to(ROOT)}:{line}: {module} ({pkg}, "
                              f"layer {LAYERS[pkg]}) imports {target} ({target_pkg}, layer "
                              f"{LAYERS[target_pkg]})")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules():
    sources, graph = _graph()
    edges = {m: sorted({t for t, _ in imports if t in graph}) for m, imports in graph.items()}
    # A package's __init__ importing its own submodules is how Python packages work; a cycle
    # through an __init__ is only one when it comes back to a submodule by another way.
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        stack.append(module)
        for target in edges[module]:
            if module.startswith(target + ".") and sources[target].name == "__init__.py":
                continue  # importing a name from one's own package's __init__
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("source, message", [
    ("from adapters.estimator import Estimator\n", "imports adapters.estimator"),
    ("from adapters.engine import spec_model\n", "imports adapters.engine.spec_model"),
])
def test_the_check_catches_an_upward_import(tmp_path, monkeypatch, source, message):
    """The layering test fails for a TF1-emulation module that imports the facade or engine."""
    fake_root = tmp_path / "repo"
    for top in ("keras_spec", "adapters"):
        for path in (ROOT / top).rglob("*.py"):
            target = fake_root / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    (fake_root / "adapters" / "tf1" / "world.py").write_text(
        (ROOT / "adapters" / "tf1" / "world.py").read_text() + "\n" + source)
    monkeypatch.setitem(globals(), "ROOT", fake_root)
    with pytest.raises(AssertionError, match=message):
        test_every_import_points_down_or_within_its_own_package()

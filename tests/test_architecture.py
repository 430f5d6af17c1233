"""The layer contract of DESIGN.md, checked on the source (ast: every import, function-local ones
included, except those under ``if TYPE_CHECKING:``, which never run).

    cli -> inspect / interop / train / generate -> build -> builtins -> spec / registry -> components

An import points only to its own layer or one below; registry and spec import no torch; components
import neither spec nor registry; there are no import cycles, between packages or between modules.

A new top-level package or module of ``src/blockforge`` must be added to :data:`LAYERS` (the test
fails until it is, saying so).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "blockforge"

LAYERS: list[tuple[str, ...]] = [
    # top: the command line and the package's public (lazy) API
    ("cli", "__init__", "__main__"),
    # presentation of what the layers below produce (rich/markdown renderings, spec error rendering)
    ("render", "diagnostics", "figure"),
    # what is done with a model: statistics, transformers interop, training (and its data), generation
    ("inspect", "interop", "train", "generation", "data"),
    # model directories (spec + safetensors + tokenizer) and torch.distributed set-up, used by the above
    ("modeldir", "distributed"),
    ("build",),
    ("builtins",),
    ("spec", "registry"),
    ("components",),
    # foundation: errors and small helpers everything may use
    ("errors", "_io", "_lazy"),
]
"""Top-level units of ``src/blockforge`` (subpackages and modules), highest layer first."""

TORCH_FREE = {"registry", "spec", "errors", "diagnostics", "_lazy", "__init__"}
"""Units that never import torch, not even inside a function (``blockforge validate`` loads only these)."""

FORBIDDEN = {"components": {"spec", "registry"}}
"""Imports ruled out beyond the layer order (kept explicit: DESIGN.md names them)."""

ALLOWED_MODULE_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import that can run (``TYPE_CHECKING`` blocks skipped)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            for a in node.names:  # `from pkg import submodule` imports the submodule
                found.append((f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


IMPORTS = {m: _imports(m, p) for m, p in MODULES.items()}
LAYER_OF = {u: i for i, layer in enumerate(LAYERS) for u in layer}


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(SRC.parent)}:{line}"


def test_every_top_level_unit_has_a_layer():
    unknown = sorted({_unit(m) for m in MODULES} - set(LAYER_OF))
    assert not unknown, (
        f"src/blockforge has top-level package(s)/module(s) {unknown} that the layer contract does not "
        f"know: add each to LAYERS in {Path(__file__).relative_to(SRC.parent)} (the layer it may import "
        "from and be imported by; DESIGN.md, 'Layers')")


def test_imports_point_down_the_layers():
    wrong = []
    for module, imports in IMPORTS.items():
        src = _unit(module)
        for target, line in imports:
            if not target.startswith(PACKAGE + ".") or target not in MODULES and target.rpartition(".")[0] not in MODULES:
                continue
            dst = _unit(target)
            if src in LAYER_OF and dst in LAYER_OF and LAYER_OF[dst] < LAYER_OF[src]:
                wrong.append(f"{_where(module, line)}: {src} imports {target} (layer {dst!r} is above {src!r})")
            if dst in FORBIDDEN.get(src, ()):
                wrong.append(f"{_where(module, line)}: {src} must not import {dst} ({target})")
    assert not wrong, "imports against the layer order (DESIGN.md, 'Layers'):\n" + "\n".join(wrong)


def test_torch_free_units_import_no_torch():
    wrong = [f"{_where(m, line)}: {target}" for m, imports in IMPORTS.items() if _unit(m) in TORCH_FREE
             for target, line in imports if target == "torch" or target.startswith("torch.")]
    assert not wrong, f"{sorted(TORCH_FREE)} must not import torch:\n" + "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def _module_graph() -> dict[str, set[str]]:
    return {m: {t for t, _ in imports if t in MODULES and t != m} for m, imports in IMPORTS.items()}


def test_no_import_cycles_between_modules():
    cycles = [sorted(c) for c in _cycles(_module_graph()) if c not in ALLOWED_MODULE_CYCLES]
    assert not cycles, f"import cycles between modules: {cycles}"


def test_no_import_cycles_between_packages():
    graph: dict[str, set[str]] = {}
    for m, targets in _module_graph().items():
        graph.setdefault(_unit(m), set()).update(_unit(t) for t in targets if _unit(t) != _unit(m))
    cycles = [sorted(c) for c in _cycles(graph)]
    assert not cycles, f"import cycles between top-level packages: {cycles}"


@pytest.mark.parametrize("source, expected", [
    ("import torch\n", "torch"),
    ("def f():\n    from blockforge.build import build_model\n", "blockforge.build"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n", None),
])
def test_the_checker_sees_what_runs(tmp_path, source, expected):
    """The contract is only as good as the import finder: function-local imports count, type-only ones do not."""
    path = SRC / PACKAGE / "spec" / "x.py"  # a name to resolve relative imports against; never written
    tree_imports = [t for t, _ in _imports("blockforge.spec.x", _Fake(path, source))]
    assert (expected in tree_imports) if expected else ("torch" not in tree_imports)


def test_cycles_are_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert _cycles({"a": {"b"}, "b": set()}) == []


class _Fake:
    """A stand-in for a source file's path (``name`` and ``read_text``) in the checker's own tests."""

    def __init__(self, path: Path, text: str) -> None:
        self.name, self._text = path.name, text

    def read_text(self, encoding: str = "utf-8") -> str:
        return self._text

    def __str__(self) -> str:
        return self.name

"""Qualified names of what a source file references, through its import aliases (ast only).

`import tensorflow as tf`, `import tensorflow.compat.v1 as tf`, `from tensorflow import
estimator as est`, `from tensorflow.contrib import layers as contrib_layers`, `from
tensorflow.contrib.layers import layer_norm` all bind a local name to a dotted path; every
attribute chain rooted at such a name (`tf.contrib.layers.layer_norm`) is reported with its full
path and exact source span, which is what the rules match and the fixer rewrites. Aliases are
collected file-wide (any scope): model_fn modules import at the top, and a rare shadowing name
costs a false report, never a wrong rewrite of unrelated code (the span is the reference).
"""

from __future__ import annotations

import ast
import dataclasses


@dataclasses.dataclass
class Ref:
    """One reference: `qualname` (e.g. tensorflow.contrib.layers.layer_norm) at a span."""
    qualname: str
    local: str            # the source spelling, e.g. tf.contrib.layers.layer_norm
    node: ast.AST         # the outermost Attribute/Name of the chain
    lineno: int
    col: int
    end_lineno: int
    end_col: int
    in_import: bool = False


@dataclasses.dataclass
class ImportBinding:
    """An import statement binding `local` to `qualname`."""
    local: str
    qualname: str
    node: ast.stmt


def _chain(node: ast.AST) -> list[str] | None:
    """['tf', 'contrib', 'layers'] for tf.contrib.layers; None if not a pure name chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def import_bindings(tree: ast.AST) -> list[ImportBinding]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found.append(ImportBinding(alias.asname, alias.name, node))
                else:  # `import a.b.c` binds `a` to a
                    top = alias.name.split(".")[0]
                    found.append(ImportBinding(top, top, node))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    continue
                found.append(ImportBinding(alias.asname or alias.name,
                                           f"{node.module}.{alias.name}", node))
    return found


def references(tree: ast.AST, roots: tuple[str, ...]) -> tuple[list[Ref], dict[str, str]]:
    """Every maximal name chain whose qualified name starts with one of `roots`.

    Returns the references and the alias map (local name -> qualified name).
    """
    aliases: dict[str, str] = {}
    refs: list[Ref] = []
    for b in import_bindings(tree):
        if b.qualname.split(".")[0] in roots:
            aliases[b.local] = b.qualname
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            value = node.value
            while isinstance(value, ast.Attribute):
                inner.add(id(value))
                value = value.value
            parts = _chain(node)
            if parts and parts[0] in aliases:
                refs.append(_ref(aliases[parts[0]], parts, node))
        elif (isinstance(node, ast.Name) and id(node) not in inner and node.id in aliases
              and not isinstance(node.ctx, ast.Store)):
            refs.append(_ref(aliases[node.id], [node.id], node))
    # A Name that is the root of an Attribute chain was visited as an Attribute already.
    chained = {id(_root(r.node)) for r in refs if isinstance(r.node, ast.Attribute)}
    refs = [r for r in refs if not (isinstance(r.node, ast.Name) and id(r.node) in chained)]
    return refs, aliases


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node


def _ref(qual_root: str, parts: list[str], node: ast.AST) -> Ref:
    qualname = ".".join([qual_root, *parts[1:]])
    return Ref(qualname, ".".join(parts), node, node.lineno, node.col_offset,
               node.end_lineno, node.end_col_offset)


def import_refs(tree: ast.AST, roots: tuple[str, ...]) -> list[Ref]:
    """Import statements themselves (`from tensorflow.contrib import layers`) as references."""
    refs = []
    for b in import_bindings(tree):
        if b.qualname.split(".")[0] in roots:
            n = b.node
            refs.append(Ref(b.qualname, b.local, n, n.lineno, n.col_offset, n.end_lineno,
                            n.end_col_offset, in_import=True))
    return refs

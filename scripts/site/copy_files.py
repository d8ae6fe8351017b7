"""Write each public xentref function as one standalone, NumPy-only Python file.

For a name in ``xentref.__all__`` the file holds the function with its docstring and exactly
the definitions it needs, found from the code: the private helpers, constants, type aliases,
classes (NamedTuples with their methods) and other public functions it uses, transitively
and across the modules of ``xentref/``, each in its source order and with the comments just
above it. Names used in the docstrings' examples (``>>> from xentref import a, b``) count as
needed too, and those imports are rewritten to the file itself (``from <name> import a, b``),
so that the file's examples run as they are:

    python -m doctest -o NORMALIZE_WHITESPACE -o ELLIPSIS softmax_cross_entropy.py

Its only imports are ``from __future__ import annotations``, the standard-library modules the
copied code uses, and NumPy (``numpy``, ``numpy.typing``); it never imports xentref. The
generator reads the package's source files (it does not import xentref) and fails, naming
the definition, on anything it cannot copy faithfully: a name it cannot resolve, two
different definitions of one name, an import of a third-party module, or a top-level
statement that is neither an import nor a definition. The output depends only on the
sources, so two runs give identical bytes.

The site build (``scripts/site/mkdocs_hooks.py``) publishes the files as ``copy/<name>.py`` and
links each one from its API reference entry; ``tests/test_copy_files.py`` runs every file's
doctests in an interpreter that can import only NumPy and the standard library and compares
its results with the package's. From the command line:

    python scripts/site/copy_files.py --out DIR [NAME ...]   # write the files, print line counts
"""

from __future__ import annotations

import argparse
import ast
import builtins
import io
import re
import symtable
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "xentref"
REFERENCE = ROOT / "docs" / "reference"
PACKAGE_NAME = "xentref"
#: Third-party modules a standalone file may import (with their submodules).
ALLOWED_THIRD_PARTY = ("numpy",)
DOCTEST_COMMAND = "python -m doctest -o NORMALIZE_WHITESPACE -o ELLIPSIS {name}.py"
COPYRIGHT = "Copyright (c) xentref contributors"
# The MIT licence's permission notice, which must travel with every copy.
MIT_NOTICE = """\
Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."""

_EXAMPLE_IMPORT = re.compile(r"^(\s*(?:>>>|\.\.\.) +from +)xentref( +import +)(.+)$", re.MULTILINE)
_ANY_XENTREF_IMPORT = re.compile(
    r"^\s*(?:>>>|\.\.\.) .*\b(?:from +xentref\b|import +(?:\w+ *, *)*xentref\b)", re.MULTILINE
)
_REFERENCE_ENTRY = re.compile(r"^::: +xentref\.(\w+) *$", re.MULTILINE)
_BUILTINS = frozenset(dir(builtins))


class CopyError(Exception):
    """A definition that cannot be copied faithfully into a standalone file."""


@dataclass(frozen=True, order=True)
class Symbol:
    """A top-level definition: the module that defines it and its name there."""

    module: str  # e.g. "_softmax_ce"
    name: str


@dataclass(frozen=True)
class External:
    """An import of NumPy or the standard library that copied code needs."""

    module: str  # "numpy", "numpy.typing", "typing", "math"
    name: str | None  # None: ``import module [as alias]``
    alias: str  # the name it binds

    def is_stdlib(self) -> bool:
        return self.module.split(".")[0] in sys.stdlib_module_names


@dataclass
class Definition:
    """One top-level statement (def, class, assignment) of a module, with what it uses."""

    symbol: Symbol
    lineno: int  # first line, leading comments and decorators included (1-based)
    source: str  # the lines, as in the file
    uses: list[str]  # names it loads from the module scope, in order of first use
    docstrings: list[str]  # the docstrings of the node and of everything nested in it


@dataclass
class Module:
    """A parsed module of the package: its definitions and imports, by the name they bind."""

    name: str
    path: Path
    definitions: dict[str, Definition] = field(default_factory=dict)
    internal: dict[str, Symbol] = field(default_factory=dict)  # from xentref._x import y
    external: dict[str, External] = field(default_factory=dict)
    future: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # xentref modules, in import order


# --------------------------------------------------------------------------- reading


def _bound_names(node: ast.AST) -> set[str]:
    """Every name a statement binds anywhere inside itself (locals of all nested scopes)."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            bound.add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if sub is not node:
                bound.add(sub.name)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            bound.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in sub.names)
        elif isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
            bound.add(sub.name)
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            bound.add(sub.rest)
        elif isinstance(sub, ast.Global):
            declared_global.update(sub.names)
    return bound - declared_global


def _uses(node: ast.stmt) -> list[str]:
    """Names a top-level statement loads from the module scope, in order of first use."""
    local = _bound_names(node)
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        local = _bound_names(node.value) if node.value is not None else set()
    seen: dict[str, None] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in local:
            seen.setdefault(sub.id, None)
    return list(seen)


def _docstrings(node: ast.AST) -> list[str]:
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(sub, clean=False)
            if doc:
                found.append(doc)
    return found


def _start_line(node: ast.stmt, lines: list[str]) -> int:
    """First line of a statement, with its decorators and the comment block just above it."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    start = min([node.lineno] + [d.lineno for d in decorators])
    while start > 1 and lines[start - 2].lstrip().startswith("#"):
        start -= 1
    return start


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    names = []
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.append(sub.id)
            elif isinstance(sub, (ast.Attribute, ast.Subscript)):
                raise CopyError(f"cannot copy an assignment to {ast.unparse(target)!r}")
    return names


def read_module(name: str, path: Path | None = None) -> Module:
    """Parse ``xentref/<name>.py`` into its definitions and imports."""
    path = path or PACKAGE / f"{name}.py"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text, filename=str(path))
    module = Module(name, path)
    where = f"xentref/{path.name}"
    for index, node in enumerate(tree.body):
        if (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            continue  # the module docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            module.future += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            _read_import_from(module, node, where)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE_NAME:
                    raise CopyError(f"{where}:{node.lineno}: use `from xentref._x import name`")
                _check_external(alias.name, where, node.lineno)
                bound = alias.asname or alias.name.split(".")[0]
                if alias.asname is None and "." in alias.name:
                    raise CopyError(f"{where}:{node.lineno}: write `import {alias.name} as ...`")
                module.external[bound] = External(alias.name, None, bound)
        elif isinstance(
            node,
            (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign),
        ):
            start = _start_line(node, lines)
            source = "\n".join(lines[start - 1 : node.end_lineno or node.lineno])
            for target in _targets(node):
                if target in module.definitions:
                    raise CopyError(f"{where}:{node.lineno}: `{target}` is defined twice")
                module.definitions[target] = Definition(
                    Symbol(name, target), start, source, _uses(node), _docstrings(node)
                )
        else:
            raise CopyError(
                f"{where}:{node.lineno}: a top-level {type(node).__name__} statement; only "
                "imports, functions, classes and assignments can be copied"
            )
    return module


def _check_external(module_name: str, where: str, lineno: int) -> None:
    top = module_name.split(".")[0]
    if top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY:
        raise CopyError(
            f"{where}:{lineno}: imports `{module_name}`, which is neither the standard library "
            f"nor one of {ALLOWED_THIRD_PARTY}: a standalone file may not need it"
        )


def _read_import_from(module: Module, node: ast.ImportFrom, where: str) -> None:
    source = node.module or ""
    if node.level:
        raise CopyError(f"{where}:{node.lineno}: relative import; write `from xentref._x import`")
    if source.split(".")[0] == PACKAGE_NAME:
        parts = source.split(".")
        if len(parts) > 2:
            raise CopyError(f"{where}:{node.lineno}: cannot resolve `from {source} import`")
        target = parts[1] if len(parts) == 2 else "__init__"
        if target not in module.imports:
            module.imports.append(target)
        for alias in node.names:
            if alias.name == "*" or (alias.asname and alias.asname != alias.name):
                raise CopyError(
                    f"{where}:{node.lineno}: `from {source} import {alias.name}"
                    f"{' as ' + alias.asname if alias.asname else ''}`: import names unrenamed"
                )
            module.internal[alias.name] = Symbol(target, alias.name)
        return
    _check_external(source, where, node.lineno)
    for alias in node.names:
        if alias.name == "*":
            raise CopyError(f"{where}:{node.lineno}: `from {source} import *`")
        bound = alias.asname or alias.name
        module.external[bound] = External(source, alias.name, bound)


# --------------------------------------------------------------------------- the package


@dataclass
class Package:
    """The modules of xentref, its public names and where each is defined."""

    modules: dict[str, Module]
    public: list[str]  # __all__, in its order
    version: str
    order: list[str]  # modules, each after the modules it imports

    def resolve(self, symbol: Symbol, seen: tuple[Symbol, ...] = ()) -> Symbol:
        """Follow imports to the module that defines a name."""
        if symbol in seen:
            raise CopyError(f"circular import of {symbol.name} through {symbol.module}")
        module = self.modules.get(symbol.module)
        if module is None:
            raise CopyError(f"no module xentref/{symbol.module}.py")
        if symbol.name in module.definitions:
            return symbol
        if symbol.name in module.internal:
            return self.resolve(module.internal[symbol.name], (*seen, symbol))
        raise CopyError(f"xentref/{symbol.module}.py has no `{symbol.name}`")

    def definition(self, symbol: Symbol) -> Definition:
        return self.modules[symbol.module].definitions[symbol.name]


def read_package(package: Path = PACKAGE) -> Package:
    """Parse every module of the package (without importing it)."""
    modules = {path.stem: read_module(path.stem, path) for path in sorted(package.glob("*.py"))}
    init = modules["__init__"]
    public = _literal(init, "__all__")
    version = _literal(init, "__version__")
    if not isinstance(public, list) or not all(isinstance(n, str) for n in public):
        raise CopyError("xentref/__init__.py: `__all__` must be a list of strings")
    if not isinstance(version, str):
        raise CopyError("xentref/__init__.py: `__version__` must be a string")
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in stack:
            raise CopyError(f"circular imports: {' -> '.join((*stack, name))}")
        for dependency in modules[name].imports:
            visit(dependency, (*stack, name))
        order.append(name)

    visit("__init__", ())
    for name in sorted(modules):  # modules nothing imports come last
        visit(name, ())
    return Package(modules, list(public), version, order)


def _literal(module: Module, name: str) -> object:
    definition = module.definitions.get(name)
    if definition is None:
        raise CopyError(f"xentref/{module.path.name} does not define `{name}`")
    node = ast.parse(definition.source).body[-1]
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        raise CopyError(f"xentref/{module.path.name}: `{name}` must be a plain assignment")
    return ast.literal_eval(node.value)


# --------------------------------------------------------------------------- one file


@dataclass
class CopyFile:
    """A generated standalone file and what went into it."""

    name: str
    text: str
    definitions: list[Symbol]  # in file order; the function itself included
    for_examples: list[str]  # public functions included only because an example imports them
    page: str | None  # site URL path of its reference entry

    @property
    def lines(self) -> int:
        """All its lines, header and docstrings included (what ``wc -l`` says)."""
        return line_count(self.text)

    @property
    def code_lines(self) -> int:
        """Lines holding code: not blank, not only a comment, not part of a docstring."""
        return code_line_count(self.text)

    @property
    def header_lines(self) -> int:
        """The comment lines at the top: what it is, how to run its examples, the licence."""
        return len(self.text.split("\n\n", 1)[0].splitlines())

    @property
    def helpers(self) -> list[Symbol]:
        """Everything in the file but the function itself."""
        return [s for s in self.definitions if s.name != self.name]


def line_count(text: str) -> int:
    """Lines of a file as ``wc -l`` counts them (every line ends with a newline)."""
    return text.count("\n")


def code_line_count(text: str) -> int:
    """Lines with code on them: blank lines, comment-only lines and docstrings not counted."""
    tree = ast.parse(text)
    docstring_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstring_lines.update(range(first.lineno, (first.end_lineno or 0) + 1))
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in skip and token.type != tokenize.ENDMARKER:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstring_lines)


def _closure(
    package: Package, roots: list[Symbol], externals: dict[External, None]
) -> list[Symbol]:
    """Every definition the roots need, following names through imports (a stable order)."""
    needed: dict[Symbol, None] = {}
    queue = list(roots)
    while queue:
        symbol = package.resolve(queue.pop(0))
        if symbol in needed:
            continue
        needed[symbol] = None
        definition = package.definition(symbol)
        module = package.modules[symbol.module]
        for name in definition.uses:
            if name in module.definitions:
                queue.append(Symbol(module.name, name))
            elif name in module.internal:
                queue.append(module.internal[name])
            elif name in module.external:
                externals.setdefault(module.external[name], None)
            elif name not in _BUILTINS:
                raise CopyError(
                    f"xentref/{module.path.name}: `{symbol.name}` uses `{name}`, which is "
                    "neither defined, imported nor a builtin there"
                )
    return list(needed)


def _example_imports(docstrings: list[str]) -> list[str]:
    names = []
    for doc in docstrings:
        for match in _EXAMPLE_IMPORT.finditer(doc):
            clause = match.group(3).split("#")[0].strip().strip("()")
            names += [part.strip() for part in clause.split(",") if part.strip()]
    return names


def reference_pages(reference: Path = REFERENCE) -> dict[str, str]:
    """Public name -> URL path of its API reference entry (``reference/stable/#xentref.x``)."""
    pages = {}
    for page in sorted(reference.glob("*.md")):
        for match in _REFERENCE_ENTRY.finditer(page.read_text(encoding="utf-8")):
            slug = "" if page.stem == "index" else f"{page.stem}/"
            pages[match.group(1)] = f"reference/{slug}#xentref.{match.group(1)}"
    return pages


def _import_lines(externals: list[External]) -> list[str]:
    """isort's layout: standard library, then NumPy; ``import x`` before ``from x import``."""

    def order(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
        return kind, name

    blocks = []
    for section in (True, False):
        chosen = [e for e in externals if e.is_stdlib() == section]
        plain = sorted({(e.module, e.alias) for e in chosen if e.name is None})
        lines = [f"import {m}" if m == a else f"import {m} as {a}" for m, a in plain]
        grouped: dict[str, set[str]] = {}
        for e in chosen:
            if e.name is not None:
                grouped.setdefault(e.module, set()).add(
                    e.name if e.alias == e.name else f"{e.name} as {e.alias}"
                )
        for module in sorted(grouped):
            names = ", ".join(sorted(grouped[module], key=order))
            line = f"from {module} import {names}"
            if len(line) > 99:
                inner = "".join(f"    {n},\n" for n in sorted(grouped[module], key=order))
                line = f"from {module} import (\n{inner})"
            lines.append(line)
        if lines:
            blocks.append("\n".join(lines))
    return blocks


def _header(name: str, version: str, page: str | None, for_examples: list[str]) -> str:
    lines = [
        f"# `{name}` from xentref {version}, in one file that needs only NumPy.",
        "# Generated by scripts/site/copy_files.py from the package's source: the function, its",
        "# docstring, and exactly the helpers, constants and functions it uses. Its examples run",
        f"# with `{DOCTEST_COMMAND.format(name=name)}`.",
    ]
    if page is not None:
        lines.append(f"# Its page on the xentref site: {page}")
    if for_examples:
        listed = ", ".join(f"`{n}`" for n in for_examples)
        lines.append(f"# Included only because the examples use them: {listed}.")
    lines += ["#", f"# SPDX-License-Identifier: MIT. {COPYRIGHT}.", "#"]
    lines += [f"# {line}" if line else "#" for line in MIT_NOTICE.splitlines()]
    return "\n".join(lines)


def generate(
    name: str, package: Package | None = None, pages: dict[str, str] | None = None
) -> CopyFile:
    """The standalone file of one public function."""
    package = package or read_package()
    pages = reference_pages() if pages is None else pages
    if name not in package.public:
        raise CopyError(f"`{name}` is not in xentref.__all__")
    init = package.modules["__init__"]
    if name not in init.internal:
        raise CopyError(f"xentref/__init__.py does not import `{name}` from a module")
    externals: dict[External, None] = {}
    roots = [init.internal[name]]
    needed = _closure(package, roots, externals)
    code_only = {s.name for s in needed}
    example_roots: set[str] = set()
    while True:  # names the examples import are needed too, with what they need
        wanted = []
        for symbol in needed:
            for imported in _example_imports(package.definition(symbol).docstrings):
                if imported not in package.public:
                    raise CopyError(
                        f"`{symbol.name}`: an example imports `{imported}` from xentref, "
                        "which is not public"
                    )
                wanted.append(init.internal[imported])
                if imported not in code_only:
                    example_roots.add(imported)
        extra = [w for w in wanted if package.resolve(w) not in needed]
        if not extra:
            break
        needed = _closure(package, [*needed, *extra], externals)
    for_examples = sorted(example_roots)

    rank = {module: i for i, module in enumerate(package.order)}
    by_name: dict[str, Symbol] = {}
    for symbol in needed:
        other = by_name.get(symbol.name)
        if other is not None:
            if package.definition(other).source != package.definition(symbol).source:
                raise CopyError(
                    f"`{name}` needs two different definitions of `{symbol.name}`, in "
                    f"xentref/{other.module}.py and xentref/{symbol.module}.py: rename one"
                )
            if (rank[other.module], other.module) <= (rank[symbol.module], symbol.module):
                continue
        by_name[symbol.name] = symbol
    for external in externals:
        if external.alias in by_name:
            raise CopyError(f"`{external.alias}` is both imported and defined in xentref")
    chosen = sorted(
        {*by_name.values()},
        key=lambda s: (rank[s.module], package.definition(s).lineno, s.name),
    )

    future = sorted({f for s in chosen for f in package.modules[s.module].future})
    parts = [_header(name, package.version, pages.get(name), for_examples)]
    if future:
        parts.append(f"from __future__ import {', '.join(future)}")
    parts += _import_lines(list(externals))
    pieces: list[str] = []
    seen_statements: set[tuple[str, int]] = set()
    current = None
    for symbol in chosen:
        definition = package.definition(symbol)
        if (symbol.module, definition.lineno) in seen_statements:
            continue  # one statement binding several needed names
        seen_statements.add((symbol.module, definition.lineno))
        source = _EXAMPLE_IMPORT.sub(rf"\g<1>{name}\g<2>\g<3>", definition.source)
        if symbol.module != current:
            current = symbol.module
            source = f"# From xentref/{symbol.module}.py\n{source}"
        pieces.append(source)
    text = "\n\n".join(parts) + "\n\n\n" + "\n\n\n".join(pieces) + "\n"
    _check(name, text)
    return CopyFile(name, text, chosen, for_examples, pages.get(name))


def _check(name: str, text: str) -> None:
    """The file must compile, import nothing but NumPy and the standard library, and define
    every module-level name its code uses (checked with the compiler's own symbol tables)."""
    where = f"generated {name}.py"
    tree = ast.parse(text, filename=f"{name}.py")
    defined = set(_BUILTINS) | {"__name__", "__file__", "__doc__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if (
                top != "__future__"
                and top not in sys.stdlib_module_names
                and (top not in ALLOWED_THIRD_PARTY)
            ):
                raise CopyError(f"{where}: imports `{module}`")
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            defined.update(_targets(node))
    if name not in defined:
        raise CopyError(f"{where}: does not define `{name}`")
    for match in _ANY_XENTREF_IMPORT.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        raise CopyError(f"{where}:{line}: still imports xentref")

    def missing(table: symtable.SymbolTable) -> list[str]:
        found = [
            f"{table.get_name()} uses `{s.get_name()}`"
            for s in table.get_symbols()
            if s.is_referenced()
            and s.is_global()
            and s.get_name() not in defined
            # (a parameter or local never is; symtable mislabels those of a function named
            # "top", the name of its module table)
            and not (s.is_parameter() or s.is_assigned() or s.is_imported())
        ]
        for child in table.get_children():
            found += missing(child)
        return found

    problems = missing(symtable.symtable(text, f"{name}.py", "exec"))
    if problems:
        raise CopyError(f"{where}: undefined names: " + "; ".join(problems))


def generate_all(names: list[str] | None = None) -> dict[str, CopyFile]:
    """The standalone file of every public function (or of `names`), by name, sorted."""
    package = read_package()
    pages = reference_pages()
    return {n: generate(n, package, pages) for n in sorted(names or package.public)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write <name>.py into")
    parser.add_argument("names", nargs="*", help="public functions (default: all of __all__)")
    args = parser.parse_args(argv)
    try:
        files = generate_all(args.names or None)
    except CopyError as error:
        print(f"copy_files: {error}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, copy in files.items():
        (args.out / f"{name}.py").write_text(copy.text, encoding="utf-8")
        helpers = ", ".join(s.name for s in copy.helpers) or "-"
        print(f"{copy.lines:5d} lines {copy.code_lines:4d} of code  {name}.py  ({helpers})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A griffe extension: docstring examples shown as code a reader can paste.

bnref's docstrings keep their examples as doctests (``>>>``), which the test
suite runs and ``help()`` shows. On the site, a doctest rendered as is would be
copied with its prompts, and a prompt pasted into Python is a SyntaxError; its
names would also be missing, since a doctest runs inside its module. So, for
the site only, each run of doctest examples in an ``Examples:`` section becomes
what every other page shows: a ``python`` fence and an ``output`` fence.

* the prompts (``>>>``, ``...``) go; the code is unchanged, except that an
  expression whose value the doctest shows becomes ``print(expression)``
  (``tests/site/test_api_examples.py`` runs every rendered example and checks that
  it prints what the output fence shows, so a value whose ``str`` differs from
  its ``repr`` fails there);
* names the example uses without defining them, which its module has (the
  function documented, a class beside it), are imported on a first line:
  ``from bnref import batch_norm`` where the package exports the name, else
  from the module itself;
* what the doctest expects to see goes, unchanged, into the ``output`` fence
  (``...`` where the doctest allowed anything, a traceback where it expects an
  exception: that example's code is left as it is, and raises);
* doctest directives (``# doctest: +ELLIPSIS``) go: they are for the tests.

Loaded by mkdocs.yml (mkdocstrings handler option ``extensions``, after
``griffe_rst_math``); nothing else imports it.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import io
import re
import textwrap
import tokenize

import griffe

SECTION = re.compile(r"^(?P<indent>[ \t]*)Examples?:[ \t]*$")
DIRECTIVE = re.compile(r"[ \t]*#[ \t]*doctest:[^\n]*$", re.MULTILINE)
QUOTED = re.compile(r"""^(['"]).*\1$""", re.DOTALL)


def _bound_names(tree: ast.AST) -> set[str]:
    """Names an example defines: assignments, imports, loop and comprehension targets."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def missing_names(code: str) -> list[str]:
    """Names ``code`` reads but neither defines nor gets from builtins, in order of use."""
    tree = ast.parse(code)
    bound = _bound_names(tree)
    seen: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                and node.id not in bound and not hasattr(builtins, node.id)
                and node.id not in seen):
            seen.append(node.id)
    return seen


def _parenthesized(code: str) -> bool:
    """Whether ``code`` is one parenthesized expression: ``(a, b)``, not ``(a), b``."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline)
              if t.type == tokenize.OP or t.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)]
    if not tokens or tokens[0].string != "(" or tokens[-1].string != ")":
        return False
    depth = 0
    for i, token in enumerate(tokens):
        depth += token.string in "([{"
        depth -= token.string in ")]}"
        if depth == 0:
            return i == len(tokens) - 1
    return False


def _shown(source: str, want: str) -> str:
    """``print(expr)  # comment`` for an expression statement; other code unchanged.

    A tuple is printed as one value, ``print((a, b))``, as the doctest showed it;
    a value the doctest showed in quotes (a string's repr) as ``print(repr(expr))``.
    A call of ``print`` itself is left alone.
    """
    source = source.rstrip("\n")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return source
    if (isinstance(tree.body, ast.Call) and isinstance(tree.body.func, ast.Name)
            and tree.body.func.id == "print"):
        return source
    comments = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT]
    lines = source.split("\n")
    comment = ""
    if comments:
        last = comments[-1]
        if len(comments) > 1 or last.start[0] != len(lines):
            return source  # comments inside a multi-line expression: leave it as it is
        lines[-1] = lines[-1][:last.start[1]].rstrip()
        comment = f"  {last.string}"
    code = "\n".join(lines)
    if QUOTED.match(want.strip()):
        return f"print(repr({code})){comment}"
    if isinstance(tree.body, ast.Tuple) and not _parenthesized(code):
        code = f"({code})"
    return f"print({code}){comment}"


def _with_imports(code: str, imports: list[str]) -> str:
    """``code`` with ``imports`` after its own leading imports."""
    if not imports:
        return code
    lines = code.split("\n")
    at = 0
    while at < len(lines) and re.match(r"(import|from)\s", lines[at]):
        at += 1
    return "\n".join(lines[:at] + imports + [""] + lines[at:])


def doctest_to_fences(text: str, importer) -> str:
    """Rewrite the doctests of one (dedented) Examples body as python + output fences.

    ``importer(names)`` returns the import lines for names the code leaves undefined.
    """
    parts = doctest.DocTestParser().parse(text)
    out: list[str] = []
    run: list[doctest.Example] = []

    def flush() -> None:
        if not run:
            return
        code = "\n".join(_shown(e.source, e.want) if e.want and e.exc_msg is None else e.source.rstrip("\n") for e in run)
        code = _with_imports(code, importer(missing_names(code)))
        want = "".join(e.want for e in run).rstrip("\n")
        out.append(f"```python\n{code}\n```\n")
        if want:
            out.append(f"\n```output\n{want}\n```\n")
        run.clear()

    for part in parts:
        if isinstance(part, doctest.Example):
            part.source = DIRECTIVE.sub("", part.source)  # "# doctest: +ELLIPSIS" is for the tests
            run.append(part)
        elif part.strip():
            flush()
            out.append(part)
        elif not run:
            out.append(part)
    flush()
    return "".join(out)


def rewrite_examples(docstring: str, importer) -> str:
    """Apply :func:`doctest_to_fences` to every ``Examples:`` section of a docstring."""
    lines = docstring.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = SECTION.match(lines[i])
        out.append(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match["indent"])
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        trailing = []
        while body and not body[-1].strip():
            trailing.append(body.pop())
        dedented = textwrap.dedent("\n".join(body))
        if ">>>" not in dedented:
            out.extend(body + trailing)
            continue
        pad = " " * (indent + 4)
        rewritten = doctest_to_fences(dedented + "\n", importer).rstrip("\n")
        out.extend(pad + line if line.strip() else "" for line in rewritten.split("\n"))
        out.extend(trailing)
    return "\n".join(out)


def _import_line(name: str, target: str) -> str:
    """The import that binds ``name`` to ``target``, as the module itself imports it."""
    if target == name:
        return f"import {name}"
    parent, _, last = target.rpartition(".")
    if last == name and parent:
        return f"from {parent} import {name}"
    return f"import {target} as {name}"


def _ours(where: griffe.Object, name: str, root: str) -> bool:
    """Whether ``where`` has a member ``name`` that belongs to our package (not ``torch``)."""
    member = where.members.get(name)
    if member is None:
        return False
    path = member.target_path if member.is_alias else member.path
    return path == root or path.startswith(root + ".")


class CopyableExamples(griffe.Extension):
    """Rewrite every docstring's doctest examples as code + output (see the module)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is None or ">>>" not in obj.docstring.value:
            return
        module = obj if obj.is_module else obj.module
        package = module.package

        def importer(names: list[str]) -> list[str]:
            from_package, from_module, lines = [], [], []
            for name in names:
                if name.startswith("_"):
                    continue
                if _ours(package, name, package.path):
                    from_package.append(name)
                elif _ours(module, name, package.path):
                    from_module.append(name)
                elif name in module.members and module.members[name].is_alias:
                    lines.append(_import_line(name, module.members[name].target_path))
            if from_package:
                lines.append(f"from {package.path} import {', '.join(from_package)}")
            if from_module:
                lines.append(f"from {module.path} import {', '.join(from_module)}")
            return lines

        obj.docstring.value = rewrite_examples(obj.docstring.value, importer)

"""Every public function and method of ``src/cellpipe`` documents its arguments and its result in numpydoc
sections: a ``Parameters`` section that names each argument (other than ``self`` / ``cls``) and, where the function
returns a value, a ``Returns`` (or, for a generator, ``Yields``) section; and none uses Google (``Args:``) or
Sphinx (``:param x:``) sections.

Ruff's numpydoc rules (D417) check the parameters a ``Parameters`` section names, but not that the section is
there; this test does.  The modules are parsed with ``ast``, not imported, so the check costs well under a
second and imports nothing heavy.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cellpipe"

# Decorators whose functions are not called by cellpipe's users: pydantic calls validators with the value of the
# field they check, and the field's own description (in the model's docstring and the generated config/README.md)
# is the documentation.
EXEMPT_DECORATORS = {
    "field_validator": "pydantic validator: pydantic calls it with the field's value; the field's description documents it",
    "model_validator": "pydantic validator: pydantic calls it on the whole model; the model's fields document it",
    "overload": "typing overload: the implementation below it carries the docstring",
}
# A property is read as an attribute: its docstring says what the value is and in which unit, and numpydoc
# documents properties like attributes (no Returns section).
PROPERTY_DECORATORS = {"property", "cached_property"}

SECTION = re.compile(r"^(?P<indent>[ \t]*)(?P<title>[A-Z][A-Za-z ]*)\n(?P=indent)-{3,}[ \t]*$", flags=re.M)
# one numpydoc entry line: ``name : type``, ``name``, ``a, b : type`` or ``*args``
ENTRY = re.compile(r"^(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?$")
# the section openings of the other two docstring styles: Google (``Args:``) and Sphinx (``:param x:``)
OTHER_STYLE = re.compile(
    r"^\s*(?:(?:Args|Arguments|Keyword Args|Returns|Yields|Raises|Attributes):\s*$|:(?:param|returns?|rtype|raises)\b)", flags=re.M
)


def sections(docstring: str) -> dict[str, str]:
    """Section title -> section body (the lines up to the next section), of a numpydoc docstring."""
    text = "\n".join(line.rstrip() for line in docstring.expandtabs().splitlines())
    found = list(SECTION.finditer(text))
    out: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        out[match.group("title").strip()] = text[match.end() : end]
    return out


def documented_names(body: str) -> set[str]:
    """The argument names that the entries of a ``Parameters`` section body name (``*args`` as ``args``)."""
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return set()
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    names: set[str] = set()
    for line in lines:
        if len(line) - len(line.lstrip()) != indent:
            continue  # a description line, indented below its entry
        match = ENTRY.match(line.strip())
        if match:
            names |= {name.strip().lstrip("*") for name in match.group("names").split(",")}
    return names


def decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The last dotted part of every decorator's name (``functools.cached_property`` -> ``cached_property``)."""
    names = set()
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Attribute):
            names.add(target.attr)
        elif isinstance(target, ast.Name):
            names.add(target.id)
    return names


def own_nodes(node: ast.AST) -> list[ast.AST]:
    """The nodes of a function body, without those of functions, lambdas and classes defined inside it."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        out.append(child)
        stack.extend(ast.iter_child_nodes(child))
    return out


def returns_value(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[bool, bool]:
    """(whether the function returns a value, whether it is a generator), from its annotation and its body.

    A function annotated ``-> None`` or ``-> NoReturn`` returns nothing; otherwise one ``return <value>`` other
    than ``return None`` in its own body counts, as does a return annotation when the body only raises (an
    abstract method)."""
    body = own_nodes(node)
    generator = any(isinstance(n, ast.Yield | ast.YieldFrom) for n in body)
    ann = node.returns
    if isinstance(ann, ast.Constant) and ann.value in (None, "None"):
        return False, generator
    if isinstance(ann, ast.Name | ast.Attribute) and ast.unparse(ann).split(".")[-1] in {"None", "NoReturn", "Never"}:
        return False, generator
    if generator:
        return True, True
    valued = any(
        isinstance(n, ast.Return) and n.value is not None and not (isinstance(n.value, ast.Constant) and n.value.value is None)
        for n in body
    )
    return valued or ann is not None, False


def arguments(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    """The argument names a docstring must describe: all but a method's ``self`` / ``cls``."""
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    if method and "staticmethod" not in decorator_names(node) and names and names[0] in {"self", "cls", "mcs"}:
        names = names[1:]
    names += [a.arg for a in args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


def public_functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """(qualified name, node, is a method) of the module's public functions and its public classes' public methods.

    Public: the name does not begin with ``_`` (dunder methods included: the class docstring documents
    ``__init__``'s arguments, and protocol methods do what the protocol says).  Functions defined inside
    functions are not part of the module's interface."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            found.append((node.name, node, False))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not item.name.startswith("_"):
                    found.append((f"{node.name}.{item.name}", item, True))
    return found


def problems(source: str) -> list[str]:
    """What the docstrings of one module's public functions lack, one line per function."""
    out = []
    for name, node, method in public_functions(ast.parse(source)):
        decorators = decorator_names(node)
        if decorators & set(EXEMPT_DECORATORS):
            continue
        docstring = ast.get_docstring(node)
        if not docstring:
            out.append(f"{name} (line {node.lineno}): no docstring")
            continue
        found = sections(docstring)
        lacks = []
        if OTHER_STYLE.search(docstring):
            lacks.append("numpydoc sections instead of Google or Sphinx ones")
        wanted = arguments(node, method)
        if wanted:
            if "Parameters" not in found:
                lacks.append("a Parameters section")
            else:
                missing = [a for a in wanted if a not in documented_names(found["Parameters"])]
                if missing:
                    lacks.append(f"Parameters entries for {', '.join(missing)}")
        value, generator = returns_value(node)
        if value and not decorators & PROPERTY_DECORATORS:
            if generator and "Yields" not in found and "Returns" not in found:
                lacks.append("a Yields section")
            elif not generator and "Returns" not in found:
                lacks.append("a Returns section")
        if lacks:
            out.append(f"{name} (line {node.lineno}): lacks {'; '.join(lacks)}")
    return out


def test_the_checker_finds_what_a_docstring_lacks() -> None:
    source = '''
def good(a, b=1, *rest, key, **extra) -> int:
    """Sum.

    Parameters
    ----------
    a, b : int
        Lengths (px).
    *rest : int
        More lengths (px).
    key : str
        Unused.
    **extra
        Unused.

    Returns
    -------
    int
        The sum (px).
    """
    return a + b


def no_section(a):
    """Say a."""
    print(a)


def missing_one(a, b) -> None:
    """Say a.

    Parameters
    ----------
    a : int
        A length (px); ``b : int`` in a description is no entry.
    """


def no_returns():
    """Say one."""
    return 1


def generates():
    """Count."""
    yield 1


def _private(a):
    return a


def google(a):
    """Say a.

    Args:
        a: A length (px).
    """


class Thing:
    """A thing."""

    def method(self, scale):
        """Scale.

        Parameters
        ----------
        scale : float
            Factor (normalized units).
        """
        return None

    @property
    def size(self) -> int:
        """The size (px)."""
        return 1

    @staticmethod
    def static(self):
        """Static, whose first argument is no instance."""

    @field_validator("x")
    @classmethod
    def check(cls, value):
        return value

    def __len__(self) -> int:
        return 1
'''
    assert problems(source) == [
        "no_section (line 24): lacks a Parameters section",
        "missing_one (line 29): lacks Parameters entries for b",
        "no_returns (line 39): lacks a Returns section",
        "generates (line 44): lacks a Yields section",
        "google (line 53): lacks numpydoc sections instead of Google or Sphinx ones; a Parameters section",
        "Thing.static (line 80): lacks a Parameters section",
    ]


def module_sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", module_sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_public_functions_document_their_parameters_and_results(path: Path) -> None:
    """Every public function and method of the module has a numpydoc Parameters section naming each argument,
    and a Returns (Yields) section where it returns (yields) a value."""
    found = problems(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(PACKAGE.parent)}: numpydoc sections missing:\n  " + "\n  ".join(found)

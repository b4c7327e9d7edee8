"""One template language everywhere: Jinja2 with undefined names as errors.

- A string that is exactly ``{{ expression }}`` evaluates to the expression's value (native).
- Any other string renders to text.
- ``when``/``until``/``over`` are bare expressions.
Each distinct source is compiled once and cached, because per-step overhead must stay tiny.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.sandbox
import yaml

_NATIVE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=10_000).rstrip("\n")


def _to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _indent_block(text: Any, width: int = 2, first: bool = True) -> str:
    pad = " " * width
    lines = str(text).splitlines()
    return "\n".join((pad + line if (first or index) and line else line) for index, line in enumerate(lines))


def make_environment() -> jinja2.Environment:
    # Sandboxed: a flow file is data, so its templates must not reach Python internals
    # (``cycler.__init__.__globals__.os`` would run host commands in a plain Environment).
    env = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        cache_size=0,  # we keep our own cache of compiled templates
    )
    env.filters.update(to_yaml=_to_yaml, to_json=_to_json, indent_block=_indent_block)
    return env


ENVIRONMENT = make_environment()
# Names Jinja itself provides (range, dict, namespace, ...): never "undefined".
JINJA_GLOBALS = frozenset(ENVIRONMENT.globals)


class TemplateError(Exception):
    """A template that does not parse, or that failed while rendering."""


def native_expression(source: str) -> str | None:
    """The expression inside a string that is exactly one ``{{ ... }}``, else None."""
    match = _NATIVE.match(source)
    if not match:
        return None
    inner = match.group("expr")
    if "{{" in inner or "}}" in inner or "{%" in source:
        return None
    return inner


@dataclass(frozen=True)
class Reference:
    """A name a template reads: its root name, the dotted chain (``inputs.problem``), its line."""

    root: str
    dotted: str
    lineno: int


def _dotted(node: jinja2.nodes.Node) -> str | None:
    if isinstance(node, jinja2.nodes.Name):
        return node.name
    if isinstance(node, jinja2.nodes.Getattr):
        base = _dotted(node.node)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
        base = _dotted(node.node)
        if base and isinstance(node.arg.value, str):
            return f"{base}.{node.arg.value}"
    return None


def _walk(node: jinja2.nodes.Node) -> Iterator[jinja2.nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def references(source: str, *, expression: bool = False) -> list[Reference]:
    """The free names a template (or bare expression) reads, with the longest dotted chain of each.

    Raises ``TemplateError`` when the source does not parse.
    """
    text = f"{{{{ {source} }}}}" if expression else source
    try:
        ast = ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(
            f"template syntax error: {error.message} (template line {error.lineno})"
        ) from None
    for node in _walk(ast):
        attribute = node.attr if isinstance(node, jinja2.nodes.Getattr) else None
        if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
            attribute = node.arg.value if isinstance(node.arg.value, str) else None
        if isinstance(node, jinja2.nodes.Filter) and node.name == "attr" and node.args:  # x|attr('__y')
            first = node.args[0]
            constant = isinstance(first, jinja2.nodes.Const) and isinstance(first.value, str)
            attribute = first.value if constant else None
        if attribute is not None and attribute.startswith("_"):
            raise TemplateError(f"'{attribute}' is not allowed: templates cannot reach names starting with "
                                f"'_' (template line {node.lineno})")
    free = jinja2.meta.find_undeclared_variables(ast)
    found: dict[str, Reference] = {}
    consumed: set[int] = set()
    for node in _walk(ast):
        if id(node) in consumed:
            continue
        if isinstance(node, jinja2.nodes.Getattr | jinja2.nodes.Getitem | jinja2.nodes.Name):
            dotted = _dotted(node)
            if dotted is None:
                continue
            # Mark the inner chain so only the longest chain of each access is kept.
            inner = node
            while isinstance(inner, jinja2.nodes.Getattr | jinja2.nodes.Getitem):
                inner = inner.node
                consumed.add(id(inner))
            root = dotted.split(".", 1)[0]
            if root in free and dotted not in found:
                found[dotted] = Reference(root, dotted, node.lineno)
    return list(found.values())


class TemplateCache:
    """Compiled templates and expressions, one compile per distinct source."""

    def __init__(self, env: jinja2.Environment | None = None) -> None:
        self.env = env or ENVIRONMENT
        self._renderers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._expressions: dict[str, Callable[..., Any]] = {}

    def renderer(self, source: str) -> Callable[[dict[str, Any]], Any]:
        cached = self._renderers.get(source)
        if cached is not None:
            return cached
        expr = native_expression(source)
        try:
            if expr is not None:
                compiled = self.env.compile_expression(expr, undefined_to_none=False)

                def render(scope: dict[str, Any], _compiled: Any = compiled) -> Any:
                    return _check_defined(_compiled(scope))
            elif "{{" in source or "{%" in source or "{#" in source:
                template = self.env.from_string(source)

                def render(scope: dict[str, Any], _template: jinja2.Template = template) -> Any:
                    return _template.render(scope)
            else:

                def render(scope: dict[str, Any], _text: str = source) -> Any:
                    return _text
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"template syntax error: {error.message}") from None
        self._renderers[source] = render
        return render

    def expression(self, source: str) -> Callable[..., Any]:
        cached = self._expressions.get(source)
        if cached is None:
            try:
                cached = self.env.compile_expression(source, undefined_to_none=False)
            except jinja2.TemplateSyntaxError as error:
                raise TemplateError(f"expression syntax error: {error.message}") from None
            self._expressions[source] = cached
        return cached

    def render(self, value: Any, scope: dict[str, Any]) -> Any:
        """Render a template value: strings are templates, lists and dicts are rendered inside."""
        try:
            return self._render(value, scope)
        except jinja2.UndefinedError as error:
            raise TemplateError(f"undefined name: {error.message}") from None
        except jinja2.TemplateError as error:
            raise TemplateError(str(error)) from None
        except TemplateError:
            raise
        except Exception as error:  # None + 1, 1 / 0, a filter given the wrong type, ...
            raise TemplateError(f"{type(error).__name__}: {error}") from None

    def _render(self, value: Any, scope: dict[str, Any]) -> Any:
        if isinstance(value, str):
            return self.renderer(value)(scope)
        if isinstance(value, dict):
            return {key: self._render(item, scope) for key, item in value.items()}
        if isinstance(value, list):
            return [self._render(item, scope) for item in value]
        return value

    def evaluate(self, source: str, scope: dict[str, Any]) -> Any:
        """Evaluate a bare expression (``when``, ``until``, ``over``)."""
        try:
            return _check_defined(self.expression(source)(scope))
        except jinja2.UndefinedError as error:
            raise TemplateError(f"undefined name in '{source}': {error.message}") from None
        except jinja2.TemplateError as error:
            raise TemplateError(f"in '{source}': {error}") from None
        except TemplateError:
            raise
        except Exception as error:
            raise TemplateError(f"in '{source}': {type(error).__name__}: {error}") from None


def _check_defined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value

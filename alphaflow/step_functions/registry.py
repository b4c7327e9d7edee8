"""The registry of step functions: the only Python a flow's ``kind: python`` steps may call.

A step function is registered by name with a decorator::

    from alphaflow.step_functions import step_function

    @step_function("mytools.count_words")
    def count_words(text: str) -> int:
        return len(text.split())

and a flow calls it by that name (``function: mytools.count_words``). A flow may call:

1. the built-in step functions: every module of the ``alphaflow.step_functions`` package;
2. those of installed packages that declare an entry point in the group ``alphaflow.step_functions``
   (the entry point's value is the module that registers them);
3. those of modules the user names: on the command line (``--functions my_module`` or
   ``--functions path/to/file.py``) or in the flow's header (``functions: [my_module, ./steps.py]``;
   a path there is relative to the flow file).

Nothing else: ``function: os:system`` is a validation error, and so is a name registered by a module
this flow did not name. Naming a module imports it, which runs its top-level code: name only modules
you trust, as you would before ``python my_module.py``.

Naming rule of the built-ins: ``<module>.<function>`` (``alphacodium.reflection`` is ``reflection`` in
``alphaflow/step_functions/alphacodium.py``); ``@step_function()`` without a name gives exactly that.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from alphaflow.errors import UserError

ENTRY_POINT_GROUP = "alphaflow.step_functions"
BUILTIN_PACKAGE = "alphaflow.step_functions"
NAME_PATTERN = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class StepFunction:
    """A registered step function: its name, the callable and the module that registered it."""

    name: str
    function: Callable[..., Any]
    module: str

    def argument_names(self) -> list[str]:
        """The names a flow can pass (keyword-capable parameters)."""
        try:
            parameters = inspect.signature(self.function).parameters.values()
        except (TypeError, ValueError):
            return []
        return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def argument_problems(self, given: Iterable[str]) -> tuple[list[str], list[str]]:
        """``(unknown, missing)``: argument names the function does not take, and required ones not given.

        A function taking ``**kwargs`` accepts any name; positional-only parameters cannot be given
        by a flow (a flow passes keyword arguments) and count as missing when they have no default.
        """
        try:
            parameters = list(inspect.signature(self.function).parameters.values())
        except (TypeError, ValueError):  # no signature to read (some builtins): accept the call
            return [], []
        given = list(given)
        keywords = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
        unknown = [] if takes_any else [name for name in given if name not in keywords]
        missing = [
            p.name
            for p in parameters
            if p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and (p.kind is p.POSITIONAL_ONLY or p.name not in given)
        ]
        return unknown, missing


_REGISTERED: dict[str, StepFunction] = {}
_REGISTERED_BY_LOAD: dict[str, set[str]] = {}  # module name -> modules that registered while it imported
_FILE_STEMS: dict[str, str] = {}  # module name of a file imported by path -> the file's stem
_builtins_loaded = False
_entry_points: dict[str, str] | None = None  # module -> "" when loaded, else the reason it failed


@overload
def step_function(name: F) -> F: ...
@overload
def step_function(name: str | None = None) -> Callable[[F], F]: ...


def step_function(name: str | Callable[..., Any] | None = None) -> Any:
    """Register a function (sync or async) as a step function called ``name``.

    Without a name, the name is ``<last part of the module>.<function name>`` (for a file imported by
    path, ``<file stem>.<function name>``). Raises ``UserError``
    when the name is malformed or already taken by another function.
    """

    def register(function: F) -> F:
        module = getattr(function, "__module__", None) or "__main__"
        short = _FILE_STEMS.get(module) or module.rsplit(".", 1)[-1]
        chosen = name if isinstance(name, str) else f"{short}.{function.__name__}"
        if not NAME_PATTERN.match(chosen):
            raise UserError(
                f"step function name {chosen!r} ({module}.{function.__name__}) must be dotted "
                "identifiers, like 'mytools.count_words'"
            )
        previous = _REGISTERED.get(chosen)
        if previous is not None and _qualified(previous.function) != _qualified(function):
            raise UserError(
                f"step function {chosen!r} is registered twice: by "
                f"{_qualified(previous.function)} and by {_qualified(function)}"
            )
        _REGISTERED[chosen] = StepFunction(chosen, function, module)
        return function

    if callable(name):  # used bare: @step_function
        function, name = name, None
        return register(function)
    return register


def _qualified(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"


class FunctionSourceError(Exception):
    """A module named by ``--functions`` or ``functions:`` could not be imported; says why."""


def import_functions_module(spec: str, relative_to: Path | None = None) -> str:
    """Import the module ``spec`` names (a module name, or a ``.py`` file path) and return its module
    name; a relative path is taken from ``relative_to`` (the flow's folder) or the working directory.
    Raises ``FunctionSourceError``."""
    spec = spec.strip()
    if not spec:
        raise FunctionSourceError("empty module name")
    before = set(_modules_registered())
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        module_name = _import_file(Path(spec).expanduser(), relative_to)
    else:
        module_name = spec
        try:
            importlib.import_module(spec)
        except ModuleNotFoundError as error:
            # `--functions my_module` beside the flow (or in the working directory), as `python -m` finds it
            beside = (relative_to or Path.cwd()) / f"{spec}.py"
            if error.name != spec or "." in spec or not beside.is_file():
                raise FunctionSourceError(f"cannot import module '{spec}': {error}") from None
            module_name = _import_file(beside, None)
        except ImportError as error:
            raise FunctionSourceError(f"cannot import module '{spec}': {error}") from None
        except Exception as error:  # a module that fails while importing
            raise FunctionSourceError(f"importing '{spec}' failed: {type(error).__name__}: {error}") from None
    # modules that registered step functions while this one was first imported count as named by it
    _REGISTERED_BY_LOAD.setdefault(module_name, {module_name}).update(set(_modules_registered()) - before)
    return module_name


def _import_file(path: Path, relative_to: Path | None) -> str:
    if not path.is_absolute():
        path = (relative_to or Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise FunctionSourceError(f"no such file: {path}")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    for name, module in list(sys.modules.items()):  # already imported by its module name
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == path:
            return name
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"alphaflow_user_functions.{stem}_{digest}"
    _FILE_STEMS[module_name] = stem
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise FunctionSourceError(f"{path} is not a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise FunctionSourceError(f"importing {path} failed: {type(error).__name__}: {error}") from None
    return module_name


def _modules_registered() -> Iterable[str]:
    return (entry.module for entry in _REGISTERED.values())


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}")
    _builtins_loaded = True


def _load_entry_points() -> dict[str, str]:
    global _entry_points
    if _entry_points is None:
        from importlib.metadata import entry_points

        _entry_points = {}
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                _entry_points[import_functions_module(entry.module)] = ""
            except FunctionSourceError as error:
                _entry_points[entry.module] = f"entry point '{entry.name}' ({entry.value}): {error}"
    return _entry_points


class StepFunctions:
    """The step functions one flow may call: built-ins, entry points, and the modules it names.

    ``modules`` are module names already imported with ``import_functions_module`` (from the command
    line and the flow's header).
    """

    def __init__(self, modules: Sequence[str] = ()) -> None:
        _load_builtins()
        plugins = _load_entry_points()
        self.broken = [reason for reason in plugins.values() if reason]
        allowed: set[str] = set()
        for module in [*(m for m, reason in plugins.items() if not reason), *modules]:
            allowed |= _REGISTERED_BY_LOAD.get(module, {module})
        self._allowed = allowed

    def _visible(self, entry: StepFunction) -> bool:
        return entry.module.startswith(BUILTIN_PACKAGE + ".") or entry.module in self._allowed

    def get(self, name: str) -> StepFunction | None:
        entry = _REGISTERED.get(name)
        return entry if entry is not None and self._visible(entry) else None

    def names(self) -> list[str]:
        return sorted(name for name, entry in _REGISTERED.items() if self._visible(entry))

    def not_found(self, name: str) -> str:
        """Why ``name`` cannot be called, for a validation message."""
        import difflib

        if ":" in name or not NAME_PATTERN.match(name):
            why = (
                f"'{name}' is not a registered step function (a flow calls step functions by their "
                "registered name, like 'alphacodium.reflection', never module:function)"
            )
        elif name in _REGISTERED:
            module = _REGISTERED[name].module
            why = (
                f"step function '{name}' is registered by module '{module}', which this flow does not "
                f"name: add it to the flow's `functions:` list or pass --functions {module}"
            )
            return why
        else:
            why = f"unknown step function '{name}'"
            close = difflib.get_close_matches(name, self.names(), n=1)
            if close:
                return f"{why} (did you mean '{close[0]}'?)"
        hint = "; register your own with @step_function in a module named by `functions:` or --functions"
        broken = f" (not loaded: {'; '.join(self.broken)})" if self.broken else ""
        return why + hint + broken


def load_cli_modules(specs: Sequence[str]) -> list[str]:
    """Import the modules given with ``--functions`` (relative paths from the working directory);
    a one-line ``UserError`` naming the flag when one cannot be imported."""
    names = []
    for spec in specs:
        try:
            names.append(import_functions_module(spec))
        except FunctionSourceError as error:
            raise UserError(f"--functions {spec}: {error}") from None
    return names

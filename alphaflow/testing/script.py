"""The script a scripted model answers from: rules that match requests, responses and faults.

A script is a YAML file (for offline dry runs) or Python objects (for tests). Rules are tried in
order; the first whose conditions all hold answers. See ``docs/models.md`` for the format.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alphaflow.errors import UserError

MALFORMED_KINDS = ("invalid_json", "truncated", "no_choices")


@dataclass
class ScriptedRequest:
    """What a callable response sees: one chat completion request (and which choice it produces)."""

    messages: list[dict[str, Any]]
    model: str
    step: str | None
    body: dict[str, Any]
    choice_index: int = 0  # 0..n-1 within this request
    rule_call: int = 0  # how many answers this rule gave before this one

    @property
    def last_user(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return ""

    @property
    def all_text(self) -> str:
        return "\n".join(message_text(message) for message in self.messages)


ResponseFn = Callable[[ScriptedRequest], str]


@dataclass
class Fault:
    """Something that goes wrong instead of (or before) the answer."""

    status: int | None = None  # answer with this HTTP status (429, 500, 503, ...)
    retry_after: float | None = None  # seconds, sent as Retry-After with the status
    hang: bool = False  # never answer (the client times out); released when the server stops
    hang_s: float = 60.0
    malformed: str | None = None  # "invalid_json" | "truncated" | "no_choices"
    latency_s: float = 0.0  # extra delay before this fault (or answer)
    times: int | None = None  # only for the first N matching requests (None: always)

    def __post_init__(self) -> None:
        if self.malformed is not None and self.malformed not in MALFORMED_KINDS:
            raise ValueError(f"malformed must be one of {', '.join(MALFORMED_KINDS)}, not {self.malformed!r}")
        if self.status is not None and not 400 <= int(self.status) <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {self.status!r}")


@dataclass
class Rule:
    """One rule: conditions (all must hold), then the answer and optional faults.

    ``step`` and ``model`` are glob patterns (``iterate*``); ``contains``/``regex`` look at the last
    user message, ``any_contains``/``any_regex`` at every message. ``response`` is a text or a
    callable; ``responses`` are used in turn (one per choice; the last one repeats).
    """

    response: str | ResponseFn | None = None
    responses: Sequence[str] | None = None
    step: str | None = None
    model: str | None = None
    contains: str | None = None
    regex: str | None = None
    any_contains: str | None = None
    any_regex: str | None = None
    latency_s: float = 0.0
    fault: Fault | None = None
    faults: Sequence[Fault | None] | None = None  # one per matching request, in turn, then none
    top_logprobs: dict[str, float] | None = None  # alternatives for the first token, token -> logprob
    # sent with every choice of this rule: "length" plays an answer cut at max_tokens
    finish_reason: str = "stop"
    name: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _answers: int = field(default=0, repr=False, compare=False)
    _hits: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.response is None) == (self.responses is None):
            raise ValueError("a rule needs exactly one of 'response' or 'responses'")
        if self.responses is not None:
            if isinstance(self.responses, str) or not self.responses:
                raise ValueError("'responses' must be a non-empty list of texts")
            self.responses = [str(text) for text in self.responses]
        if isinstance(self.fault, dict):
            self.fault = Fault(**self.fault)
        if self.faults is not None:
            self.faults = [Fault(**f) if isinstance(f, dict) else f for f in self.faults]
        if self.top_logprobs is not None:
            if not isinstance(self.top_logprobs, dict) or not all(
                    isinstance(token, str) and isinstance(logprob, int | float) and logprob <= 0
                    for token, logprob in self.top_logprobs.items()):
                raise ValueError("top_logprobs must map tokens to logprobs <= 0, e.g. {'4': -0.2, '5': -1.9}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, not {self.latency_s}")
        if not isinstance(self.finish_reason, str) or not self.finish_reason:
            raise ValueError(f"finish_reason must be a word (stop, length, ...), not {self.finish_reason!r}")
        self._regex = re.compile(self.regex) if self.regex else None
        self._any_regex = re.compile(self.any_regex) if self.any_regex else None

    def label(self, index: int) -> str:
        return self.name or f"rules[{index}]"

    def matches(self, request: ScriptedRequest) -> bool:
        if self.step is not None and not fnmatch.fnmatchcase(request.step or "", self.step):
            return False
        if self.model is not None and not fnmatch.fnmatchcase(request.model, self.model):
            return False
        last_user = request.last_user
        if self.contains is not None and self.contains not in last_user:
            return False
        if self._regex is not None and not self._regex.search(last_user):
            return False
        if self.any_contains is not None and self.any_contains not in request.all_text:
            return False
        if self._any_regex is not None and not self._any_regex.search(request.all_text):
            return False
        return True

    def next_fault(self) -> Fault | None:
        """The fault for this matching request (advances the rule's request counter)."""
        with self._lock:
            hit = self._hits
            self._hits += 1
        if self.faults is not None:
            return self.faults[hit] if hit < len(self.faults) else None
        if self.fault is not None and (self.fault.times is None or hit < self.fault.times):
            return self.fault
        return None

    def next_text(self, request: ScriptedRequest) -> str:
        """The next answer text (advances the per-rule answer counter)."""
        with self._lock:
            call = self._answers
            self._answers += 1
        if self.responses is not None:
            return self.responses[min(call, len(self.responses) - 1)]
        if callable(self.response):
            request.rule_call = call
            return str(self.response(request))
        return str(self.response)


@dataclass
class Script:
    rules: list[Rule]
    default: str | None = None  # answer when no rule matches; None: a 400 error naming the request
    models: list[str] = field(default_factory=lambda: ["scripted"])  # what GET /v1/models lists
    source: str = "<python>"

    def find(self, request: ScriptedRequest) -> tuple[int, Rule] | None:
        for index, rule in enumerate(self.rules):
            if rule.matches(request):
                return index, rule
        return None


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message (string content, or the text parts of a list content)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def as_script(value: Script | Sequence[Rule | dict[str, Any]] | dict[str, Any] | str | Path) -> Script:
    """Accept a Script, a list of rules (Rule or dicts), a script dict, or a YAML path."""
    if isinstance(value, Script):
        return value
    if isinstance(value, str | Path):
        return load_script(value)
    if isinstance(value, dict):
        return _script_from_dict(value, source="<python>", lines={})
    return Script(rules=[rule if isinstance(rule, Rule) else _rule_from_dict(rule, "<python>", i, {})
                         for i, rule in enumerate(value)])


# --- YAML ---------------------------------------------------------------------------------------

_RULE_KEYS = {f for f in Rule.__dataclass_fields__ if not f.startswith("_")}
_FAULT_KEYS = set(Fault.__dataclass_fields__)
_TOP_KEYS = {"rules", "default", "models"}


def load_script(path: str | Path) -> Script:
    """Parse a YAML script; mistakes raise a one-line UserError naming ``file:line`` and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"{path}: cannot read the script: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: invalid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: a script is a mapping with a 'rules' list")
    return _script_from_dict(data, source=str(path), lines=_rule_lines(node))


def _rule_lines(node: yaml.Node | None) -> dict[str, int]:
    """Line numbers of the top-level keys and of each rule (``rules[3]``), for error messages."""
    lines: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key, value in node.value:
        lines[str(key.value)] = key.start_mark.line + 1
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            for index, item in enumerate(value.value):
                lines[f"rules[{index}]"] = item.start_mark.line + 1
    return lines


def _script_from_dict(data: dict[str, Any], source: str, lines: dict[str, int]) -> Script:
    def where(key: str) -> str:
        return f"{source}:{lines[key]}" if key in lines else source

    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise UserError(f"{where(unknown[0])}: unknown key {unknown[0]!r} (expected: rules, default, models)")
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        raise UserError(f"{where('rules')}: 'rules' must be a list of rules")
    if not rules and data.get("default") is None:
        raise UserError(f"{where('rules')}: a script needs 'rules' (a list) or a 'default' answer")
    default = data.get("default")
    if default is not None and not isinstance(default, str | int | float):
        raise UserError(f"{where('default')}: 'default' must be a text")
    models = data.get("models", ["scripted"])
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise UserError(f"{where('models')}: 'models' must be a list of names")
    return Script(
        rules=[_rule_from_dict(rule, source, index, lines) for index, rule in enumerate(rules)],
        default=None if default is None else str(default),
        models=models,
        source=source,
    )


def _rule_from_dict(raw: Any, source: str, index: int, lines: dict[str, int]) -> Rule:
    key = f"rules[{index}]"
    where = f"{source}:{lines[key]}" if key in lines else source
    if not isinstance(raw, dict):
        raise UserError(f"{where}: {key} must be a mapping (for example {{step: reflect, response: ...}})")
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise UserError(f"{where}: {key}.{unknown[0]}: unknown key (expected one of: "
                        f"{', '.join(sorted(_RULE_KEYS))})")
    values = dict(raw)
    try:
        for fault_key in ("fault",):
            if values.get(fault_key) is not None:
                values[fault_key] = _fault(values[fault_key], f"{key}.{fault_key}")
        if values.get("faults") is not None:
            if not isinstance(values["faults"], list):
                raise ValueError(f"{key}.faults must be a list (null items: no fault that time)")
            values["faults"] = [None if f is None else _fault(f, f"{key}.faults[{i}]")
                                for i, f in enumerate(values["faults"])]
        for text_key in ("response",):
            if values.get(text_key) is not None and not isinstance(values[text_key], str):
                values[text_key] = str(values[text_key])
        if "latency_s" in values:
            values["latency_s"] = _number(values["latency_s"], f"{key}.latency_s")
        return Rule(**values)
    except re.error as error:
        raise UserError(f"{where}: {key}: invalid regex: {error}") from None
    except (TypeError, ValueError) as error:
        message = str(error) if str(error).startswith(key) else f"{key}: {error}"
        raise UserError(f"{where}: {message}") from None


def _fault(raw: Any, key: str) -> Fault:
    if not isinstance(raw, dict):
        raise ValueError(f"{key} must be a mapping such as {{status: 429, retry_after: 1}}")
    unknown = sorted(set(raw) - _FAULT_KEYS)
    if unknown:
        expected = ", ".join(sorted(_FAULT_KEYS))
        raise ValueError(f"{key}.{unknown[0]}: unknown key (expected one of: {expected})")
    numeric = ("status", "retry_after", "hang_s", "latency_s", "times")
    numbers = {name: _number(raw[name], f"{key}.{name}") for name in numeric if raw.get(name) is not None}
    return Fault(**{**raw, **numbers})


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, not {value!r}")
    return value

"""The gate's config file (``alphaflow-ci.yaml``): named checks and their requirements.

Validated like flows: pydantic models, and every mistake reported as ``file:line:col path: message``
through the engine's YAML position map (``alphaflow.engine.positions``). Relative paths in the file
(problems, data, flows, ``scripted:`` scripts) are resolved against the config file's folder.

    model: openai/gpt-4o-mini          # default model of every check (--model wins)
    checks:
      - name: examples
        kind: solve                    # solve | bench | eval | run
        problems: [examples/problems/*.md]
        flow: direct
        samples: 2
        require: ["pass@1 >= 0.5", {solved: all}]
        repeat: 3                      # run the check 3 times ...
        min_pass: 2                    # ... it holds when 2 of the 3 runs meet every requirement
        max_drop: 0.1                  # fail when a metric fell more than this below --baseline
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from alphaflow.ci.requirements import Requirement, parse_requirement
from alphaflow.engine.positions import (
    Position,
    SourceMap,
    YamlSyntaxError,
    format_path,
    load_with_positions,
    schema_error_message,
)
from alphaflow.errors import UserError

NAME_PATTERN = r"^[A-Za-z0-9][\w.-]*$"
CHECK_KINDS = ("solve", "bench", "eval", "run")
EVAL_METRICS = {"rubric": "mean_score", "pairwise": "win_rate", "reference": "accuracy"}


class ConfigError(UserError):
    """One or more config mistakes, each ``file:line:col path: message`` (exit 2)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    require: list[Any] = Field(min_length=1)
    repeat: Annotated[int, Field(ge=1, le=100)] = 1
    min_pass: Annotated[int, Field(ge=1)] | None = None
    max_drop: Annotated[float, Field(ge=0)] | None = None
    model: str | None = None
    api_base: str | None = None
    max_cost: Annotated[float, Field(gt=0)] | None = None
    set: dict[str, Any] = {}  # extra flow inputs, like --set KEY=VALUE

    @model_validator(mode="after")
    def _min_pass_within_repeat(self) -> _Check:
        if self.min_pass is not None and self.min_pass > self.repeat:
            raise ValueError(f"min_pass {self.min_pass} is more than repeat {self.repeat}")
        return self

    @property
    def needed_passes(self) -> int:
        return self.min_pass or self.repeat

    def requirements(self) -> list[Requirement]:
        return [parse_requirement(raw, self.kind) for raw in self.require]  # type: ignore[attr-defined]


def _requirements(kind: str) -> Any:
    """A ``require`` list type whose items must parse for a ``kind`` check (errors name the item)."""

    def check(raw: Any) -> Any:
        parse_requirement(raw, kind)  # raises ValueError -> a positioned config error
        return raw

    return Annotated[list[Annotated[Any, AfterValidator(check)]], Field(min_length=1)]


SolveRequirements = _requirements("solve")
BenchRequirements = _requirements("bench")
EvalRequirements = _requirements("eval")
RunRequirements = _requirements("run")


class SolveCheck(_Check):
    """Problem files (``.md``/``.txt`` statements, ``.yaml``/``.json`` problems) or globs, one flow."""

    kind: Literal["solve"]
    problems: list[str] = Field(min_length=1)
    flow: str = "direct"
    samples: Annotated[int, Field(ge=1, le=1000)] = 1
    language: Literal["python", "cpp"] = "python"
    require: SolveRequirements


class BenchCheck(_Check):
    """A CodeContests slice: ``data`` (FILE.jsonl, a dataset directory, hf:...), ``limit`` problems."""

    kind: Literal["bench"]
    data: str
    flow: str = "direct"
    samples: Annotated[int, Field(ge=1, le=1000)] = 1
    limit: Annotated[int, Field(ge=1)] | None = None
    split: str | None = None
    names: list[str] = []
    language: Literal["python", "cpp"] = "python"
    require: BenchRequirements


class EvalCheck(_Check):
    """An LLM-as-a-judge evaluation: ``eval`` is rubric, pairwise, reference or a flow file."""

    kind: Literal["eval"]
    eval: str
    data: str
    judges: list[str] = []  # default: the check's model judges
    require: EvalRequirements

    @model_validator(mode="after")
    def _metric_of_the_eval(self) -> EvalCheck:
        expected = EVAL_METRICS.get(self.eval)
        for raw in self.require:
            metric = parse_requirement(raw, "eval").metric
            if expected and metric in EVAL_METRICS.values() and metric != expected:
                raise ValueError(f"{self.eval} reports {expected}, not {metric}")
        return self


class RunCheck(_Check):
    """Any flow with ``inputs``; ``expect`` is an expression over ``outputs`` that must be true."""

    kind: Literal["run"]
    flow: str
    inputs: dict[str, Any] = {}
    expect: str
    require: RunRequirements

    @field_validator("expect")
    @classmethod
    def _expression_compiles(cls, value: str) -> str:
        import jinja2

        from alphaflow.engine.templating import make_environment

        try:
            make_environment().compile_expression(value)
        except jinja2.TemplateSyntaxError as error:
            raise ValueError(f"expression syntax error: {error.message}") from None
        return value


Check = Annotated[SolveCheck | BenchCheck | EvalCheck | RunCheck, Field(discriminator="kind")]


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    api_base: str | None = None
    sandbox: Literal["auto", "docker", "local"] = "auto"
    concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    checks: list[Check] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> GateConfig:
        seen: set[str] = set()
        for check in self.checks:
            if check.name in seen:
                raise ValueError(f"two checks are named '{check.name}'")
            seen.add(check.name)
        return self


_MODELS: dict[str, type[BaseModel]] = {
    "solve": SolveCheck,
    "bench": BenchCheck,
    "eval": EvalCheck,
    "run": RunCheck,
}


class LoadedConfig:
    """A validated config and where it came from (relative paths resolve against ``base``)."""

    def __init__(self, path: Path, config: GateConfig, source_map: SourceMap | None = None) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.config = config
        self.source_map = source_map or SourceMap()

    def check_line(self, index: int) -> int:
        """The line of the config where check ``index`` starts (for annotations)."""
        return self.source_map.value(("checks", index)).line

    def resolve(self, relative: str) -> str:
        """A path from the config, made absolute against the config's folder (``~`` expanded)."""
        path = Path(relative).expanduser()
        return str(path if path.is_absolute() else self.base / path)

    def resolve_model(self, model: str | None) -> str | None:
        if model and model.startswith("scripted:"):
            return "scripted:" + self.resolve(model.removeprefix("scripted:"))
        return model

    def problem_files(self, patterns: list[str]) -> list[str]:
        """Expand the globs of a solve check; a pattern that matches nothing is a ``UserError``."""
        files: list[str] = []
        for pattern in patterns:
            matched = sorted(glob.glob(self.resolve(pattern), recursive=True))
            matched = [m for m in matched if Path(m).is_file()]
            if not matched:
                raise UserError(
                    f"{self.path}: problems: {pattern!r} matches no file (relative to {self.base})"
                )
            files.extend(m for m in matched if m not in files)
        return files


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a gate config; raise ``ConfigError`` listing ``file:line:col`` problems."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--config {path}: cannot read it: {error}") from None
    try:
        data, source_map = load_with_positions(text)
    except YamlSyntaxError as error:
        raise ConfigError([f"{path}:{error.position.line}:{error.position.col} {error.message}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1:1 the config must be a mapping with a 'checks' list"])
    try:
        config = GateConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_problems(error, data, source_map, str(path))) from None
    loaded = LoadedConfig(path, config, source_map)
    problems = _missing_files(loaded)
    if problems:  # found before any check runs (and spends), each with its place in the config
        raise ConfigError(problems)
    return loaded


def _missing_files(loaded: LoadedConfig) -> list[str]:
    """Files a check names that do not exist: eval flows and data, bench data, solve problem globs."""
    problems: list[str] = []

    def where(index: int, key: str) -> str:
        position = loaded.source_map.value(("checks", index, key))
        return f"{loaded.path}:{position.line}:{position.col} checks[{index}].{key}: "

    for index, check in enumerate(loaded.config.checks):
        if isinstance(check, EvalCheck):
            if check.eval not in EVAL_METRICS and not Path(loaded.resolve(check.eval)).is_file():
                known = ", ".join(EVAL_METRICS)
                what = f"'{check.eval}' is neither a built-in eval ({known}) nor a flow file"
                problems.append(where(index, "eval") + what)
            if not Path(loaded.resolve(check.data)).is_file():
                problems.append(where(index, "data") + f"no such file: {loaded.resolve(check.data)}")
        elif isinstance(check, BenchCheck) and not check.data.startswith(("hf:", "codecontests")):
            local = loaded.resolve(check.data)
            if not Path(local).exists():
                problems.append(where(index, "data") + f"no such file or folder: {local}")
        elif isinstance(check, SolveCheck):
            for pattern in check.problems:
                if not glob.glob(loaded.resolve(pattern), recursive=True):
                    problems.append(where(index, "problems") + f"{pattern!r} matches no file")
    return problems


def _problems(error: ValidationError, data: Any, source_map: SourceMap, file: str) -> list[str]:
    problems: list[str] = []
    for item in error.errors(include_url=False):
        yaml_path, missing = _data_path(item["loc"], data)
        kind = item["type"]
        if kind == "missing" or missing:
            position = source_map.value(yaml_path[:-1])
        elif kind == "extra_forbidden":
            position = source_map.key(yaml_path)
        elif kind == "union_tag_invalid":
            yaml_path = (*yaml_path, "kind")
            position = source_map.value(yaml_path)
        else:
            position = source_map.value(yaml_path)
        line = _where(file, position, yaml_path) + _message(item, yaml_path, data)
        if line not in problems:
            problems.append(line)
    return problems


def _where(file: str, position: Position, yaml_path: tuple[Any, ...]) -> str:
    where = f"{file}:{position.line}:{position.col}"
    return f"{where} {format_path(yaml_path)}: " if yaml_path else f"{where} "


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[tuple[Any, ...], bool]:
    """Map a pydantic location onto the YAML path (dropping the discriminator's tag)."""
    path: list[Any] = []
    current = data
    after_index = False
    for part in loc:
        tag = after_index and isinstance(current, dict) and current.get("kind") == part
        after_index = isinstance(current, list)
        if tag:  # a check's discriminator (its kind) comes right after its index; "eval" is also a key
            continue
        if isinstance(current, dict):
            if part in current:
                path.append(part)
                current = current[part]
            elif current.get("kind") == part:
                continue
            else:
                path.append(part)
                return tuple(path), True
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            path.append(part)
            current = current[part]
        else:
            break
    return tuple(path), False


def _message(item: dict[str, Any], yaml_path: tuple[Any, ...], data: Any) -> str:
    def allowed() -> list[str]:
        model = _model_at(yaml_path[:-1], data)
        return list(model.model_fields) if model else []

    shared = schema_error_message(
        item, str(yaml_path[-1]) if yaml_path else "", allowed, "check", CHECK_KINDS
    )
    if shared is not None:
        return shared
    kind = item["type"]
    if kind == "string_pattern_mismatch" and yaml_path and yaml_path[-1] == "name":
        return f"'{item['input']}' is not a valid check name (letters, digits, _ . -)"
    return str(item["msg"]).removeprefix("Value error, ")


def _model_at(path: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    if path == ():
        return GateConfig
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, dict) and len(path) == 2 and path[0] == "checks":
        return _MODELS.get(str(node.get("kind")))
    return None

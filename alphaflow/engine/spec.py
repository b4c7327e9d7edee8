"""The flow format as pydantic models (see docs/flows.md). Unknown keys are errors everywhere."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
INPUT_TYPES = ("string", "integer", "number", "boolean", "list", "object", "any")
STEP_KINDS = ("llm", "sandbox", "python", "loop", "map", "flow")


def _must_be_template(text: str) -> str:
    if "{{" not in text:
        raise ValueError(f"expected a number or a '{{{{ template }}}}', got '{text}'")
    return text


# A number given directly, or a template that renders to one (checked when the step runs).
Template = Annotated[str, AfterValidator(_must_be_template)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retry(Strict):
    attempts: int = Field(3, ge=1, le=100)
    backoff_s: float = Field(1.0, ge=0)


class StepBase(Strict):
    id: str = Field(pattern=IDENTIFIER)
    when: str | None = None
    retry: Retry | None = None
    on_error: Literal["fail", "continue"] = "fail"
    description: str | None = None


class OutputFormat(Strict):
    format: Literal["text", "code", "yaml"] = "text"
    language: str | None = None  # for `code`: a template
    keys: list[str] | None = None  # for `yaml`: the keys the answer must have

    @model_validator(mode="after")
    def _fits_format(self) -> OutputFormat:
        if self.language is not None and self.format != "code":
            raise ValueError("`language` only applies to format: code")
        if self.keys is not None and self.format != "yaml":
            raise ValueError("`keys` only applies to format: yaml")
        return self


class LlmStep(StepBase):
    kind: Literal["llm"]
    model: str | None = None
    system: str | None = None
    user: str | None = None
    prompt_file: str | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | Template | None = None
    max_tokens: Annotated[int, Field(ge=1)] | Template | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | Template | None = None
    samples: Annotated[int, Field(ge=1, le=1024)] | Template = 1
    output: OutputFormat = OutputFormat()
    repair_attempts: int = Field(2, ge=0, le=10)
    logprobs: bool | Annotated[int, Field(ge=0, le=20)] = False  # true, or how many top alternatives

    @model_validator(mode="after")
    def _one_user_prompt(self) -> LlmStep:
        if (self.user is None) == (self.prompt_file is None):
            raise ValueError("give exactly one of `user` or `prompt_file`")
        return self


class SandboxLimits(Strict):
    time_s: float | str | None = None
    memory_bytes: int | str | None = None


class SandboxStep(StepBase):
    kind: Literal["sandbox"]
    code: str
    language: str = "python"
    tests: str | list[Any]
    limits: SandboxLimits | None = None
    stop_on_first_failure: bool | str = False


class PythonStep(StepBase):
    kind: Literal["python"]
    function: str  # a registered step function's name (alphaflow.step_functions); checked in validation
    args: dict[str, Any] = {}


class LoopStep(StepBase):
    kind: Literal["loop"]
    max_iterations: Annotated[int, Field(ge=1, le=100_000)] | Template
    state: dict[str, Any] | str = {}  # a mapping of templates, or one template yielding a mapping
    until: str | None = None
    steps: list[Step] = Field(min_length=1)
    update: dict[str, Any] | str = {}  # a mapping merges into the state; a template replaces it


class MapStep(StepBase):
    kind: Literal["map"]
    over: str | None = None
    count: Annotated[int, Field(ge=0)] | str | None = None  # a number or a bare expression
    as_: str = Field("item", alias="as", pattern=IDENTIFIER)
    concurrency: Annotated[int, Field(ge=1, le=100_000)] | Template = 8
    steps: list[Step] = Field(min_length=1)
    result: Any = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _over_or_count(self) -> MapStep:
        if (self.over is None) == (self.count is None):
            raise ValueError("give exactly one of `over` or `count`")
        return self


class FlowStep(StepBase):
    kind: Literal["flow"]
    flow: str
    inputs: dict[str, Any] = {}


Step = Annotated[
    LlmStep | SandboxStep | PythonStep | LoopStep | MapStep | FlowStep, Field(discriminator="kind")
]
LoopStep.model_rebuild()
MapStep.model_rebuild()


class InputSpec(Strict):
    type: Literal["string", "integer", "number", "boolean", "list", "object", "any"] = "any"
    default: Any = None
    description: str | None = None
    required: bool = True  # set from the absence of `default` (not a YAML key)

    @model_validator(mode="before")
    @classmethod
    def _required_without_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "required" in data:
                raise ValueError("unknown key 'required' (an input without `default` is required)")
            data = {**data, "required": "default" not in data}
        return data


class FlowSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
    description: str = ""
    model: str | None = None
    functions: list[str] = []  # modules (names or .py paths) whose step functions this flow calls
    inputs: dict[str, InputSpec] = {}
    steps: list[Step] = Field(min_length=1)
    outputs: dict[str, Any] = {}

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, inputs: dict[str, InputSpec]) -> dict[str, InputSpec]:
        import re

        for name in inputs:
            if not re.match(IDENTIFIER, name):
                raise ValueError(f"input name '{name}' is not an identifier")
        return inputs


AnyStep = LlmStep | SandboxStep | PythonStep | LoopStep | MapStep | FlowStep


def body_of(step: AnyStep) -> list[AnyStep]:
    return list(step.steps) if isinstance(step, LoopStep | MapStep) else []

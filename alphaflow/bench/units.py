"""The unit of benchmark work: one problem x one sample index, self-contained and serialisable.

A ``Unit`` carries everything needed to run it elsewhere (a data reference instead of the problem
itself, the flow path, the sample index, the model settings), so an executor can later ship units to
Ray workers instead of local asyncio tasks. ``Unit.key`` identifies its result in the results store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from alphaflow.bench.datasets import DataSource

GOLD_FLOW = "gold"  # judge the dataset's reference solutions instead of running a flow


@dataclass(frozen=True)
class ModelSettings:
    model: str | None = None
    api_base: str | None = None
    max_cost_usd: float | None = None
    cache_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Unit:
    problem: str
    data: DataSource
    flow: str  # a flow file path, or GOLD_FLOW
    sample_index: int
    model: ModelSettings = field(default_factory=ModelSettings)
    language: str = "python"
    flow_inputs: dict[str, Any] = field(default_factory=dict)  # extra flow inputs (e.g. --set k=v)

    @property
    def key(self) -> str:
        return unit_key(self.problem, self.sample_index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "data": self.data.to_dict(),
            "flow": self.flow,
            "sample_index": self.sample_index,
            "model": self.model.to_dict(),
            "language": self.language,
            "flow_inputs": dict(self.flow_inputs),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Unit:
        return cls(
            problem=data["problem"],
            data=DataSource.from_dict(data["data"]),
            flow=data["flow"],
            sample_index=int(data["sample_index"]),
            model=ModelSettings(**data.get("model", {})),
            language=data.get("language", "python"),
            flow_inputs=dict(data.get("flow_inputs") or {}),
        )


def unit_key(problem: str, sample_index: int) -> str:
    return f"{problem}#{sample_index}"

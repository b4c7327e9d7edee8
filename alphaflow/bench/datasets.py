"""Where benchmark problems come from: Hugging Face, a JSON-lines file, or a saved dataset directory.

``--data`` names the source:
- ``hf:deepmind/code_contests`` (or just ``codecontests``): the Hugging Face dataset through
  ``datasets.load_dataset`` (splits ``train``, ``valid``, ``test``). Without network it is read from the
  local cache only, and a missing cache is a one-line error naming the ``--data FILE.jsonl`` alternative.
- ``FILE.jsonl``: one CodeContests row per line (``alphaflow.problems.iter_jsonl``).
- a directory: a ``datasets`` ``save_to_disk`` directory, such as AlphaCodium's processed valid/test set.
- problem files: a Markdown/text statement or a YAML/JSON problem, as ``alphaflow solve`` takes them,
  or a quoted glob of them (``'problems/*.md'``). A problem with no hidden (private or generated)
  tests is evaluated on its examples, which the flow also sees; the run says so (a dry run of your
  own problem, not a benchmark figure).

Every source yields ``alphaflow.problems.Problem`` objects, filtered by split, names, difficulty and tags.
"""

from __future__ import annotations

import difflib
import glob
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from alphaflow.errors import UserError
from alphaflow.problems import Problem, TestCase, iter_jsonl

PROBLEM_FILE_SUFFIXES = (".md", ".markdown", ".txt", ".yaml", ".yml", ".json")
HF_CODECONTESTS = "deepmind/code_contests"
HF_SPLITS = ("train", "valid", "test")
DEFAULT_SPLIT = "valid"

# CodeContests' difficulty enum (the proto's `Difficulty`): 0-6 are generic, 7.. are Codeforces letters.
DIFFICULTY_NAMES: dict[int, str] = {
    0: "UNKNOWN",
    1: "EASY",
    2: "MEDIUM",
    3: "HARD",
    4: "HARDER",
    5: "HARDEST",
    6: "EXTERNAL",
    **{7 + offset: letter for offset, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUV")},
}
_DIFFICULTY_CODES = {name: code for code, name in DIFFICULTY_NAMES.items()}


def difficulty_label(value: int | str | None) -> str:
    """A readable difficulty: ``A``, ``EASY``, or the raw value when it is not an enum code."""
    if isinstance(value, int) and value in DIFFICULTY_NAMES:
        return DIFFICULTY_NAMES[value]
    return "UNKNOWN" if value in (None, "") else str(value)


@dataclass(frozen=True)
class DataSource:
    """A serialisable reference to a problem set: enough for another process to load the same problems."""

    kind: str  # "hf" | "jsonl" | "disk" | "files"
    location: str  # HF dataset id, an absolute path, or (files) an absolute path or glob
    split: str | None = None

    def describe(self) -> str:
        split = f" [{self.split}]" if self.split else ""
        return f"{self.kind}:{self.location}{split}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSource:
        return cls(kind=data["kind"], location=data["location"], split=data.get("split"))


@dataclass(frozen=True)
class ProblemFilter:
    names: tuple[str, ...] = ()
    difficulties: tuple[int | str, ...] = ()
    tags: tuple[str, ...] = ()  # a problem matches when it has any of them
    limit: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProblemSet:
    source: DataSource
    problems: list[Problem] = field(default_factory=list)

    def by_name(self) -> dict[str, Problem]:
        return {problem.name: problem for problem in self.problems}


def parse_data_source(spec: str, split: str | None = None) -> DataSource:
    """Turn a ``--data`` value into a ``DataSource``; anything unrecognised is a ``UserError``."""
    spec = spec.strip()
    if not spec:
        raise UserError("--data: empty value (give hf:deepmind/code_contests, FILE.jsonl or a directory)")
    if spec.lower() in ("codecontests", "code_contests", "hf:codecontests"):
        spec = f"hf:{HF_CODECONTESTS}"
    if spec.startswith("hf:"):
        name = spec[3:].strip()
        if not name:
            raise UserError("--data hf:: missing the dataset id (e.g. hf:deepmind/code_contests)")
        chosen = split or DEFAULT_SPLIT
        if name == HF_CODECONTESTS and chosen not in HF_SPLITS:
            raise UserError(f"--split {chosen!r}: {HF_CODECONTESTS} has splits {', '.join(HF_SPLITS)}")
        return DataSource("hf", name, chosen)
    path = Path(spec).expanduser()
    if path.suffix.lower() in PROBLEM_FILE_SUFFIXES and (path.is_file() or glob.has_magic(spec)):
        pattern = str(path.resolve()) if path.is_file() else os.path.abspath(os.path.expanduser(spec))
        if not glob.glob(pattern):
            raise UserError(f"--data {spec}: the pattern matches no problem file")
        return DataSource("files", pattern, None)
    if path.is_dir():
        return DataSource("disk", str(path.resolve()), split)
    if path.is_file():
        return DataSource("jsonl", str(path.resolve()), None)
    raise UserError(
        f"--data {spec}: no such file or directory "
        f"(give hf:{HF_CODECONTESTS}, a CodeContests FILE.jsonl, or a saved dataset directory)"
    )


def parse_difficulties(values: Iterable[str]) -> tuple[int | str, ...]:
    """``--difficulty A,B,7`` -> enum codes; unknown names are a ``UserError``."""
    parsed: list[int | str] = []
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if value.lstrip("-").isdigit():
            parsed.append(int(value))
        elif value.upper() in _DIFFICULTY_CODES:
            parsed.append(_DIFFICULTY_CODES[value.upper()])
        else:
            known = ", ".join(DIFFICULTY_NAMES.values())
            raise UserError(f"--difficulty {value!r}: not a difficulty (use a number or one of {known})")
    return tuple(parsed)


def split_csv(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def load_problems(source: DataSource, selection: ProblemFilter | None = None) -> ProblemSet:
    """Load and filter the problems of ``source``; names that do not exist are a ``UserError``."""
    selection = selection or ProblemFilter()
    if selection.limit is not None and selection.limit < 1:
        raise UserError(f"--limit {selection.limit}: must be at least 1")
    if source.kind == "jsonl":
        problems = _filter(iter_jsonl(source.location), selection, source)
    elif source.kind == "files":
        problems = _filter(_problem_files(source.location), selection, source)
    elif source.kind in ("hf", "disk"):
        dataset = _open_hf(source) if source.kind == "hf" else _open_disk(source)
        problems = _filter_arrow(dataset, selection, source)
    else:
        raise UserError(f"unknown data source kind {source.kind!r}")
    return ProblemSet(source=source, problems=problems)


def _problem_files(pattern: str) -> list[Problem]:
    """Problems from statement/YAML/JSON files, as ``solve`` reads them (sorted by path)."""
    from alphaflow.solve.problem_source import load_problem

    problems = []
    for path in sorted(glob.glob(pattern)):
        problem = load_problem(path).problem
        if not problem.evaluation_tests:
            problem = evaluated_on_examples(problem)
        problems.append(problem)
    return problems


def evaluated_on_examples(problem: Problem) -> Problem:
    """``problem`` with its examples also used as evaluation tests (it has no hidden tests)."""
    from dataclasses import replace

    copies = [TestCase(test.input, test.output, "private") for test in problem.public_tests]
    return replace(problem, private_tests=copies, generated_tests=[])


def examples_only(problems: Iterable[Problem]) -> list[str]:
    """Names of the problems evaluated on their own examples (hidden tests = the examples)."""

    def same(tests: list[TestCase]) -> list[tuple[str, str]]:
        return [(test.input, test.output) for test in tests]

    return [p.name for p in problems if p.public_tests and same(p.evaluation_tests) == same(p.public_tests)]


def _matches(name: str, difficulty: Any, tags: Sequence[str], selection: ProblemFilter) -> bool:
    if selection.names and name not in selection.names:
        return False
    if selection.difficulties and difficulty not in selection.difficulties:
        return False
    if selection.tags and not set(selection.tags) & set(tags or ()):
        return False
    return True


def _check_names(
    found: Iterable[str], all_names: Sequence[str], selection: ProblemFilter, source: DataSource
):
    found_names = set(found)
    missing = [name for name in selection.names if name not in found_names]
    if not missing:
        return
    hints = []
    for name in missing[:3]:
        close = difflib.get_close_matches(name, all_names, n=3, cutoff=0.5)
        hints.append(f"{name!r}" + (f" (did you mean: {', '.join(close)})" if close else ""))
    raise UserError(f"--names: not in {source.describe()}: {'; '.join(hints)}")


def _filter(problems: Iterable[Problem], selection: ProblemFilter, source: DataSource) -> list[Problem]:
    kept: list[Problem] = []
    all_names: list[str] = []
    for problem in problems:
        all_names.append(problem.name)
        if _matches(problem.name, problem.difficulty, problem.tags, selection):
            kept.append(problem)
    _check_names((p.name for p in kept), all_names, selection, source)
    return kept[: selection.limit] if selection.limit else kept


def _filter_arrow(dataset: Any, selection: ProblemFilter, source: DataSource) -> list[Problem]:
    # Select on the light columns first, so only the chosen rows' (large) test columns are decoded.
    columns = set(dataset.column_names)
    if "name" not in columns:
        raise UserError(f"{source.describe()}: not a CodeContests dataset (no 'name' column)")
    names = dataset["name"]
    difficulties = dataset["difficulty"] if "difficulty" in columns else [None] * len(names)
    tag_column = "cf_tags" if "cf_tags" in columns else ("tags" if "tags" in columns else None)
    tags = dataset[tag_column] if tag_column else [[]] * len(names)
    chosen = [
        index
        for index, (name, difficulty, problem_tags) in enumerate(zip(names, difficulties, tags, strict=True))
        if _matches(name, difficulty, problem_tags, selection)
    ]
    _check_names((names[i] for i in chosen), names, selection, source)
    if selection.limit:
        chosen = chosen[: selection.limit]
    problems = []
    for offset, row in enumerate(dataset.select(chosen)):
        try:
            problems.append(Problem.from_codecontests(dict(row)))
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"{source.describe()} row {chosen[offset]}: malformed problem: {error}") from None
    return problems


def _open_disk(source: DataSource) -> Any:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(source.location)
    except FileNotFoundError as error:
        raise UserError(
            f"--data {source.location}: not a saved Hugging Face dataset directory ({error})"
        ) from None
    if isinstance(loaded, DatasetDict):
        splits = list(loaded.keys())
        split = source.split or (DEFAULT_SPLIT if DEFAULT_SPLIT in splits else None)
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in splits:
            given = f"--split {split}" if split else "no --split"
            raise UserError(
                f"--data {source.location}: {given}; the directory has splits {', '.join(splits)}"
            )
        return loaded[split]
    if isinstance(loaded, Dataset):
        return loaded
    raise UserError(f"--data {source.location}: not a dataset directory")


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection quickly (so an offline run never hangs)."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # behind a proxy a direct probe says nothing; let the client try
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host, port = parsed.hostname or "huggingface.co", parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _offline_requested() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _go_offline() -> None:
    """Make ``datasets``/``huggingface_hub`` read only the local cache, also when already imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets.config
    import huggingface_hub.constants

    datasets.config.HF_HUB_OFFLINE = True
    datasets.config.HF_DATASETS_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True


def _open_hf(source: DataSource) -> Any:
    offline = _offline_requested() or not hub_reachable()
    if offline:
        _go_offline()
    import datasets

    try:
        return datasets.load_dataset(source.location, split=source.split)
    except (ConnectionError, FileNotFoundError, OSError, ValueError) as error:
        if offline:
            reason = "no network to huggingface.co and it is not in the local Hugging Face cache"
        else:
            reason = f"could not load it ({type(error).__name__}: {str(error).splitlines()[0][:160]})"
        raise UserError(
            f"--data hf:{source.location} (split {source.split}): {reason}; download it where there is "
            "network (it lands in ~/.cache/huggingface, or HF_HOME) or pass a local "
            "--data FILE.jsonl in the CodeContests layout "
            "(e.g. ../shared/data/codecontests/train_sample.jsonl)"
        ) from None

"""Model strings of the local backends, parsed without importing torch.

    hf:PATH_OR_HUB_ID[?device=cuda&dtype=bfloat16&max_batch=32&max_new_tokens=512&wait_ms=5&trust_remote_code=1]
    proxy:base=PATH,expert=PATH,anti=PATH[,alpha=1.0][,device=...,dtype=...,max_batch=...,...]
    vllm:HUB_ID_OR_PATH[?startup_timeout_s=600&tensor-parallel-size=2&...]

Every mistake is a one-line ``UserError`` naming the model string and the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alphaflow.errors import UserError

HF_PREFIX, PROXY_PREFIX, VLLM_PREFIX = "hf:", "proxy:", "vllm:"
PREFIXES = (HF_PREFIX, PROXY_PREFIX, VLLM_PREFIX)
DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class LoadOptions:
    """How a local model is loaded and batched (the ``?key=value`` options of ``hf:``)."""

    device: str = "auto"  # "auto": cuda when available, else cpu; or "cpu", "cuda", "cuda:1", "mps"
    dtype: str = "auto"  # "auto": bfloat16 on a GPU that supports it, float16 on other GPUs, float32 on CPU
    max_batch: int = 32  # rows (prompt x sample) decoded together; halved for good after an out-of-memory
    max_new_tokens: int = 512  # per request: the default and the most a request may ask for
    wait_ms: float = 5.0  # how long the queue waits for more requests before it runs a partial batch
    trust_remote_code: bool = False


@dataclass(frozen=True)
class HFSpec:
    model: str  # a local directory or a Hugging Face hub id
    options: LoadOptions = field(default_factory=LoadOptions)


@dataclass(frozen=True)
class ProxySpec:
    """Proxy tuning (Liu et al. 2024, arXiv 2401.08565, §2): base + alpha * (expert - anti)."""

    base: str
    expert: str
    anti: str
    alpha: float = 1.0
    options: LoadOptions = field(default_factory=LoadOptions)


@dataclass(frozen=True)
class VLLMSpec:
    model: str
    serve_args: tuple[str, ...] = ()  # extra flags for `vllm serve`, e.g. ("--max-model-len", "8192")
    startup_timeout_s: float = 600.0


def is_local(model: str) -> bool:
    return model.startswith(PREFIXES)


def parse(model: str) -> HFSpec | ProxySpec | VLLMSpec:
    """Parse an ``hf:``, ``proxy:`` or ``vllm:`` model string; ``UserError`` on any mistake."""
    if model.startswith(HF_PREFIX):
        return _parse_hf(model)
    if model.startswith(PROXY_PREFIX):
        return _parse_proxy(model)
    if model.startswith(VLLM_PREFIX):
        return _parse_vllm(model)
    raise UserError(f"model {model!r}: not a local model string (hf:, proxy: or vllm:)")


def _parse_hf(model: str) -> HFSpec:
    body, _, query = model[len(HF_PREFIX) :].partition("?")
    if not body.strip():
        raise UserError(f"model {model!r}: give a path or hub id, e.g. hf:Qwen/Qwen2.5-0.5B-Instruct")
    pairs = _pairs(model, query, "&") if query else {}
    return HFSpec(body.strip(), _options(model, pairs))


def _parse_proxy(model: str) -> ProxySpec:
    pairs = _pairs(model, model[len(PROXY_PREFIX) :], ",")
    missing = [name for name in ("base", "expert", "anti") if not pairs.get(name)]
    if missing:
        raise UserError(
            f"model {model!r}: proxy tuning needs base=, expert= and anti= "
            f"(missing {', '.join(missing)}), e.g. proxy:base=PATH,expert=PATH,anti=PATH,alpha=1.0"
        )
    alpha = _number(model, "alpha", pairs.pop("alpha", "1.0"), float)
    base, expert, anti = (pairs.pop(name) for name in ("base", "expert", "anti"))
    return ProxySpec(base, expert, anti, alpha, _options(model, pairs))


def _parse_vllm(model: str) -> VLLMSpec:
    body, _, query = model[len(VLLM_PREFIX) :].partition("?")
    if not body.strip():
        raise UserError(f"model {model!r}: give the model to serve, e.g. vllm:Qwen/Qwen2.5-7B-Instruct")
    pairs = _pairs(model, query, "&") if query else {}
    timeout = _number(model, "startup_timeout_s", pairs.pop("startup_timeout_s", "600"), float)
    args: list[str] = []
    for name, value in pairs.items():  # every other option is a `vllm serve` flag
        args.append(f"--{name}")
        if value.lower() not in ("", "true"):
            args.append(value)
    return VLLMSpec(body.strip(), tuple(args), timeout)


def _pairs(model: str, text: str, separator: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.split(separator):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise UserError(f"model {model!r}: {part!r} is not key=value")
        name = name.strip()
        if name in pairs:
            raise UserError(f"model {model!r}: option {name!r} given twice")
        pairs[name] = value.strip()
    return pairs


def _options(model: str, pairs: dict[str, str]) -> LoadOptions:
    known = LoadOptions.__dataclass_fields__
    unknown = sorted(set(pairs) - set(known))
    if unknown:
        raise UserError(f"model {model!r}: unknown option {unknown[0]!r} (known: {', '.join(known)})")
    values: dict[str, object] = {}
    if "device" in pairs:
        values["device"] = pairs["device"] or "auto"
    if "dtype" in pairs:
        if pairs["dtype"] not in DTYPES:
            raise UserError(
                f"model {model!r}: dtype must be one of {', '.join(DTYPES)}, not {pairs['dtype']!r}"
            )
        values["dtype"] = pairs["dtype"]
    for name in ("max_batch", "max_new_tokens"):
        if name in pairs:
            values[name] = _number(model, name, pairs[name], int, minimum=1)
    if "wait_ms" in pairs:
        values["wait_ms"] = _number(model, "wait_ms", pairs["wait_ms"], float, minimum=0)
    if "trust_remote_code" in pairs:
        flag = pairs["trust_remote_code"].lower()
        if flag not in ("1", "0", "true", "false", "yes", "no"):
            raise UserError(f"model {model!r}: trust_remote_code must be true or false, not {flag!r}")
        values["trust_remote_code"] = flag in ("1", "true", "yes")
    return LoadOptions(**values)  # type: ignore[arg-type]


def _number(model: str, name: str, text: str, kind: type, minimum: float | None = None):  # noqa: ANN202
    try:
        value = kind(text)
    except ValueError:
        raise UserError(f"model {model!r}: option {name} must be a number, not {text!r}") from None
    if minimum is not None and value < minimum:
        raise UserError(f"model {model!r}: option {name} must be at least {minimum:g}, not {text}")
    return value

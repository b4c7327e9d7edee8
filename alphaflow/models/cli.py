"""``alphaflow cache stats`` and ``alphaflow cache clear``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PATH_HELP = "the cache file (default: $ALPHAFLOW_CACHE, else ~/.cache/alphaflow/llm.sqlite)"


def register(subparsers: argparse._SubParsersAction) -> None:
    cache = subparsers.add_parser("cache", help="the on-disk cache of model responses",
                                  description="Inspect or empty the model response cache "
                                              "($ALPHAFLOW_CACHE, default ~/.cache/alphaflow/llm.sqlite).")
    commands = cache.add_subparsers(dest="cache_command", metavar="COMMAND")
    stats = commands.add_parser("stats", help="entries, size, hits, by model")
    stats.add_argument("--path", type=Path, help=PATH_HELP)
    stats.add_argument("--json", action="store_true", help="one JSON object")
    stats.set_defaults(func=_stats)
    clear = commands.add_parser("clear", help="delete cached responses")
    clear.add_argument("--path", type=Path, help=PATH_HELP)
    clear.add_argument("--model", help="only this model's responses")
    clear.add_argument("--json", action="store_true", help="one JSON object")
    clear.set_defaults(func=_clear)
    cache.set_defaults(func=lambda args: (cache.print_help(), 2)[1])


def _open(args: argparse.Namespace):
    from alphaflow.models.cache import Cache

    return Cache(args.path)


def _stats(args: argparse.Namespace) -> int:
    from alphaflow.models.cache import default_cache_path

    path = args.path or default_cache_path()
    if not path.exists():  # report an empty cache without creating the file
        stats = {"path": str(path), "entries": 0, "size_bytes": 0, "hits": 0, "by_model": []}
    else:
        cache = _open(args)
        try:
            stats = cache.stats()
        finally:
            cache.close()
    if args.json:
        print(json.dumps(stats))
        return 0
    print(f"cache    {stats['path']}")
    print(f"entries  {stats['entries']} samples, {_size(stats['size_bytes'])}, {stats['hits']} hits")
    for row in stats["by_model"]:
        print(f"  {row['model']:<40} {row['entries']:>8} samples {row['hits']:>8} hits")
    return 0


def _clear(args: argparse.Namespace) -> int:
    cache = _open(args)
    try:
        removed = cache.clear(args.model)
    finally:
        cache.close()
    if args.json:
        print(json.dumps({"path": str(cache.path), "removed": removed, "model": args.model}))
    else:
        which = f" of {args.model}" if args.model else ""
        print(f"removed {removed} cached samples{which} from {cache.path}")
    return 0


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


# --- the model options every command that calls a model shares ---------------------------------------

def add_router_options(parser: argparse.ArgumentParser, *, model_concurrency_default: int | None = 8) -> None:
    """The flags that shape model calls, with one meaning on every command that calls a model
    (``run``, ``solve``, ``bench codecontests``, ``judge self-reward``, ``eval``); pass
    ``**router_options(args)`` to ``build_router``. ``--model`` stays with each command (what it
    picks differs). ``--concurrency``, where a command has it, bounds *its* units (problems x samples,
    prompts, items); ``--model-concurrency`` bounds requests in flight per model."""
    group = parser.add_argument_group("model calls (the same on every command that calls a model)")
    group.add_argument("--api-base", metavar="URL", type=_api_base,
                       help="an OpenAI-compatible endpoint (vLLM, SGLang, TGI, Ollama, the scripted server)")
    group.add_argument("--fallback", action="append", default=[], metavar="MODEL",
                       help="a model to try when the main one keeps failing (repeatable, in order)")
    group.add_argument("--price", action="append", default=[], metavar="MODEL=IN,OUT",
                       help="USD per million input,output tokens for a model litellm has no price for "
                            "(needed by --max-cost for such a model)")
    group.add_argument("--max-cost", type=_positive_float, default=None, metavar="USD",
                       help="stop before a model call could take the run's spend past this")
    group.add_argument("--model-concurrency", type=_positive_int, default=model_concurrency_default,
                       metavar="N", help="requests in flight per model"
                       + (f" (default {model_concurrency_default})" if model_concurrency_default else ""))
    group.add_argument("--rpm", type=_positive_float, default=None, metavar="N",
                       help="requests per minute per model (default: no limit)")
    group.add_argument("--max-retries", type=_non_negative_int, default=4, metavar="N",
                       help="retries on 429, 5xx, timeouts and connection errors (default 4)")
    group.add_argument("--timeout", type=_positive_float, default=120.0, metavar="S",
                       help="seconds per request (default 120)")
    group.add_argument("--no-cache", action="store_true",
                       help="do not read or write the model response cache (see `alphaflow cache`)")
    group.add_argument("--openai-direct", action=argparse.BooleanOptionalAction, default=None,
                       help="send openai/ and hosted_vllm/ models behind --api-base through the OpenAI SDK "
                            "instead of litellm: less CPU per call (scripted: models use it unless "
                            "--no-openai-direct)")


def router_options(args: argparse.Namespace, *, cache_path: str | Path | None = None) -> dict:
    """``build_router`` keyword arguments from the flags of ``add_router_options``; the cache is
    ``cache_path`` when given, else the default one (none with ``--no-cache``)."""
    from alphaflow.models.cache import default_cache_path

    return {
        "api_base": args.api_base, "fallbacks": list(args.fallback),
        "concurrency": args.model_concurrency or 8,
        "rpm": args.rpm, "max_retries": args.max_retries, "timeout_s": args.timeout,
        "prices": dict(_price(text) for text in args.price), "openai_direct": args.openai_direct,
        "max_cost_usd": args.max_cost,
        "cache_path": None if args.no_cache else (cache_path or default_cache_path()),
    }


def _price(text: str) -> tuple[str, tuple[float, float]]:
    from alphaflow.errors import UserError

    model, _, prices = text.rpartition("=")
    try:
        input_price, output_price = (float(part) for part in prices.split(","))
        if not model or input_price < 0 or output_price < 0:
            raise ValueError
    except ValueError:
        raise UserError(f"--price {text!r}: expected MODEL=IN,OUT in USD per million tokens, "
                        "for example --price ollama/llama3=0,0") from None
    return model, (input_price, output_price)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _api_base(text: str) -> str:
    """``--api-base`` must be an http(s) URL with a host: a typo is named at once, not after retries."""
    from urllib.parse import urlparse

    parsed = urlparse(text.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL (for example http://127.0.0.1:8000/v1)"
        )
    return text.strip()

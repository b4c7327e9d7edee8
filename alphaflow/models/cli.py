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


# --- model options other commands can share (run, solve, bench) -------------------------------------

def add_router_options(parser: argparse.ArgumentParser) -> None:
    """The model layer's tuning flags; pass ``**router_options(args)`` to ``build_router``."""
    group = parser.add_argument_group("model calls")
    group.add_argument("--fallback", action="append", default=[], metavar="MODEL",
                       help="a model to try when the main one keeps failing (repeatable, in order)")
    group.add_argument("--concurrency", type=_positive_int, default=8, metavar="N",
                       help="concurrent requests per model (default 8)")
    group.add_argument("--rpm", type=_positive_float, default=None, metavar="N",
                       help="requests per minute per model (default: no limit)")
    group.add_argument("--max-retries", type=_non_negative_int, default=4, metavar="N",
                       help="retries on 429, 5xx, timeouts and connection errors (default 4)")
    group.add_argument("--timeout", type=_positive_float, default=120.0, metavar="S",
                       help="seconds per request (default 120)")
    group.add_argument("--price", action="append", default=[], metavar="MODEL=IN,OUT",
                       help="USD per million input,output tokens for a model litellm has no price for")
    group.add_argument("--openai-direct", action=argparse.BooleanOptionalAction, default=None,
                       help="send openai/ and hosted_vllm/ models behind --api-base through the OpenAI SDK "
                            "instead of litellm: less CPU per call (scripted: models use it unless "
                            "--no-openai-direct)")


def router_options(args: argparse.Namespace) -> dict:
    return {
        "fallbacks": list(args.fallback), "concurrency": args.concurrency, "rpm": args.rpm,
        "max_retries": args.max_retries, "timeout_s": args.timeout,
        "prices": dict(_price(text) for text in args.price), "openai_direct": args.openai_direct,
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
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value

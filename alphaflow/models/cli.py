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

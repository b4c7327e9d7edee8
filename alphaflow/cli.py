"""The one entry point: ``alphaflow ...``.

Each command group lives beside the concept it drives and exposes ``register(subparsers)``; this
module only wires them together and turns user mistakes into one-line errors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from alphaflow import __version__
from alphaflow.errors import UserError

# Modules that add commands. They must import heavy libraries (litellm, docker, datasets) inside the
# command functions, not at module level, so `alphaflow --help` stays fast.
COMMAND_MODULES = [
    "alphaflow.solve.cli",  # solve
    "alphaflow.engine.cli",  # run, flows, trace
    "alphaflow.models.cli",  # cache
    "alphaflow.testing.cli",  # scripted-server
    "alphaflow.sandbox.cli",  # sandbox
    "alphaflow.bench.cli",  # bench
    "alphaflow.judge.cli",  # judge, eval
    "alphaflow.ci.cli",  # ci
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alphaflow",
        description="Flow engineering for code generation: run YAML flows, judge code in a sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"alphaflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:  # that command group is not part of this build
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"alphaflow: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("alphaflow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `alphaflow ... | head` closed the pipe: end quietly, as `cat` does
        _silence_stdout()
        return 141  # 128 + SIGPIPE, the shell's code for a writer whose reader left


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises no second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing to flush
        pass


if __name__ == "__main__":
    sys.exit(main())

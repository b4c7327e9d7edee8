"""``alphaflow scripted-server SCRIPT.yaml``: serve a script on a fixed port, for ``--api-base`` dry runs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scripted-server", help="serve a scripted model (OpenAI-compatible) for offline dry runs",
        description="Answer POST /v1/chat/completions from a script (format: docs/models.md) until "
                    "interrupted. Point any OpenAI-compatible client at the printed URL, e.g. "
                    "alphaflow run FLOW --model openai/scripted --api-base URL.")
    parser.add_argument("script", type=Path, help="the YAML script")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--check", action="store_true", help="only load and check the script, then exit")
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from alphaflow.errors import UserError
    from alphaflow.testing import ScriptedServer, load_script

    script = load_script(args.script)
    if args.check:
        default = "a default answer" if script.default is not None else "no default answer"
        print(f"{args.script}: {len(script.rules)} rules, {default}")
        return 0
    server = ScriptedServer(script, host=args.host, port=args.port)
    try:
        url = server.start()
    except OSError as error:
        reason = error.strerror or error
        raise UserError(f"--port {args.port}: cannot listen on {args.host}: {reason}") from None
    print(url, flush=True)  # the first line is the base URL, for scripts that start the server
    print(f"serving {args.script} ({len(script.rules)} rules); Ctrl-C stops", file=sys.stderr, flush=True)
    shown = 0

    def log_new_calls() -> None:
        nonlocal shown
        for call in server.calls()[shown:]:
            if not (call.status or call.fault):  # still being answered
                break
            print(f"{time.strftime('%H:%M:%S')} step={call.step or '-'} model={call.model} "
                  f"rule={call.rule or '-'} status={call.status or '-'} fault={call.fault or '-'}",
                  file=sys.stderr, flush=True)
            shown += 1

    try:
        while True:
            time.sleep(0.2)
            log_new_calls()
    except KeyboardInterrupt:
        pass
    finally:
        log_new_calls()
        server.stop()
    return 0

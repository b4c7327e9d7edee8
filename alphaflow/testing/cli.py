"""``alphaflow scripted-server SCRIPT.yaml`` serves a script on a fixed port (for ``--api-base`` dry
runs); ``alphaflow scripted template FLOW`` writes a script with one rule per llm step, ready to edit."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scripted-server",
        help="serve a scripted model (OpenAI-compatible) for offline dry runs",
        description="Answer POST /v1/chat/completions from a script (format: docs/models.md) until "
        "interrupted. Point any OpenAI-compatible client at the printed URL, e.g. "
        "alphaflow run FLOW --model openai/scripted --api-base URL.",
    )
    parser.add_argument("script", type=Path, help="the YAML script")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--check", action="store_true", help="only load and check the script, then exit")
    parser.set_defaults(func=_serve)

    scripted = subparsers.add_parser(
        "scripted",
        help="scripted-model files for dry runs (template)",
        description="Scripted models answer a flow's llm steps from a YAML file (docs/models.md). "
        "For placeholder answers with no file at all, use --model stub.",
    )
    actions = scripted.add_subparsers(dest="scripted_command", metavar="ACTION", required=True)
    template = actions.add_parser(
        "template",
        help="write a scripted-model file listing every llm step of a flow",
        description="Write a scripted-model YAML with one rule per llm step of FLOW (nested and "
        "called flows included): the step path it matches, the format and keys its "
        "answer needs, and a placeholder answer to edit. Exit 0, or 2 for a bad flow.",
    )
    template.add_argument("flow", help="a built-in flow name (alphacodium, direct, ...) or a flow file")
    template.add_argument("--out", type=Path, help="write here instead of standard output")
    template.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    template.set_defaults(func=_template)


def _template(args: argparse.Namespace) -> int:
    from alphaflow.engine import load_flow
    from alphaflow.errors import UserError
    from alphaflow.testing.template import render_template

    text = render_template(load_flow(args.flow))
    if args.out is None:
        sys.stdout.write(text)
        return 0
    if args.out.exists() and not args.force:
        raise UserError(f"--out {args.out}: the file exists (add --force to overwrite it)")
    args.out.write_text(text, encoding="utf-8")
    print(
        f"written: {args.out} (edit the answers, then run with --model scripted:{args.out})", file=sys.stderr
    )
    return 0


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
            print(
                f"{time.strftime('%H:%M:%S')} step={call.step or '-'} model={call.model} "
                f"rule={call.rule or '-'} status={call.status or '-'} fault={call.fault or '-'}",
                file=sys.stderr,
                flush=True,
            )
            shown += 1

    try:
        while True:
            time.sleep(0.2)
            log_new_calls()
    except KeyboardInterrupt:
        pass
    finally:
        # A call answered just before Ctrl-C may still be finishing its bookkeeping: give it a moment
        # so its log line is not lost.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(not (c.status or c.fault) for c in server.calls()[shown:]):
            time.sleep(0.05)
        log_new_calls()
        server.stop()
    return 0

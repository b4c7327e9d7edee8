"""The rich console every command prints with.

rich's own ``Console`` answers a closed pipe (``alphaflow solve ... | head -1``) with ``SystemExit(1)``,
so a command that printed with it exited 1 while one that printed with ``print`` exited 141. This one
raises ``BrokenPipeError`` instead, which ``alphaflow.cli.main`` turns into a quiet exit 141 (128 +
SIGPIPE, as ``cat`` ends), the same for every command. A console on standard error only goes quiet:
the run goes on when whoever watched its progress left.

Import it inside command functions (it imports rich), so ``alphaflow --help`` stays fast.
"""

from __future__ import annotations

import errno

from rich.console import Console as _RichConsole


class Console(_RichConsole):
    """``rich.console.Console`` that raises ``BrokenPipeError`` on a closed standard output pipe."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more is written; the buffer rich still holds is dropped
        if not self.stderr:
            raise BrokenPipeError(errno.EPIPE, "the reader of standard output closed the pipe")

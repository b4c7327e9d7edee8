"""The in-container judge, standard library only: one invocation judges one solution on all its tests.

The same files run inside the sandbox image (copied to ``/opt/alphaflow/runner``) and, for the local
backend, on the host; the host also imports ``protocol`` (verdicts, limits, frames) and ``checker``
from here. Nothing in this package imports the rest of alphaflow. One module per layer:

- ``protocol``: constants shared with the host, request validation, frame format;
- ``supervise``: one process under limits (pipes, wall clock, memory poller);
- ``processes``: identity, rlimits, stray processes;
- ``compilers``: g++ and the Python syntax check; ``pycompile`` is the child that compiles Python;
- ``forkserver``: the child that runs a Python solution (once, or forked per test); ``pyfork``
  is the runner's side of it;
- ``checker``: token comparison with testlib's semantics;
- ``judge``: one request, test by test, with verdicts;
- ``serve``: the entry points (one request, or ``--serve`` for a stream of them).

Start it with ``python3 path/to/runner`` (the folder; ``__main__.py`` loads it as a package) or
``python -m alphaflow.sandbox.runner``. Protocol: ``docs/sandbox-image.md``.
"""

import os

RUNNER_DIR = os.path.dirname(os.path.abspath(__file__))

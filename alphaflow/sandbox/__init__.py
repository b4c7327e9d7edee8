"""The sandbox that judges untrusted code: a warm docker pool, or a local subprocess backend.

    async with open_sandbox(backend="auto") as sandbox:
        result = await sandbox.judge(code, language="python", tests=problem.public_tests,
                                     limits=Limits.for_problem(problem))

Heavy imports (the docker SDK) happen inside the backends, so importing this package is cheap.
"""

from alphaflow.sandbox.backends import open_sandbox
from alphaflow.sandbox.base import Sandbox
from alphaflow.sandbox.types import (
    VERDICTS,
    Checker,
    JudgeResult,
    Limits,
    ProgramChecker,
    RunResult,
    SandboxFault,
    TestResult,
    TokenChecker,
    normalize_language,
)

__all__ = [
    "VERDICTS",
    "Checker",
    "JudgeResult",
    "Limits",
    "ProgramChecker",
    "RunResult",
    "Sandbox",
    "SandboxFault",
    "TestResult",
    "TokenChecker",
    "normalize_language",
    "open_sandbox",
]

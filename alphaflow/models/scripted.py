"""``model="scripted:SCRIPT.yaml"`` (or ``"stub"``): a scripted server started in-process for the run.

``stub`` is the built-in placeholder model of :mod:`alphaflow.testing.stub`: no script needed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from alphaflow.errors import UserError
from alphaflow.models.types import Target

PREFIX = "scripted:"
DUMMY_KEY = "sk-alphaflow-scripted"


STUB = "stub"


def is_scripted(model: str) -> bool:
    """True for ``scripted:FILE`` and for the built-in ``stub`` model."""
    return model.startswith(PREFIX) or model == STUB


class ScriptedModels:
    """One server per script file, started on first use and stopped by ``close``."""

    def __init__(self) -> None:
        self._servers: dict[Path, object] = {}
        self._targets: dict[str, Target] = {}

    def target(self, model: str) -> Target:
        if model in self._targets:
            return self._targets[model]
        from alphaflow.testing import ScriptedServer, load_script

        if model == STUB:
            return self._stub_target()
        raw = model[len(PREFIX) :].strip()
        if not raw:
            raise UserError("model 'scripted:' needs a script path, for example --model scripted:dry.yaml")
        path = Path(raw).expanduser().resolve()
        script = load_script(path)  # a one-line UserError naming file:line when the script is wrong
        server = ScriptedServer(script)
        base_url = server.start()
        self._servers[path] = server
        digest = _file_digest(path)
        target = Target(
            name=model,
            backend_model=f"openai/{script.models[0]}",
            api_base=base_url,
            api_key=DUMMY_KEY,
            cache_identity=f"scripted:{path}:{digest}",
            free=True,
        )
        self._targets[model] = target
        return target

    def _stub_target(self) -> Target:
        from alphaflow.testing import ScriptedServer, stub

        server = ScriptedServer(stub.stub_script())
        base_url = server.start()
        self._servers[Path("<stub>")] = server
        target = Target(
            name=STUB,
            backend_model=f"openai/{stub.STUB_MODEL}",
            api_base=base_url,
            api_key=DUMMY_KEY,
            cache_identity=f"stub:{_file_digest(Path(stub.__file__))}",
            free=True,
        )
        self._targets[STUB] = target
        return target

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()  # type: ignore[attr-defined]
        self._servers.clear()
        self._targets.clear()


def _file_digest(path: Path) -> str:
    """Part of the cache identity: a changed script (or stub) never replays old answers."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]

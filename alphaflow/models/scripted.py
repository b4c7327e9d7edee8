"""``model="scripted:SCRIPT.yaml"``: a scripted server started in-process for the run."""

from __future__ import annotations

import hashlib
from pathlib import Path

from alphaflow.errors import UserError
from alphaflow.models.types import Target

PREFIX = "scripted:"
DUMMY_KEY = "sk-alphaflow-scripted"


def is_scripted(model: str) -> bool:
    return model.startswith(PREFIX)


class ScriptedModels:
    """One server per script file, started on first use and stopped by ``close``."""

    def __init__(self) -> None:
        self._servers: dict[Path, object] = {}
        self._targets: dict[str, Target] = {}

    def target(self, model: str) -> Target:
        if model in self._targets:
            return self._targets[model]
        from alphaflow.testing import ScriptedServer, load_script

        raw = model[len(PREFIX):].strip()
        if not raw:
            raise UserError("model 'scripted:' needs a script path, for example --model scripted:dry.yaml")
        path = Path(raw).expanduser().resolve()
        script = load_script(path)  # a one-line UserError naming file:line when the script is wrong
        server = ScriptedServer(script)
        base_url = server.start()
        self._servers[path] = server
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        target = Target(name=model, backend_model=f"openai/{script.models[0]}", api_base=base_url,
                        api_key=DUMMY_KEY, cache_identity=f"scripted:{path}:{digest}", free=True)
        self._targets[model] = target
        return target

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()  # type: ignore[attr-defined]
        self._servers.clear()
        self._targets.clear()

"""A scripted OpenAI-compatible model server, for tests and offline dry runs.

    from alphaflow.testing import ScriptedServer, Rule, Fault
    with ScriptedServer([Rule(step="reflect", response="- point one")]) as server:
        server.base_url            # http://127.0.0.1:PORT/v1 ; use model "openai/<any name>"
        server.calls("reflect")    # the recorded requests of that step

The script format (YAML or Python) is documented in ``docs/models.md``.
"""

from alphaflow.testing.script import Fault, Rule, Script, ScriptedRequest, load_script
from alphaflow.testing.server import STEP_HEADER, RecordedRequest, ScriptedServer, count_tokens

__all__ = [
    "Fault",
    "RecordedRequest",
    "Rule",
    "STEP_HEADER",
    "Script",
    "ScriptedRequest",
    "ScriptedServer",
    "count_tokens",
    "load_script",
]

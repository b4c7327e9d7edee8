"""The CI plugin: a quality gate for flows and models, and a fix mode for failing tests.

    alphaflow ci gate --config alphaflow-ci.yaml [--baseline RUN] [--junit FILE] [--json]
    alphaflow ci fix --test-command "python3 -m unittest -v" [--repo DIR] [--patch FILE] [--apply]
    alphaflow ci comment --body FILE

Modules, one job each:
- ``config``: the gate config (pydantic; ``file:line:col`` errors); ``requirements``: ``pass@1 >= 0.3``
- ``checks``: running a solve / bench / eval / run check; ``gate``: requirements, repeats, baseline
- ``junit``, ``summary``, ``github``: JUnit XML, the Markdown summary, annotations and step outputs
- ``comment``: the one sticky pull-request comment (REST API through httpx)
- ``workspace``: the fix mode's repository copy, sandboxed test runs, edits and diffs; ``fix``: the command
The fix flow is ``flows/ci_fix.yaml`` with its steps in ``alphaflow/step_functions/ci_fix.py``.
"""

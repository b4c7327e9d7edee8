"""``python3 path/to/runner [--serve] [--sweep DIR ...] | --info`` (the folder) or ``python -m ...``.

Run as a folder, Python puts the folder itself first on ``sys.path`` and runs this file as a
top-level script, so the package is loaded here under a name of its own (``alphaflow_runner``) and
the folder leaves ``sys.path``: its module names must not shadow anything.
"""

import sys

if __package__:
    from .serve import main
else:
    import importlib.util
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == _here:
        del sys.path[0]
    _spec = importlib.util.spec_from_file_location(
        "alphaflow_runner", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here]
    )
    _package = importlib.util.module_from_spec(_spec)
    sys.modules["alphaflow_runner"] = _package
    _spec.loader.exec_module(_package)
    from alphaflow_runner.serve import main

if __name__ == "__main__":
    sys.exit(main())

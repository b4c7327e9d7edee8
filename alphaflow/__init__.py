"""alphaflow: flow engineering for code generation.

A flow is a YAML file (see ``flows/``) that the engine (``alphaflow.engine``) validates and runs;
model calls go through ``alphaflow.models`` and generated code is judged by ``alphaflow.sandbox``.
"""

__version__ = "0.1.0"

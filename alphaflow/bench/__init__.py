"""CodeContests benchmarking: loaders, durable resumable runs, pass@k metrics and reports.

    alphaflow bench codecontests --data SRC --flow F --model M --samples K --concurrency C --out RUN_DIR
    alphaflow bench report RUN_DIR [--compare RUN_DIR2 ...]

Modules, one job each:
- ``datasets``: ``parse_data_source``, ``load_problems`` (HF hub / JSON lines / saved dataset dir), filters
- ``units``: ``Unit`` (problem x sample, serialisable), ``ModelSettings``
- ``store``: ``RunStore`` (meta.json, append-only fsynced results.jsonl), ``UnitResult``
- ``meta``: run metadata and the resume check
- ``solvers`` / ``flow_solver``: the gold solver and the engine-backed flow solver
- ``judging``: one judgement over public + evaluation tests, split by kind
- ``runner``: bounded asyncio workers over units
- ``codecontests``: the command (plan, resume, run); ``cli``: its argparse wiring
- ``metrics``: ``pass_at_k``, ``summarize``; ``report`` / ``plots``: terminal, Markdown, HTML, JSON

Heavy libraries (datasets, litellm, matplotlib) are imported inside functions.
"""

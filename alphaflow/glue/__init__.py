"""Python glue that flows call with ``kind: python`` (one module per flow)."""

"""Emptying the places a solution could write to (stdlib only, like the whole runner)."""

from __future__ import annotations

import os


def sweep_directory(path: str, keep: str | None = None) -> bool:
    """Delete everything under ``path`` (making locked directories accessible first), except the
    folder ``keep`` and what is in it (a judgement's own work dir, swept apart); empty after?

    A folder that does not exist is clean.
    """
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    for entry in entries:
        try:
            if keep is not None and entry.path == keep:
                continue
            if entry.is_dir(follow_symlinks=False):
                if keep is not None and keep.startswith(entry.path + os.sep):
                    sweep_directory(entry.path, keep)  # an ancestor of ``keep``: empty the rest
                    continue
                os.chmod(entry.path, 0o700)
                sweep_directory(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    try:
        return not os.listdir(path)
    except OSError:
        return False

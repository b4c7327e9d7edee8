"""Emptying the places a solution could write to (stdlib only, like the whole runner)."""

from __future__ import annotations

import os


def sweep_directory(path: str, keep: tuple[str, ...] = ()) -> bool:
    """Delete everything under ``path`` (making locked directories accessible first), except the
    folders in ``keep`` (real paths) and what is in them; empty after? Symbolic links are removed,
    never followed. A folder that does not exist is clean.
    """
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    for entry in entries:
        try:
            if entry.path in keep:
                continue
            if entry.is_dir(follow_symlinks=False):
                if any(kept.startswith(entry.path + os.sep) for kept in keep):
                    sweep_directory(entry.path, keep)  # holds a kept folder: empty the rest
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

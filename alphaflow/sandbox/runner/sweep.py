"""Emptying the places a solution could write to, between solutions and between the tests of one
(stdlib only, like the whole runner).

``sweep_directory`` empties a folder; ``remove_sysv_ipc`` removes a user's System V IPC objects;
``CleanSlate`` puts a judgement's work dir back as compiling left it, so that each test runs as if it
were judged alone. None of them follows a symbolic link: a link is removed, never entered.
"""

from __future__ import annotations

import os
import stat

# /proc/sysvipc table -> the *ctl function (its IPC_RMID command is 0)
_SYSV_TABLES = {"shm": "shmctl", "sem": "semctl", "msg": "msgctl"}


def sweep_directory(path: str, keep: tuple[str, ...] = ()) -> bool:
    """Delete everything under ``path`` (making locked folders accessible first), except the folders
    in ``keep`` (real paths) and what is in them; empty after? A folder that does not exist is clean;
    a ``path`` that is a symbolic link is not entered.
    """
    if os.path.islink(path):
        return False
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
                _open_up(entry.path)
                if any(kept.startswith(entry.path + os.sep) for kept in keep):
                    sweep_directory(entry.path, keep)  # holds a kept folder: empty the rest
                    continue
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


def _open_up(folder: str) -> None:
    """Give the owner (the runner, or root) full access to a folder a solution may have locked."""
    try:
        mode = stat.S_IMODE(os.lstat(folder).st_mode)
        if mode & 0o700 != 0o700:
            os.chmod(folder, mode | 0o700)
    except OSError:
        pass


def remove_sysv_ipc(uid: int) -> bool:
    """Remove the System V shared memory segments, semaphores and message queues ``uid`` owns
    (they outlive the process that made them); True when none is left."""
    clean = True
    libc = None
    for table, function in _SYSV_TABLES.items():
        try:
            with open(f"/proc/sysvipc/{table}") as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue  # no System V IPC here (gVisor, or a kernel without it)
        for row in rows:
            fields = row.split()
            uid_column = 4 if table == "sem" else 7
            try:
                if int(fields[uid_column]) != uid:
                    continue
                ipc_id = int(fields[1])
            except (IndexError, ValueError):
                continue
            if libc is None:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
            if getattr(libc, function)(ipc_id, 0, 0) != 0:  # IPC_RMID
                clean = False
    return clean


class CleanSlate:
    """A judgement's work dir as compiling left it, restored before each test and checker run.

    Taken once (``CleanSlate(workdir)``): every folder with its mode, every file with its bytes,
    mode, owner and identity (inode, size, mtime), every symbolic link with its target. ``restore()``
    removes whatever is new, puts back any folder mode, file or link a test changed (the compiled
    program and the checker included: a test that rewrote them must not change what the next test
    runs), empties ``scratch`` folders (keeping ``keep`` and the work dir) and removes
    ``ipc_uid``'s System V IPC objects when IPC is private to the judgement.
    """

    def __init__(
        self, root: str, scratch: tuple[str, ...] = (), keep: tuple[str, ...] = (), ipc_uid: int | None = None
    ) -> None:
        self.root = root
        self.scratch = scratch
        self.keep = (os.path.realpath(root), *keep)
        self.ipc_uid = ipc_uid
        top = os.lstat(root)
        self.folders: dict[str, tuple[int, int, int]] = {
            root: (stat.S_IMODE(top.st_mode), top.st_uid, top.st_gid)
        }
        self.files: dict[str, tuple[tuple[int, int, int, int], bytes, int, int]] = {}
        self.links: dict[str, str] = {}
        for directory, folders, files in os.walk(root):
            for name in folders + files:
                path = os.path.join(directory, name)
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    self.links[path] = os.readlink(path)
                elif stat.S_ISDIR(info.st_mode):
                    self.folders[path] = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
                elif stat.S_ISREG(info.st_mode):
                    with open(path, "rb") as handle:
                        self.files[path] = (_identity(info), handle.read(), info.st_uid, info.st_gid)

    def restore_files(self) -> None:
        """Folder modes, files and links back as taken; nothing else (cheap: one ``lstat`` each)."""
        for folder, (mode, uid, gid) in self.folders.items():  # parents first: os.walk's order
            try:
                info = os.lstat(folder)
            except FileNotFoundError:
                info = None
            if info is None or not stat.S_ISDIR(info.st_mode):
                _remove(folder)
                os.mkdir(folder)
                os.chmod(folder, mode)
                _own(folder, uid, gid)
            elif stat.S_IMODE(info.st_mode) != mode:
                os.chmod(folder, mode)
        for path, (identity, data, uid, gid) in self.files.items():
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                info = None
            if info is not None and stat.S_ISREG(info.st_mode) and _identity(info) == identity:
                continue
            _remove(path)
            mode = identity[3]
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.chmod(path, mode)
            _own(path, uid, gid)
            self.files[path] = (_identity(os.lstat(path)), data, uid, gid)
        for path, target in self.links.items():
            try:
                if os.readlink(path) == target:
                    continue
            except OSError:
                pass
            _remove(path)
            os.symlink(target, path)

    def restore(self) -> None:
        """Everything back as taken: new entries removed, changed ones restored, scratch emptied."""
        for folder in self.folders:  # a locked folder would keep what is in it
            _open_up(folder)
        known = self.folders.keys() | self.files.keys() | self.links.keys()
        for directory, folders, files in os.walk(self.root):
            for name in folders + files:
                path = os.path.join(directory, name)
                if path not in known:
                    _remove(path)
            folders[:] = [name for name in folders if os.path.join(directory, name) in self.folders]
        self.restore_files()
        for directory in self.scratch:
            sweep_directory(directory, self.keep)
        if self.ipc_uid is not None:
            remove_sysv_ipc(self.ipc_uid)


def _own(path: str, uid: int, gid: int) -> None:
    if os.geteuid() == 0:  # only root can give a file away; otherwise it is the runner's already
        os.chown(path, uid, gid, follow_symlinks=False)


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_ino, info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode))


def _remove(path: str) -> None:
    """Delete ``path`` whatever it is; a folder with everything in it; a link, not its target."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    try:
        if stat.S_ISDIR(info.st_mode):
            _open_up(path)
            sweep_directory(path)
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        pass

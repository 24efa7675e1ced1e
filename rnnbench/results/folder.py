"""Run folders and their writers: append-and-sync CSV tables, ``metadata.json``, ownership, resume bookkeeping.

``results/<run-id>/`` holds ``metadata.json`` plus CSV tables (``summary.csv``, ``samples.csv`` for timing;
``curves.csv``, ``train_summary.csv`` for training). Rows are appended and synced (``fsync``) after every
case, so a killed run keeps all it finished.

**One owner.** A process that writes a folder (``run``, ``train``, ``merge``) owns it for its whole run: an
exclusive lock (the ``filelock`` library: ``flock`` on POSIX, so a dead owner's lock is released by the kernel
and never blocks a resume) on the hidden file ``.owner.lock``, which also records the owner's PID, host and
start time for the "in use" message. The owner's own worker processes (rounds, a GPU pool) serialise their
appends with a second lock, ``.write.lock``. Both files are removed when the owner releases the folder; only a
killed owner leaves them behind, and the next owner (``--resume``) removes them.

**Never torn, never half-written.** An append that fails (a full disk) is cut back to where it started, so no
partial row is left; ``metadata.json`` is replaced atomically and its temporary file removed on failure. A
torn last line from a kill mid-write is cut by the next owner (:meth:`RunFolder.repair`), reported, and skipped
by readers (with a :class:`~rnnbench.errors.DataWarning` naming the file) — readers never write.

All times are seconds and all memory bytes; units are a display concern.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import re
import secrets
import shutil
import socket
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rnnbench.errors import ConfigError, FolderInUseError, SchemaError, StorageError
from rnnbench.results.schema import SCHEMA_VERSION, TABLES, columns_of
from rnnbench.results.tables import CsvAppender, remove_quietly, write_all

OWNER_LOCK = ".owner.lock"
"""The folder's ownership lock (hidden; removed on release); holds the owner's PID, host and start time."""
WRITE_LOCK = ".write.lock"
"""Serialises appends from the owner's own processes (a GPU pool's workers); removed on release."""
_LEGACY_LOCKS = ("summary.csv.lock", "samples.csv.lock", "curves.csv.lock", "train_summary.csv.lock",
                 "ddp.csv.lock", "metadata.json.lock")  # fmt: skip
"""Empty per-file lock files that releases before this one left in every folder; the next owner removes them."""

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_run_id(now: _dt.datetime | None = None) -> str:
    """``20261123-053210-a1b2``: sortable by time, unique across concurrent runs."""
    now = now or _dt.datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    """A run id names one folder inside ``--output``: one path component of letters, digits, ``.``, ``_``
    and ``-`` (not starting with ``.`` or ``-``), at most 128 characters — never ``..``, ``a/b`` or a
    hidden name."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise ConfigError(
            f"--run-id {run_id!r} is not a folder name rnnbench accepts: use one name of letters, digits, "
            "'.', '_' and '-' that starts with a letter or digit (at most 128 characters), e.g. 'gpu-shard1'; "
            "choose where it goes with --output."
        )
    return run_id


# ---- locks ---------------------------------------------------------------------------------------------
def _file_lock(path: Path, timeout: float, thread_local: bool = True) -> Any:
    from filelock import FileLock

    return FileLock(str(path), timeout=timeout, thread_local=thread_local)


def read_owner(folder: Path) -> dict[str, Any]:
    """The owner record of ``folder`` (PID, host, command, since); empty when there is none."""
    try:
        data = json.loads((Path(folder) / OWNER_LOCK).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _in_use_message(folder: Path, owner: Mapping[str, Any]) -> str:
    if owner.get("pid"):
        who = f"PID {owner['pid']}"
        details = [str(owner[k]) for k in ("command",) if owner.get(k)]
        if owner.get("host") and owner.get("host") != socket.gethostname():
            details.append(f"on {owner['host']}")
        if owner.get("since"):
            details.append(f"since {owner['since']}")
        who += f" ({', '.join(details)})" if details else ""
    else:
        who = "another process"
    return (
        f"{folder} is in use by {who}; wait for it to finish or stop it, then continue with --resume "
        f"{folder} (one process at a time writes a run folder)."
    )


class _Ownership:
    """The held ownership lock of one folder; ``close`` releases it and removes the lock files. One per folder
    and process (``_HELD``): the lock keeps other processes out, while the objects of one process that open
    the same folder (``start_run`` then ``open_run``) share it, ``holders`` counting their ``acquire``s."""

    def __init__(self, folder: Path, command: str | None) -> None:
        self.holders = 0
        self.folder = folder
        self.path = folder / OWNER_LOCK
        self.lock = _file_lock(self.path, timeout=0.2, thread_local=False)
        try:
            self.lock.acquire()
        except OSError as exc:
            from filelock import Timeout

            if isinstance(exc, Timeout):
                raise FolderInUseError(_in_use_message(folder, read_owner(folder))) from None
            raise StorageError(
                folder, exc, "lock", "resume or write it from a location you can write to"
            ) from exc
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or "",
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        with contextlib.suppress(OSError):  # the record only informs the "in use" message
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, 0)
                write_all(fd, (json.dumps(record) + "\n").encode())
            finally:
                os.close(fd)
        for name in _LEGACY_LOCKS:  # leftovers of older releases: empty, safe to delete
            legacy = folder / name
            with contextlib.suppress(OSError):
                if legacy.stat().st_size == 0:
                    legacy.unlink()
        self.closed = False

    def close(self) -> None:
        """Remove the lock files, then release: removing first means a process that opened the old file
        finds it unlinked and retries on a fresh one, so two processes never both believe they own it."""
        if self.closed:
            return
        self.closed = True
        remove_quietly(self.folder / WRITE_LOCK)
        remove_quietly(self.path)
        with contextlib.suppress(OSError):
            self.lock.release(force=True)

    def __del__(self) -> None:  # a folder dropped without release() (a library caller, a test)
        with contextlib.suppress(Exception):
            self.close()


_HELD: weakref.WeakValueDictionary[str, _Ownership] = weakref.WeakValueDictionary()
"""The folders this process owns, by real path (an entry goes when no ``RunFolder`` refers to it)."""


# ---- the folder ------------------------------------------------------------------------------------------
class RunFolder:
    """One invocation's folder: metadata plus appendable tables, owned by one process at a time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._owner: _Ownership | None = None
        self._write_lock: Any = None

    @property
    def run_id(self) -> str:
        return str(self.read_metadata().get("run_id", self.path.name))

    # ---- ownership
    def acquire(self, command: str | None = None) -> RunFolder:
        """Make this process the folder's only writer (re-entrant: for this object, and shared with other
        objects of this process on the same folder). Raises ``FolderInUseError`` (exit 2, naming the owner's
        PID) while another live process owns it; a dead owner's lock does not count."""
        if self._owner is not None and not self._owner.closed:
            return self
        key = os.path.realpath(self.path)
        owner = _HELD.get(key)
        if owner is None or owner.closed:
            owner = _Ownership(self.path, command or _command_text())
            _HELD[key] = owner
        owner.holders += 1
        self._owner = owner
        return self

    def release(self) -> None:
        """Give the folder up (idempotent); the last holder in this process releases the lock and removes the
        lock files."""
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.holders -= 1
            if owner.holders <= 0:
                owner.close()
        self._write_lock = None

    @property
    def owned(self) -> bool:
        return self._owner is not None and not self._owner.closed

    @contextlib.contextmanager
    def owning(self, command: str | None = None) -> Iterator[RunFolder]:
        """``with folder.owning(): …`` — acquire, then release whatever happens."""
        self.acquire(command)
        try:
            yield self
        finally:
            self.release()

    @classmethod
    def create(
        cls, root: Path, metadata: dict[str, Any], run_id: str | None = None, command: str | None = None
    ) -> RunFolder:
        """A new folder ``root/<run-id>``, owned by this process (``release`` it when done), with its metadata.
        ``run_id`` must be one safe folder name (``check_run_id``)."""
        run_id = check_run_id(run_id) if run_id is not None else new_run_id()
        root = Path(root)
        path = root / run_id
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(root, exc, "create the results folder", "choose another --output") from exc
        try:
            path.mkdir()
        except FileExistsError:
            refuse_existing(path)
        except OSError as exc:
            raise StorageError(path, exc, "create", "choose a writable --output") from exc
        folder = cls(path)
        try:
            folder.acquire(command)
        except BaseException:
            with contextlib.suppress(OSError):
                path.rmdir()  # only while it is still empty
            raise
        try:
            folder.write_metadata({"schema_version": SCHEMA_VERSION, "run_id": run_id, **metadata})
        except BaseException:
            folder.release()
            with contextlib.suppress(OSError):  # ours and holding nothing worth keeping
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
            raise
        return folder

    @classmethod
    def open_existing(cls, path: Path | str, own: bool = False, command: str | None = None) -> RunFolder:
        """An existing run folder; ``own=True`` (resume) makes this process its only writer."""
        folder = cls(Path(path))
        if not (folder.path / "metadata.json").exists():
            raise SchemaError(
                f"{folder.path}: no metadata.json here, so this is not an rnnbench run folder; "
                "pass the folder that 'rnnbench run' created (results/<run-id>)."
            )
        if own:
            folder.acquire(command)
        return folder

    def repair(self) -> list[str]:
        """Owner only: cut the torn last line of every table (a kill mid-write) and remove temporary files
        a killed writer left. Returns one warning per file changed."""
        notes = []
        for name in TABLES:
            if (self.path / f"{name}.csv").exists():
                note = self.table(name).repair()
                if note:
                    notes.append(note)
        for tmp in (self.path / "metadata.json.tmp", *self.path.glob(".*.tmp")):
            if tmp.exists():
                remove_quietly(tmp)
        return notes

    # ---- metadata
    def _writes(self) -> Any:
        if self._write_lock is None:
            self._write_lock = _file_lock(self.path / WRITE_LOCK, timeout=-1)
        return self._write_lock

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        """Replace ``metadata.json`` atomically (temporary file, fsync, rename). On a full disk, where the
        temporary file cannot be written, a change that does not grow the file (such as marking the run
        failed) is written in place, so the status never stays ``running`` after a failure."""
        target = self.path / "metadata.json"
        tmp = self.path / "metadata.json.tmp"
        data = (json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n").encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as exc:
            remove_quietly(tmp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) and self._write_in_place(target, data):
                return
            raise StorageError(target, exc) from exc

    @staticmethod
    def _write_in_place(target: Path, data: bytes) -> bool:
        try:
            if not target.exists() or target.stat().st_size < len(data):
                return False
            fd = os.open(target, os.O_WRONLY)
            try:
                write_all(fd, data)
                os.ftruncate(fd, len(data))
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        except OSError:
            return False

    def read_metadata(self) -> dict[str, Any]:
        path = self.path / "metadata.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StorageError(path, exc, "read") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SchemaError(f"{path}: not valid JSON ({exc}); restore or delete the file.") from exc
        if not isinstance(data, dict):
            raise SchemaError(f"{path}: expected a JSON object.")
        return data

    def update_metadata(self, **changes: Any) -> None:
        """Read-modify-write under the folder's write lock (concurrent workers update calibration and
        status)."""
        lock = self._writes()
        try:
            lock.acquire()
        except OSError as exc:
            raise StorageError(self.path / WRITE_LOCK, exc, "lock") from exc
        try:
            data = self.read_metadata()
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key] = {**data[key], **value}  # merge maps such as calibration
                else:
                    data[key] = value
            self.write_metadata(data)
        finally:
            lock.release()

    def mark(self, status: str, **changes: Any) -> None:
        """Record ``status`` (``failed``, ``interrupted``) on the way out of a failure: best effort, never
        raising, so the original error is the one reported."""
        with contextlib.suppress(Exception):
            self.update_metadata(status=status, **changes)

    def table(self, name: str) -> CsvAppender:
        return CsvAppender(
            self.path / f"{name}.csv",
            TABLES[name],
            lock=self._writes(),
            numeric=columns_of(name, "int", "float"),
        )


def refuse_existing(path: Path) -> None:
    """A new run may not reuse ``path``: ``FolderInUseError`` (naming the PID) while a live process owns it,
    else ``ConfigError`` (already exists). Nothing happens when ``path`` does not exist."""
    path = Path(path)
    if not path.exists():
        return
    if (path / OWNER_LOCK).exists():
        probe = RunFolder(path)
        with contextlib.suppress(StorageError):
            probe.acquire()  # raises FolderInUseError while its owner lives
        probe.release()
    raise ConfigError(f"{path} already exists; pick another --run-id, or continue it with --resume {path}.")


def check_output(root: Path | str, run_id: str | None = None, need_bytes: int = 0) -> None:
    """Everything about a new run folder ``root/<run-id>`` that can be checked without creating anything,
    so the CLI can refuse in one line before it announces a plan or asks a question: the run id is one
    safe name and not taken, the nearest existing folder on the way is a folder this process may write
    into (``EROFS`` on a read-only mount, ``EACCES`` otherwise), and its file system has ``need_bytes``
    free (a lower bound of what the run writes: a run that cannot finish is refused before it starts).

    Raises ``ConfigError``/``FolderInUseError`` (the run id) or ``StorageError`` (the file system), as
    ``RunFolder.create`` would; creating the folder remains the real test (another process may take the
    run id in between, and ``create`` then refuses as before)."""
    root = Path(root)
    if run_id is not None:
        refuse_existing(root / check_run_id(run_id))
    existing = root
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    doing = "create the results folder"
    if not existing.is_dir():
        raise StorageError(
            root, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), doing, "choose another --output"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
        code = errno.EROFS if read_only else errno.EACCES
        raise StorageError(root, OSError(code, os.strerror(code)), doing, "choose another --output")
    free = shutil.disk_usage(existing).free
    if need_bytes > 0 and free < need_bytes:
        raise StorageError(
            root,
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
            "write a run under",
            f"{_kib(free)} free, and this run writes at least {_kib(need_bytes)}; nothing was created",
        )


def _kib(size: int) -> str:
    """``1000 B``, ``2.2 KiB``, ``3.4 MiB``: the free space and the need, in the message."""
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KiB" if size < 1024**2 else f"{size / 1024**2:.1f} MiB"


def _command_text() -> str:
    import sys

    argv = list(sys.argv)
    if argv and argv[0].endswith(("rnnbench", "__main__.py")):
        argv[0] = "rnnbench"
    return " ".join(argv)[:200]


def remove_tree(path: Path) -> None:
    """Remove a folder this process created and could not finish (best effort)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)

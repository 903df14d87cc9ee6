"""The writer's side of a model_dir: a lock, leftovers of killed runs, clear errors.

tf.estimator had no lock: two processes training into one model_dir silently interleaved their
checkpoints (the last `checkpoint` state file won, the other's files stayed unlisted). Here the
process that writes checkpoints (the chief) holds `model_dir/keras_spec.lock` (host, pid, since
when) while it trains or saves; a second writer gets an error naming the holder, and a lock
whose holder is dead is taken over with a warning. The lock is re-entrant within a process.

Whoever takes the lock also removes what a killed run of ours (or of tf.estimator's Saver) left:
`*.tempstate<N>` data files and `checkpoint.tmp<hex>` state files (TF's atomic writers), lock
temp files, and checkpoint files not listed in the `checkpoint` state file that no completed
save committed (newer than the latest listed one, or partially deleted older ones). Complete
unlisted checkpoints older than the latest listed one are kept: keep_checkpoint_every_n_hours
leaves those on purpose. Holding the lock means no live writer of ours is writing there.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import logging
import os
import re
import socket
import threading
from typing import Iterator

import tensorflow as tf

from adapters.tf1 import checkpoint_state

_log = logging.getLogger("keras_spec")

LOCK_NAME = "keras_spec.lock"
_TEMPSTATE = re.compile(r"\.tempstate\d+$")
_STATE_TMP = re.compile(r"^checkpoint\.tmp[0-9a-f]+$")
_LOCK_TMP = re.compile(r"^" + re.escape(LOCK_NAME) + r"\.(\d+)\.tmp$")
_CKPT_FILE = re.compile(r"^(.+-\d+)(\.index|\.meta|\.data-\d{5}-of-\d{5})$")


class ModelDirError(OSError):
    """model_dir (or export_dir_base) cannot be used: a file, unwritable, or the disk is full."""


class ModelDirLockedError(RuntimeError):
    """Another live process holds model_dir's writer lock."""


def _is_local(path: str) -> bool:
    return "://" not in path


def describe_os_error(error: BaseException) -> str:
    """Why a write failed, in words (a full disk is named as such)."""
    text = str(error)
    if isinstance(error, OSError) and error.errno == errno.ENOSPC or "No space left" in text:
        return "the disk is full (No space left on device)"
    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM) or (
            "Permission denied" in text):
        return "permission denied"
    if isinstance(error, OSError) and error.errno == errno.EROFS or "Read-only file" in text:
        return "the file system is read-only"
    return text.strip().splitlines()[-1][:300] if text.strip() else type(error).__name__


def check_directory(path: str, role: str = "model_dir") -> None:
    """`path` is (or can be made) a writable directory; else ModelDirError naming it."""
    path = os.fspath(path)
    if not _is_local(path):
        tf.io.gfile.makedirs(path)
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise ModelDirError(f"{role} '{path}' is a file, not a directory: pass a "
                                           "directory path (it is created if missing)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ModelDirError(f"{role} '{path}' cannot be created: "
                                     f"{describe_os_error(e)}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ModelDirError(f"{role} '{path}' is not writable by this process "
                                          "(permission denied)")


# ---------------------------------------------------------------------------------------------
# The writer lock
# ---------------------------------------------------------------------------------------------
_held: dict[str, int] = {}  # absolute model_dir -> depth, in this process
_held_lock = threading.Lock()


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux /proc), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else fields[19]  # a zombie is dead
    except (OSError, IndexError):
        return None


def _holder_alive(holder: dict) -> bool | None:
    """True/False for a holder on this host; None when it runs on another host."""
    if holder.get("host") != socket.gethostname():
        return None
    pid = int(holder.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if os.path.exists("/proc/self/stat"):
        start = _process_start(pid)
        return start is not None and start == holder.get("start", start)
    return True


def process_gone(host: str, pid: int) -> bool:
    """Whether process `pid` on `host` is known to have ended (decidable on this host only)."""
    return pid != os.getpid() and _holder_alive({"host": host, "pid": pid}) is False


def _read_holder(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    return (f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, since "
            f"{holder.get('since', '?')}")


def _my_record() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "start": _process_start(os.getpid()),
            "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _acquire(model_dir: str) -> None:
    lock = os.path.join(model_dir, LOCK_NAME)
    temp = f"{lock}.{os.getpid()}.tmp"
    try:
        with open(temp, "w") as f:
            json.dump(_my_record(), f)
        for _ in range(3):
            try:
                os.link(temp, lock)  # atomic: fails when a lock file exists
                return
            except FileExistsError:
                pass
            holder = _read_holder(lock)
            alive = _holder_alive(holder) if holder else False
            if holder and int(holder.get("pid", -1)) == os.getpid() and holder.get(
                    "host") == socket.gethostname():
                alive = False  # ours, left by an earlier run of this process
            if alive is None or alive:
                raise ModelDirLockedError(
                    f"model_dir '{model_dir}' is being written by another process ("
                    f"{_describe(holder)}; lock file '{lock}'). Two writers would interleave "
                    "their checkpoints. Wait for it to finish, use another model_dir, or, if "
                    f"that process is no longer running, delete '{lock}'.")
            if not holder and os.path.exists(lock):
                holder = {"pid": "?"}
            _log.warning("Taking over the model_dir lock '%s' of a process that is no longer "
                         "running (%s).", lock, _describe(holder))
            os.replace(temp, lock)
            if _read_holder(lock).get("pid") == os.getpid():
                return
            with open(temp, "w") as f:
                json.dump(_my_record(), f)
        raise ModelDirLockedError(f"Could not take the model_dir lock '{lock}' (contended).")
    except OSError as e:
        if isinstance(e, ModelDirError):
            raise
        raise ModelDirError(f"Cannot write the lock file in model_dir '{model_dir}': "
                                     f"{describe_os_error(e)}") from None
    finally:
        with contextlib.suppress(OSError):
            os.remove(temp)


def _release(model_dir: str) -> None:
    lock = os.path.join(model_dir, LOCK_NAME)
    holder = _read_holder(lock)
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        with contextlib.suppress(OSError):
            os.remove(lock)


@contextlib.contextmanager
def writer_lock(model_dir: str) -> Iterator[None]:
    """Hold model_dir's writer lock (re-entrant in this process); the first taker cleans up."""
    model_dir = os.fspath(model_dir)
    if not _is_local(model_dir):
        yield  # no atomic link on remote file systems: no lock there
        return
    key = os.path.abspath(model_dir)
    check_directory(model_dir)
    with _held_lock:
        first = _held.get(key, 0) == 0
        if first:
            _acquire(model_dir)
        _held[key] = _held.get(key, 0) + 1
    try:
        if first:
            remove_leftovers(model_dir)
        yield
    finally:
        with _held_lock:
            _held[key] -= 1
            if _held[key] == 0:
                del _held[key]
                _release(model_dir)


# ---------------------------------------------------------------------------------------------
# Leftovers of killed runs
# ---------------------------------------------------------------------------------------------
def _lock_tmp_is_stale(name: str) -> bool:
    return process_gone(socket.gethostname(), int(_LOCK_TMP.match(name).group(1)))


def remove_leftovers(model_dir: str) -> list[str]:
    """Remove a killed run's temp and uncommitted checkpoint files (call with the lock held)."""
    try:
        names = os.listdir(model_dir)
    except OSError:
        return []
    doomed = [n for n in names if _TEMPSTATE.search(n) or _STATE_TMP.match(n)
              or (_LOCK_TMP.match(n) and _lock_tmp_is_stale(n))]
    state = checkpoint_state.read_state(model_dir)
    if state.exists and state.problem is None:
        listed = {os.path.basename(p) for p in state.listed}
        newest = max((checkpoint_state.step_of(p) or 0 for p in state.listed), default=0)
        files: dict[str, list[str]] = {}
        for name in names:
            match = _CKPT_FILE.match(name)
            if match and not _TEMPSTATE.search(name):
                files.setdefault(match.group(1), []).append(match.group(2))
        for prefix, parts in files.items():
            step = checkpoint_state.step_of(prefix)
            if prefix in listed or step is None:
                continue
            has_data = any(p.startswith(".data-") for p in parts)
            complete = ".index" in parts and has_data
            if step > newest or not complete:
                doomed += [prefix + part for part in parts]
    removed = []
    for name in doomed:
        path = os.path.join(model_dir, name)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
            removed.append(path)
    if removed:
        _log.warning("Removed %d file(s) an interrupted earlier run left in %s: %s", len(removed),
                     model_dir, sorted(os.path.basename(p) for p in removed)[:20])
    return removed

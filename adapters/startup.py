"""A quiet TensorFlow start for keras-spec's entry points (examples, benchmarks, command lines).

Importing TensorFlow 2.21 on a machine without an NVIDIA driver prints, besides its info lines,
`E0000 ... failed call to cuInit: INTERNAL: CUDA error: ... UNKNOWN ERROR (303)` and absl's
start banner twice. The "error" is only TensorFlow finding no GPU; users read it as a failure.
`import_tensorflow()` imports TensorFlow and lists its devices (where that line is printed)
with the process's stderr captured at the file-descriptor level (TensorFlow's C++ logging
bypasses Python), then writes back every captured line except the cuInit line on a machine
with no NVIDIA driver, and each repeated banner line once. Warnings and errors stay visible;
info lines are hidden unless the user set TF_CPP_MIN_LOG_LEVEL. Nothing here imports
TensorFlow at module level, so `--help` can answer before it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from types import ModuleType

_CUDA_INIT_ERROR = re.compile(r"failed call to cuInit")
# glog/absl prefix: severity letter, date/time, thread id, file:line] — differs per repetition.
_LOG_PREFIX = re.compile(r"^[IWEF]\d{4} [\d:. ]+\s+\d+ ")
_ABSL_PRE_INIT_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA kernel driver (only then is a cuInit failure news)."""
    return os.path.exists("/proc/driver/nvidia/version") or any(
        name.startswith("nvidia") for name in _safe_listdir("/dev"))


def _safe_listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def filter_start_lines(lines: list[str], driver_present: bool, show_info: bool) -> list[str]:
    """The captured start-up lines worth showing: no cuInit line without a driver, no repeats,
    no info lines unless asked for (TensorFlow prints its first ones before it reads
    TF_CPP_MIN_LOG_LEVEL, together with absl's notice that it does so)."""
    kept, seen = [], set()
    for line in lines:
        if not driver_present and _CUDA_INIT_ERROR.search(line):
            continue
        if not show_info and (line.startswith("I") and _LOG_PREFIX.match(line)
                              or line.startswith(_ABSL_PRE_INIT_NOTICE)):
            continue
        key = _LOG_PREFIX.sub("", line)
        if key in seen:
            continue
        seen.add(key)
        kept.append(line)
    return kept


@contextlib.contextmanager
def _captured_stderr_fd():
    """Collects what is written to file descriptor 2 (C++ logs included) inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        lines: list[str] = []
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode("utf-8", "replace").splitlines(keepends=True))


def import_tensorflow() -> ModuleType:
    """Imports TensorFlow once, quietly as described in the module doc, and returns it."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # info lines off; warnings, errors on
    lines: list[str] = []
    try:
        with _captured_stderr_fd() as lines:  # filled when the block ends
            import tensorflow as tf  # pylint: disable=import-outside-toplevel
            tf.config.list_physical_devices()  # the CUDA platform initializes (and logs) here
    finally:
        show_info = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() in ("", "0")
        sys.stderr.writelines(filter_start_lines(lines, nvidia_driver_present(), show_info))
        sys.stderr.flush()
    return tf

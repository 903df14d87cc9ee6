"""Is a model_dir's latest checkpoint intact, and if not, which one is?

TensorFlow's `tf.train.latest_checkpoint` answers None when the latest checkpoint's `.index` is
gone or the `checkpoint` state file is garbled, which made a resumed run start again from step 0
(and its keep-N policy then delete the intact older checkpoints) and evaluate/predict run on
initial weights. Here a damaged latest checkpoint is always reported: `latest(model_dir,
purpose)` raises for what would write (train, an explicit restore, warm start) and falls back to
the newest intact listed checkpoint, with a WARNING, for what only reads (evaluate, predict,
export). See docs/checkpoint_safety.md.

A checkpoint is intact when its `.index` reads, every data shard named by the index exists, and
the shards hold at least the bytes its numeric tensors need (a truncated `.data` file fails
that check without reading the tensors).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

import tensorflow as tf
from google.protobuf import text_format

_log = logging.getLogger("keras_spec")

STATE_FILE = "checkpoint"
_STEP = re.compile(r"-(\d+)$")
_DATA_SHARD = re.compile(r"^\.data-(\d{5})-of-(\d{5})$")

# Purposes that write into model_dir or were asked for one checkpoint: a damaged latest raises.
RAISE_PURPOSES = ("train", "restore", "warm start")
# Purposes that only read: fall back to the newest intact listed checkpoint, with a WARNING.
FALLBACK_PURPOSES = ("evaluate", "predict", "export")


class CheckpointError(ValueError):
    """A checkpoint does not fit the model_fn's variables, or cannot be read."""


class DamagedCheckpointError(CheckpointError):
    """The latest checkpoint of a model_dir (or its `checkpoint` state file) is damaged."""


def step_of(prefix: str) -> int | None:
    """The global step in a checkpoint prefix's name (`model.ckpt-30` -> 30)."""
    match = _STEP.search(os.path.basename(prefix))
    return int(match.group(1)) if match else None


def _checkpoint_state_proto() -> type:
    """CheckpointState, TF's proto for the `checkpoint` file (parsed here because TF's own reader
    turns a garbled file into None). Private module, checked on TF 2.21."""
    from tensorflow.python.training.checkpoint_state_pb2 import CheckpointState  # pylint: disable=g-import-not-at-top

    return CheckpointState


@dataclass
class State:
    """What model_dir's `checkpoint` state file says (paths made absolute)."""

    exists: bool
    latest: str | None = None
    listed: list[str] = field(default_factory=list)  # oldest first
    problem: str | None = None  # why the file cannot be used


def read_state(model_dir: str) -> State:
    """Parse model_dir/checkpoint; a garbled file gives `problem` instead of an exception."""
    path = os.path.join(model_dir, STATE_FILE)
    if not tf.io.gfile.exists(path):
        return State(exists=False)
    try:
        text = tf.io.gfile.GFile(path, "r").read()
        state = text_format.Parse(text, _checkpoint_state_proto()())
    except (text_format.ParseError, UnicodeDecodeError, tf.errors.OpError) as e:
        return State(exists=True, problem=f"its `checkpoint` state file '{path}' cannot be parsed "
                                          f"({str(e).splitlines()[0][:200]})")
    if not state.model_checkpoint_path:
        return State(exists=True, problem=f"its `checkpoint` state file '{path}' names no "
                                          "model_checkpoint_path")

    def absolute(p: str) -> str:
        return p if os.path.isabs(p) or "://" in p else os.path.join(model_dir, p)

    listed = [absolute(p) for p in state.all_model_checkpoint_paths]
    latest = absolute(state.model_checkpoint_path)
    if latest not in listed:
        listed.append(latest)
    return State(exists=True, latest=latest, listed=listed)


def scan(model_dir: str) -> list[str]:
    """Checkpoint prefixes `<name>-<step>` with an `.index` file in model_dir, oldest first."""
    try:
        names = tf.io.gfile.listdir(model_dir)
    except tf.errors.OpError:
        return []
    prefixes = [os.path.join(model_dir, n[:-len(".index")]) for n in names
                if n.endswith(".index") and step_of(n[:-len(".index")]) is not None]
    return sorted(prefixes, key=lambda p: (step_of(p), p))


def _numeric_bytes(reader) -> int:
    """A lower bound of a checkpoint's data bytes: what its numeric tensors need."""
    total = 0
    dtypes = reader.get_variable_to_dtype_map()
    for name, shape in reader.get_variable_to_shape_map().items():
        dtype = tf.as_dtype(dtypes[name])
        if dtype == tf.string or dtype.size is None:
            continue
        count = 1
        for dim in shape:
            count *= int(dim)
        total += count * dtype.size
    return total


def problem_of(prefix: str) -> str | None:
    """What is wrong with checkpoint `prefix` (None when intact)."""
    index = prefix + ".index"
    if not tf.io.gfile.exists(index):
        return f"its index file '{index}' is missing"
    try:
        reader = tf.train.load_checkpoint(prefix)
        needed = _numeric_bytes(reader)
    except Exception as e:  # pylint: disable=broad-except  (any reader failure is damage)
        return f"its index file '{index}' cannot be read ({str(e).splitlines()[0][:200]})"
    directory, base = os.path.split(prefix)
    shards: dict[int, str] = {}
    count = None
    for name in tf.io.gfile.listdir(directory or "."):
        match = _DATA_SHARD.match(name[len(base):]) if name.startswith(base) else None
        if match:
            shards[int(match.group(1))] = os.path.join(directory, name)
            count = int(match.group(2))
    if count is None:
        return f"its data file '{prefix}.data-00000-of-00001' is missing"
    missing = [f"{prefix}.data-{i:05d}-of-{count:05d}" for i in range(count) if i not in shards]
    if missing:
        return f"its data file(s) {missing} are missing"
    held = sum(tf.io.gfile.stat(path).length for path in shards.values())
    if held < needed:
        return (f"its data file(s) hold {held} bytes but its variables need at least {needed} "
                "(truncated)")
    return None


@dataclass
class Findings:
    """The latest checkpoint of a model_dir and, if it is damaged, the newest intact one."""

    latest: str | None
    problem: str | None = None  # what is wrong with `latest` (or the state file)
    intact: str | None = None  # the newest intact checkpoint when `latest` is damaged


def inspect(model_dir: str) -> Findings:
    """Check model_dir's latest checkpoint (and state file) without restoring anything."""
    state = read_state(model_dir)
    if state.exists and state.problem is None:
        candidates, latest = state.listed, state.latest
        problem = problem_of(latest)
    else:
        candidates = scan(model_dir)
        if not candidates and not state.exists:
            return Findings(latest=None)  # a fresh model_dir
        latest = candidates[-1] if candidates else None
        problem = state.problem or (
            f"model_dir has checkpoint files ({os.path.basename(latest)} ...) but no "
            f"`checkpoint` state file listing them")
    if problem is None:
        return Findings(latest=latest)
    intact = next((p for p in reversed(candidates) if problem_of(p) is None), None)
    return Findings(latest=latest, problem=problem, intact=intact)


def latest(model_dir: str, purpose: str) -> str | None:
    """model_dir's latest intact checkpoint prefix for `purpose`; None in a fresh model_dir.

    A damaged latest checkpoint raises DamagedCheckpointError for RAISE_PURPOSES; for
    FALLBACK_PURPOSES the newest intact listed checkpoint is used with a WARNING (and without
    any intact one, it raises: nothing runs on initial weights by accident).
    """
    findings = inspect(model_dir)
    if findings.problem is None:
        return findings.latest
    where = (f"The latest checkpoint '{findings.latest}' in '{model_dir}' is damaged"
             if findings.latest else f"model_dir '{model_dir}' is damaged")
    message = f"{where}: {findings.problem}."
    if findings.intact is not None:
        intact_step = step_of(findings.intact)
        message += f" The newest intact checkpoint is '{findings.intact}' (global step {intact_step})."
    else:
        message += " No intact checkpoint is left in it."
    if purpose in FALLBACK_PURPOSES and findings.intact is not None:
        _log.warning("%s Using it to %s.", message, purpose)
        return findings.intact
    advice = (f" To continue from the newest intact checkpoint, move the damaged checkpoint's "
              f"files out of '{model_dir}' and make it the latest: tf.train."
              f"update_checkpoint_state('{model_dir}', '{findings.intact}'); or pass "
              f"checkpoint_path='{findings.intact}' to evaluate/predict/export."
              if findings.intact else
              f" Use another model_dir to start from scratch, or restore the files from a backup.")
    if purpose == "train":
        message += (" keras-spec stops here instead of training from step 0, which would also let "
                    "the keep-N policy delete the intact checkpoints.")
    raise DamagedCheckpointError(message + advice)


def check_prefix(prefix: str) -> None:
    """An explicitly given checkpoint prefix must be intact (raises naming the problem)."""
    problem = problem_of(prefix)
    if problem is not None:
        raise DamagedCheckpointError(f"Checkpoint '{prefix}' is damaged: {problem}.")


def read_error(prefix: str, error: Exception) -> CheckpointError:
    """A restore failure from deep inside TensorFlow, as an error naming the checkpoint."""
    problem = problem_of(prefix)
    detail = str(error).strip().splitlines()
    detail = next((line for line in detail if line.strip() and "{{function_node" not in line),
                  detail[0] if detail else type(error).__name__)
    what = problem or f"TensorFlow could not read it ({type(error).__name__}: {detail[:300]})"
    return DamagedCheckpointError(f"Could not restore checkpoint '{prefix}': {what}.")

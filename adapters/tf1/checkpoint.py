"""Name-based (TF1) checkpoints of a model_fn's variables.

tf.estimator's Saver wrote `model_dir/model.ckpt-<step>` keyed by TF1 variable names
(`global_step`, `dense/kernel`, `dense/kernel/Adam`...), which `tf.train.list_variables` shows
and other TF1 tools read. `tf.compat.v1.train.Saver` still writes and reads that format eagerly
when given an explicit name -> variable map, so existing tf.estimator model_dirs restore as they
are. Saving goes through TF's own atomic writer and the `checkpoint` state file.

Which variables, under which names, and how many checkpoints are kept follow the model's Saver
as TF1 did: the spec's `Scaffold.saver` (its var_list, max_to_keep and
keep_checkpoint_every_n_hours), else the Estimator facade's (RunConfig's keep_checkpoint_max and
keep_checkpoint_every_n_hours), else all global variables with the given `max_to_keep`. A
Scaffold saver with a var_list also decides what a restore reads (the rest keeps its values).
"""

from __future__ import annotations

import os
import threading
import weakref

import tensorflow as tf

from adapters.tf1 import checkpoint_state
from adapters.tf1 import model_dir as model_dir_lib
from adapters.tf1 import scaffold as scaffold_lib
from adapters.tf1.checkpoint_state import CheckpointError, DamagedCheckpointError
from adapters.tf1.saver import SaverSettings, quiet_saver_logs
from adapters.tf1.world import TF1World

__all__ = ["CheckpointError", "DamagedCheckpointError", "checkpoint_settings",
           "restore_checkpoint", "save_checkpoint"]


def _resolve(path: str) -> str:
    """A checkpoint prefix from a prefix or a directory (its latest checkpoint, which must be
    intact: see checkpoint_state)."""
    path = os.fspath(path)
    if tf.io.gfile.isdir(path):
        latest = checkpoint_state.latest(path, "restore")
        if latest is None:
            raise CheckpointError(f"No checkpoint found in directory '{path}'.")
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise CheckpointError(f"'{path}' is neither a checkpoint prefix (no '{path}.index') "
                              "nor a directory with a 'checkpoint' file.")
    checkpoint_state.check_prefix(path)
    return path


def _is_distributed(variable: tf.Variable) -> bool:
    return isinstance(variable, tf.distribute.DistributedValues)


def _savable(variables: dict) -> dict:
    """compat.v1 Saver only takes plain resource variables: a variable created under a
    strategy is saved from its first local copy (all copies hold the same value)."""
    return {name: v.values[0] if _is_distributed(v) else v for name, v in variables.items()}


# One eager Saver per (model, directory, settings): a Saver keeps one checkpoint every
# keep_checkpoint_every_n_hours by the time it was created, as TF1's did for a session.
_savers: "weakref.WeakKeyDictionary[TF1World, dict]" = weakref.WeakKeyDictionary()
_savers_lock = threading.Lock()


def _saver_for(world: TF1World, model_dir: str, basename: str, variables: dict,
               settings: SaverSettings) -> tf.compat.v1.train.Saver:
    key = (os.path.abspath(model_dir), basename, tuple(sorted(variables)),
           tuple(id(v) for _, v in sorted(variables.items())), settings.max_to_keep or 0,
           settings.keep_checkpoint_every_n_hours)
    with _savers_lock:
        per_world = _savers.setdefault(world, {})
        saver = per_world.get(key)
        if saver is None:
            with quiet_saver_logs():
                saver = tf.compat.v1.train.Saver(
                    var_list=variables, max_to_keep=settings.max_to_keep or 0,
                    keep_checkpoint_every_n_hours=settings.keep_checkpoint_every_n_hours,
                    save_relative_paths=True)
            per_world[key] = saver
        return saver


def checkpoint_settings(world: TF1World, max_to_keep: int | None = 5,
                        saver: SaverSettings | None = None) -> SaverSettings:
    """The Saver settings a checkpoint of this model follows (see module docstring)."""
    return saver or scaffold_lib.checkpoint_saver(world) or SaverSettings(max_to_keep=max_to_keep)


def save_checkpoint(world: TF1World, model_dir: str, max_to_keep: int | None = 5, *,
                    saver: SaverSettings | None = None, basename: str = "model.ckpt") -> str:
    """Write model_dir/<basename>-<global_step>; keep the newest `max_to_keep` (None: all).

    `saver` (a CheckpointSaverHook's own Saver) wins over the model's Saver (module docstring),
    which wins over `max_to_keep`.
    """
    settings = checkpoint_settings(world, max_to_keep, saver)
    variables = _savable(settings.var_list if settings.var_list is not None
                         else world.global_variables())
    step = int(world.global_step.numpy())
    model_dir = os.fspath(model_dir)
    # The writer lock (re-entrant: Estimator.train holds it for the whole run) also removes
    # what a killed earlier run left; a damaged `checkpoint` file is never overwritten here.
    with model_dir_lib.writer_lock(model_dir):
        state = checkpoint_state.read_state(model_dir)
        if state.problem is not None:
            raise DamagedCheckpointError(
                f"Not saving a checkpoint into '{model_dir}': {state.problem}. Saving would "
                "replace that file and leave the checkpoints it listed unmanaged; repair or "
                "move it first.")
        writer = _saver_for(world, model_dir, basename, variables, settings)
        target = os.path.join(model_dir, basename)
        try:
            with quiet_saver_logs():
                writer.recover_last_checkpoints(state.listed)
                return writer.save(None, target, global_step=step, write_meta_graph=False)
        except (tf.errors.OpError, OSError) as e:
            raise model_dir_lib.ModelDirError(
                f"Could not write checkpoint '{target}-{step}' in model_dir '{model_dir}': "
                f"{model_dir_lib.describe_os_error(e)}") from None


def restore_checkpoint(world: TF1World, path: str, allow_missing: bool = False) -> str:
    """Load every saved variable by TF1 name; returns the checkpoint prefix used.

    As tf.estimator did, each of the model's (non-local) variables must be in the checkpoint;
    `allow_missing=True` restores only those present (for partial/warm starts). With a
    Scaffold saver that has a var_list, those variables (under its names) are what is read.
    """
    prefix = _resolve(path)
    try:
        saved = dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as e:
        raise checkpoint_state.read_error(prefix, e) from None
    settings = scaffold_lib.checkpoint_saver(world)
    variables = (settings.var_list if settings is not None and settings.var_list is not None
                 else world.global_variables())
    if not set(variables) - {"global_step"} and set(saved) - {"global_step"}:
        raise CheckpointError(
            f"Cannot restore '{prefix}' yet: the model has no variables besides global_step "
            "(its model_fn has not run, and variables are created when it does). Call "
            "model.build_variables(dataset, mode) first, then restore_checkpoint; otherwise the "
            "weights would keep their initial values.")
    missing = sorted(set(variables) - set(saved))
    if missing and not allow_missing:
        raise CheckpointError(
            f"Checkpoint '{prefix}' lacks variables of this model_fn: {missing[:20]}"
            f"{' ...' if len(missing) > 20 else ''}. It holds: {sorted(saved)[:20]}.")
    wrong_shape = [f"{n}: checkpoint {saved[n]} vs model {v.shape.as_list()}"
                   for n, v in variables.items() if n in saved and list(saved[n]) != v.shape.as_list()]
    if wrong_shape:
        raise CheckpointError(f"Checkpoint '{prefix}' has variables of other shapes: {wrong_shape}")
    present = {n: v for n, v in variables.items() if n in saved and not _is_distributed(v)}
    try:
        if present:
            with quiet_saver_logs():
                saver = tf.compat.v1.train.Saver(var_list=present)
            saver.restore(None, prefix)
        distributed = {n: v for n, v in variables.items() if n in saved and _is_distributed(v)}
        if distributed:  # every copy gets the saved value
            reader = tf.train.load_checkpoint(prefix)
            for name, variable in distributed.items():
                variable.assign(reader.get_tensor(name))
    except (tf.errors.OpError, ValueError) as e:  # truncated or unreadable data
        raise checkpoint_state.read_error(prefix, e) from None
    return prefix

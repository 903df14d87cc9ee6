"""Name-based (TF1) checkpoints of a model_fn's variables.

tf.estimator's Saver wrote `model_dir/model.ckpt-<step>` keyed by TF1 variable names
(`global_step`, `dense/kernel`, `dense/kernel/Adam`...), which `tf.train.list_variables` shows
and other TF1 tools read. `tf.compat.v1.train.Saver` still writes and reads that format eagerly
when given an explicit name -> variable map, so existing tf.estimator model_dirs restore as they
are. Saving goes through TF's own atomic writer and the `checkpoint` state file.
"""

from __future__ import annotations

import contextlib
import logging
import os

import tensorflow as tf

from adapters.tf1_world import TF1World


class CheckpointError(ValueError):
    """A checkpoint does not fit the model_fn's variables."""


@contextlib.contextmanager
def _quiet_saver():
    """compat.v1 Saver logs a deprecation warning on every construction: keep logs readable."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _resolve(path: str) -> str:
    """A checkpoint prefix from a prefix or a directory (its latest checkpoint)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"No checkpoint found in directory '{path}'.")
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise CheckpointError(f"'{path}' is neither a checkpoint prefix (no '{path}.index') "
                              "nor a directory with a 'checkpoint' file.")
    return path


def save_checkpoint(world: TF1World, model_dir: str, max_to_keep: int | None = 5) -> str:
    """Write model_dir/model.ckpt-<global_step>; keep the newest `max_to_keep` (None: all)."""
    variables = world.global_variables()
    step = int(world.global_step.numpy())
    os.makedirs(model_dir, exist_ok=True)
    with _quiet_saver():
        saver = tf.compat.v1.train.Saver(var_list=variables, max_to_keep=max_to_keep or 0,
                                         save_relative_paths=True)
    state = tf.train.get_checkpoint_state(model_dir)
    if state is not None:
        saver.recover_last_checkpoints(list(state.all_model_checkpoint_paths))
    return saver.save(None, os.path.join(model_dir, "model.ckpt"), global_step=step,
                      write_meta_graph=False)


def restore_checkpoint(world: TF1World, path: str, allow_missing: bool = False) -> str:
    """Load every saved variable by TF1 name; returns the checkpoint prefix used.

    As tf.estimator did, each of the model's (non-local) variables must be in the checkpoint;
    `allow_missing=True` restores only those present (for partial/warm starts).
    """
    prefix = _resolve(path)
    saved = dict(tf.train.list_variables(prefix))
    variables = world.global_variables()
    missing = sorted(set(variables) - set(saved))
    if missing and not allow_missing:
        raise CheckpointError(
            f"Checkpoint '{prefix}' lacks variables of this model_fn: {missing[:20]}"
            f"{' ...' if len(missing) > 20 else ''}. It holds: {sorted(saved)[:20]}.")
    wrong_shape = [f"{n}: checkpoint {saved[n]} vs model {v.shape.as_list()}"
                   for n, v in variables.items() if n in saved and list(saved[n]) != v.shape.as_list()]
    if wrong_shape:
        raise CheckpointError(f"Checkpoint '{prefix}' has variables of other shapes: {wrong_shape}")
    present = {n: v for n, v in variables.items() if n in saved}
    with _quiet_saver():
        saver = tf.compat.v1.train.Saver(var_list=present)
    saver.restore(None, prefix)
    return prefix

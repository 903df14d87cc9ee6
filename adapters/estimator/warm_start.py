"""Warm-starting a model_fn's variables from another checkpoint, with tf.estimator's rules.

`Estimator(warm_start_from=...)` initializes variables from a checkpoint when its own model_dir
has none (a later train resumes from model_dir instead). Which variables: a single regex string
matches TRAINABLE variables only; a list of regexes matches every (global) variable, optimizer
slots and `global_step` included. Regexes are applied with `re.match` to the TF1 tensor name
(`dense/kernel:0`), as `tf.compat.v1.get_collection(key, scope)` did.
`var_name_to_prev_var_name` maps a variable to its name in the old checkpoint. TF1
`init_from_checkpoint` changed initializers; here the values are assigned directly (the
variables already exist), read with `tf.train.load_checkpoint`.
"""

from __future__ import annotations

import collections
import logging
import os
import re
from typing import Any

import tensorflow as tf

from adapters.tf1 import checkpoint_state

_log = logging.getLogger("keras_spec")
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class VocabInfo(collections.namedtuple("VocabInfo", [
        "new_vocab", "new_vocab_size", "num_oov_buckets", "old_vocab", "old_vocab_size",
        "backup_initializer", "axis"])):
    """tf.estimator.VocabInfo, so scripts that build one still run; WarmStartSettings refuses
    to remap with it (see `var_name_to_vocab_info` there)."""

    def __new__(cls, new_vocab: Any, new_vocab_size: int, num_oov_buckets: int, old_vocab: Any,
                old_vocab_size: int = -1, backup_initializer: Any = None, axis: int = 0):
        if axis not in (0, 1):
            raise ValueError(f"The only supported values for the axis argument are 0 and 1.  "
                             f"Provided axis: {axis}")
        return super().__new__(cls, new_vocab, new_vocab_size, num_oov_buckets, old_vocab,
                                old_vocab_size, backup_initializer, axis)


class WarmStartSettings(collections.namedtuple("WarmStartSettings", [
        "ckpt_to_initialize_from", "vars_to_warm_start", "var_name_to_vocab_info",
        "var_name_to_prev_var_name"])):
    """tf.estimator.WarmStartSettings (vocabulary remapping is not supported)."""

    def __new__(cls, ckpt_to_initialize_from: Any, vars_to_warm_start: Any = ".*",
                var_name_to_vocab_info: dict | None = None,
                var_name_to_prev_var_name: dict | None = None):
        if not ckpt_to_initialize_from:
            raise ValueError("`ckpt_to_initialize_from` MUST be set in WarmStartSettings")
        if var_name_to_vocab_info:
            raise NotImplementedError(
                "WarmStartSettings(var_name_to_vocab_info=...) is not supported: remapping "
                "embedding rows between vocabularies needs TF1 checkpoint_ops. Warm-start those "
                f"variables yourself; got vocab info for {sorted(var_name_to_vocab_info)}.")
        return super().__new__(cls, os.fspath(ckpt_to_initialize_from), vars_to_warm_start,
                               {}, dict(var_name_to_prev_var_name or {}))


def settings_from(warm_start_from: Any) -> WarmStartSettings | None:
    """Estimator's `warm_start_from`: None, a checkpoint / SavedModel path, or settings."""
    if warm_start_from is None:
        return None
    if isinstance(warm_start_from, WarmStartSettings):
        return warm_start_from
    if isinstance(warm_start_from, (str, bytes, os.PathLike)):
        path = os.fsdecode(warm_start_from)
        variables = os.path.join(path, "variables", "variables")
        if tf.io.gfile.exists(variables + ".index"):
            _log.info("Warm-starting from a SavedModel")
            return WarmStartSettings(ckpt_to_initialize_from=variables)
        return WarmStartSettings(ckpt_to_initialize_from=path)
    raise ValueError("warm_start_from must be a string or a WarmStartSettings, instead got "
                     f"{type(warm_start_from)}")


def checkpoint_prefix(path: str) -> str:
    """A checkpoint prefix from a prefix or a directory (its latest checkpoint)."""
    if tf.io.gfile.isdir(path):
        latest = checkpoint_state.latest(path, "warm start")  # a damaged latest raises
        if latest is None:
            raise ValueError(f"Warm-start: no checkpoint found in directory '{path}'.")
        return latest
    return path


def _selected(variables: dict[str, tf.Variable], vars_to_warm_start: Any) -> list[str]:
    """TF1 names chosen by `vars_to_warm_start` (see the module docstring)."""
    if isinstance(vars_to_warm_start, str) or vars_to_warm_start is None:
        _log.info("Warm-starting variables only in TRAINABLE_VARIABLES.")
        regexes, pool = [vars_to_warm_start], [n for n, v in variables.items() if v.trainable]
    elif isinstance(vars_to_warm_start, list):
        if all(isinstance(v, str) for v in vars_to_warm_start):
            regexes, pool = vars_to_warm_start, list(variables)
        elif all(isinstance(v, tf.Variable) for v in vars_to_warm_start):
            wanted = {v.name.split(":")[0] for v in vars_to_warm_start}
            return [n for n in variables if n in wanted]
        else:
            raise ValueError("If `vars_to_warm_start` is a list, it must be all `Variable` or all "
                             f"`str`.  Given types are {[type(v) for v in vars_to_warm_start]}")
    else:
        raise ValueError("`vars_to_warm_start must be a `list` or `str`.  Given type is "
                         f"{type(vars_to_warm_start)}")
    chosen: list[str] = []
    for regex in regexes:
        pattern = re.compile(regex) if regex is not None else None
        chosen += [n for n in pool
                   if (pattern is None or pattern.match(n + ":0")) and n not in chosen]
    return chosen


def _object_graph_names(reader: Any) -> dict[str, str]:
    """TF1 name -> key in an object-based checkpoint (a TF2 checkpoint or SavedModel variables).

    Our SavedModels keep each variable's TF1 name as its `full_name`. Empty for name-based
    (TF1 Saver) checkpoints, whose keys are the names themselves.
    """
    if not reader.has_tensor(_OBJECT_GRAPH_KEY):
        return {}
    # pylint: disable-next=g-import-not-at-top
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(_OBJECT_GRAPH_KEY))
    return {attribute.full_name: attribute.checkpoint_key
            for node in graph.nodes for attribute in node.attributes if attribute.full_name}


def warm_start(variables: dict[str, tf.Variable], settings: WarmStartSettings) -> list[str]:
    """Assign the selected `variables` (TF1 name -> variable) from the checkpoint.

    Returns the names warm-started. Raises ValueError (as tf.estimator did) for a variable the
    checkpoint lacks or holds with another shape, and for unused `var_name_to_prev_var_name`
    entries (a misspelled name would otherwise silently warm-start nothing).
    """
    prefix = checkpoint_prefix(settings.ckpt_to_initialize_from)
    _log.info("Warm-starting from: %s", prefix)
    if tf.io.gfile.exists(prefix + ".index"):
        checkpoint_state.check_prefix(prefix)  # damage is named with the path, up front
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    names = _selected(variables, settings.vars_to_warm_start)
    prev_names = dict(settings.var_name_to_prev_var_name)
    object_keys = {} if prev_names else _object_graph_names(reader)
    warm = names if settings.vars_to_warm_start else []  # None: vocab-only (unsupported)
    assignments = []
    for name in warm:
        key = prev_names.get(name) or object_keys.get(name, name)
        if key not in shapes:
            raise ValueError(f"Tensor {key} is not found in {prefix} checkpoint "
                             f"(warm-starting variable '{name}'). The checkpoint holds: "
                             f"{sorted(k for k in shapes if k != _OBJECT_GRAPH_KEY)[:20]}")
        variable = variables[name]
        if list(shapes[key]) != variable.shape.as_list():
            raise ValueError(f"Shape of variable {name} ({variable.shape.as_list()}) doesn't match "
                             f"with shape of tensor {key} ({list(shapes[key])}) from checkpoint "
                             "reader.")
        assignments.append((variable, reader.get_tensor(key)))
    unused = set(prev_names) - set(names)
    if unused:
        raise ValueError("You provided the following variables in var_name_to_prev_var_name that "
                         f"were not used: {unused}.  Perhaps you misspelled them?  Here is the "
                         f"list of viable variable names: {names}")
    for variable, value in assignments:
        variable.assign(tf.cast(value, variable.dtype))
    _log.info("Warm-started %d variables.", len(assignments))
    return [name for name in warm]

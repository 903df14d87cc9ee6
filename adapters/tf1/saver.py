"""`tf.compat.v1.train.Saver` inside a model_fn, and what a Saver says about checkpoints.

A model_fn builds its Saver in the graph (`Scaffold(saver=Saver(var_list, max_to_keep=2))`, or
for an init_fn: `saver.restore(sess, pretrained)`). In TF 2.21 a Saver constructed inside the
traced step builds SaveV2/RestoreV2 ops there, and since a traced step runs every stateful op,
every step would then write and read a checkpoint named "model" in the working directory.
While a model_fn runs (`built_eagerly()`), Savers are therefore built as TF 2 eager Savers over
the same variables: nothing enters the step, and `save`/`restore` work from Python. A Saver
without `var_list` restores the model_fn's global variables known at its construction, as
TF1's did; as the model's checkpoint Saver (`SaverSettings`) it means all global variables.

Why this is not in tf1_world: it is only needed for Scaffold support and its owner module is
edited by others; it follows the same pattern (reference-counted, thread-aware patch that falls
back to TensorFlow's own code outside a model_fn call).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import keras
import tensorflow as tf

_Saver = tf.compat.v1.train.Saver


@dataclass(frozen=True)
class SaverSettings:
    """What a Saver decides about the checkpoints written with it.

    `var_list` maps checkpoint names to variables; None means every global variable of the
    model at save time (what Estimator's default Saver covered).
    """

    var_list: dict | None = None
    max_to_keep: int | None = 5
    keep_checkpoint_every_n_hours: float = 10000.0

    @classmethod
    def of(cls, saver: Any) -> "SaverSettings":
        """The settings of a compat.v1 Saver (built here or by the user, eagerly)."""
        var_list, max_to_keep, hours = _tf_private_saver_settings(saver)
        if getattr(saver, "_keras_spec_all_variables", False):
            var_list = None
        return cls(var_list=_as_name_map(var_list) if var_list is not None else None,
                   max_to_keep=max_to_keep, keep_checkpoint_every_n_hours=float(hours))


def _tf_private_saver_settings(saver: Any) -> tuple:
    """(var_list, max_to_keep, keep_checkpoint_every_n_hours) of a Saver.

    TF keeps them in private attributes until the Saver is built (an eager Saver never has a
    saver_def to read them from). Checked on TF 2.21.0 (tensorflow/python/training/saver.py).
    """
    return (getattr(saver, "_var_list", None), getattr(saver, "_max_to_keep", 5),
            getattr(saver, "_keep_checkpoint_every_n_hours", 10000.0))


def _plain_variable(value: Any) -> Any:
    return value.value if isinstance(value, keras.Variable) else value


def _as_name_map(var_list: Any) -> dict:
    """A Saver's var_list as {checkpoint name: variable} (TF1 names for a list)."""
    if isinstance(var_list, dict):
        return {name: _plain_variable(v) for name, v in var_list.items()}
    result = {}
    for variable in var_list:
        variable = _plain_variable(variable)
        name = getattr(variable, "name", None)
        if not isinstance(variable, tf.Variable) or name is None:
            raise TypeError("A Saver's var_list must hold variables (or map names to them); got "
                            f"{variable!r:.200}")
        result[name.split(":")[0]] = variable
    return result


# ---------------------------------------------------------------------------------------------
# Savers built inside a model_fn call
# ---------------------------------------------------------------------------------------------
_state = threading.local()
_patch_lock = threading.Lock()
_patch_depth = 0
_originals: dict = {}


def _active() -> bool:
    return getattr(_state, "depth", 0) > 0


def _graph_variables() -> list:
    """What a TF1 Saver() without var_list saved: the graph's global variables and saveables."""
    graph = tf.compat.v1.get_default_graph()
    found = []
    for key in (tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS):
        found += [v for v in graph.get_collection(key) if all(v is not f for f in found)]
    return found


@contextlib.contextmanager
def quiet_saver_logs() -> Iterator[None]:
    """An eager Saver logs a deprecation warning on every construction."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _eager_init(original):
    signature = inspect.signature(original)

    def __init__(self, *args, **kwargs):  # pylint: disable=invalid-name
        if not _active() or tf.executing_eagerly():
            return original(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop("self")
        if arguments["var_list"] is None:
            arguments["var_list"] = _graph_variables()
            self._keras_spec_all_variables = True  # pylint: disable=protected-access
        elif not isinstance(arguments["var_list"], dict):
            arguments["var_list"] = [_plain_variable(v) for v in arguments["var_list"]]
        else:
            arguments["var_list"] = {k: _plain_variable(v)
                                     for k, v in arguments["var_list"].items()}
        arguments["defer_build"] = False  # a given var_list cannot be deferred
        arguments["sharded"] = False  # eager Savers cannot shard; one device writes one shard
        with tf.init_scope(), quiet_saver_logs():
            original(self, **arguments)

    return __init__


def _dry_aware(original):
    """Savers' save/restore do nothing for a session that runs nothing (TraceSession dry)."""
    def method(self, sess, *args, **kwargs):
        if getattr(sess, "runs_nothing", False):
            return None
        if _active() and not tf.executing_eagerly():
            with tf.init_scope():
                return original(self, sess, *args, **kwargs)
        return original(self, sess, *args, **kwargs)
    method.__name__ = original.__name__
    return method


@contextlib.contextmanager
def built_eagerly() -> Iterator[None]:
    """While active in this thread, Savers constructed in a traced model_fn are eager Savers."""
    global _patch_depth
    with _patch_lock:
        if _patch_depth == 0:
            for name, factory in (("__init__", _eager_init), ("restore", _dry_aware),
                                  ("save", _dry_aware)):
                original = _Saver.__dict__[name]
                _originals[name] = original
                setattr(_Saver, name, factory(original))
        _patch_depth += 1
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
        with _patch_lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                for name, original in _originals.items():
                    setattr(_Saver, name, original)
                _originals.clear()

"""SpecModel training steps scheduled on remote workers by a ClusterCoordinator.

Keras 3.15's `model.fit` has no ParameterServerStrategy support (no ClusterCoordinator in its
TensorFlow trainer; checked on TF 2.21 / Keras 3.15), so parameter-server training runs the
SpecModel's own TRAIN core as a function the coordinator schedules: each call takes the next
batch of a per-worker dataset on whichever worker is free and runs the model_fn there, with the
variables (created once under the strategy's scope, so placed on the ps tasks) read and
updated remotely. The global step lives on a ps, so every finished step counts exactly once.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from keras_spec import ModeKeys

from adapters.engine.model_fn_binding import split_features_labels


def build_variables(model: Any, strategy: tf.distribute.Strategy, element_spec: Any) -> None:
    """Create the TRAIN model_fn's variables on the parameter servers.

    The model_fn is traced inside `strategy.run` (compat.v1 optimizers apply gradients through
    the replica context's merge_call, which a cross-replica trace does not have) under the
    strategy's scope, where every variable creation is placed on a ps.
    """
    model._ensure_compiled()  # pylint: disable=protected-access
    features, labels = split_features_labels(element_spec)
    with strategy.scope():
        tf.function(_replicated(model, strategy), autograph=False).get_concrete_function(
            features, labels)


def worker_train_function(model: Any, strategy: tf.distribute.Strategy) -> Any:
    """A tf.function(iterator) -> loss running one TRAIN step on the worker that executes it."""
    replicated = _replicated(model, strategy)

    @tf.function(autograph=False)
    def train_step(iterator):
        features, labels = split_features_labels(next(iterator))
        loss, _summaries, _host_call = replicated(features, labels)
        return loss

    return train_step


def _replicated(model: Any, strategy: tf.distribute.Strategy) -> Any:
    """The TRAIN core's Python body inside strategy.run, in the model's TF1 world.

    compat.v1 optimizers make their slots inside merge_call, on the calling thread's graph:
    the TF1 world must be entered there too (as distributed_steps does), and the body must not
    be a nested tf.function (whose first-call-only variable rule the slots would break).
    """
    body = model._train_core  # pylint: disable=protected-access

    def replicated(features, labels):
        with model._world.call(ModeKeys.TRAIN):  # pylint: disable=protected-access
            return strategy.run(body, args=(features, labels))

    return replicated

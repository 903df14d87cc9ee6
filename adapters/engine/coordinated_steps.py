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
    core = model._core(ModeKeys.TRAIN)  # pylint: disable=protected-access
    features, labels = split_features_labels(element_spec)
    with strategy.scope():
        tf.function(lambda f, l: strategy.run(core, args=(f, l)),
                    autograph=False).get_concrete_function(features, labels)


def worker_train_function(model: Any, strategy: tf.distribute.Strategy) -> Any:
    """A tf.function(iterator) -> loss running one TRAIN step on the worker that executes it."""
    core = model._core(ModeKeys.TRAIN)  # pylint: disable=protected-access

    @tf.function(autograph=False)
    def train_step(iterator):
        features, labels = split_features_labels(next(iterator))
        loss, _summaries, _host_call = strategy.run(core, args=(features, labels))
        return loss

    return train_step

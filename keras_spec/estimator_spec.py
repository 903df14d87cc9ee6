"""``EstimatorSpec``: what a tf.estimator model_fn returns, validated as tf.estimator did."""

from __future__ import annotations

import collections
from typing import Any

from keras_spec import validation
from keras_spec.mode_keys import validate_mode

_FIELDS = ('mode', 'predictions', 'loss', 'train_op', 'eval_metric_ops', 'export_outputs',
           'training_chief_hooks', 'training_hooks', 'scaffold', 'evaluation_hooks',
           'prediction_hooks')


class EstimatorSpec(validation.ReplaceKeepsMode, collections.namedtuple('EstimatorSpec', _FIELDS)):
    """Ops and objects returned from a ``model_fn`` (``tf.estimator.EstimatorSpec``).

    Required per mode: TRAIN needs ``loss`` and ``train_op`` (``train_op`` may be
    left out inside :func:`keras_spec.validation.train_op_optional`, which the
    engine enters when the Keras model has an optimizer); EVAL needs ``loss``;
    PREDICT needs ``predictions``. Normalizations, as tf.estimator did them:
    ``loss`` of shape ``[1]`` becomes a scalar, missing predictions/metrics become
    ``{}``, hooks become tuples, a missing scaffold a fresh ``Scaffold()``, and in
    PREDICT ``export_outputs`` gets a ``'serving_default'`` entry.
    """

    __slots__ = ()

    def __new__(cls,
                mode: str,
                predictions: Any = None,
                loss: Any = None,
                train_op: Any = None,
                eval_metric_ops: Any = None,
                export_outputs: Any = None,
                training_chief_hooks: Any = None,
                training_hooks: Any = None,
                scaffold: Any = None,
                evaluation_hooks: Any = None,
                prediction_hooks: Any = None) -> 'EstimatorSpec':
        owner = cls.__name__
        mode = validate_mode(mode, owner)
        train_op = validation.validate_train_op(train_op, mode, owner)
        loss = validation.validate_loss(loss, mode, owner)
        predictions = validation.validate_predictions(predictions, mode, owner, default={})
        export_outputs = validation.validate_export_outputs(export_outputs, predictions, mode)
        return super().__new__(
            cls,
            mode=mode,
            predictions=predictions,
            loss=loss,
            train_op=train_op,
            eval_metric_ops=validation.validate_eval_metric_ops(eval_metric_ops),
            export_outputs=export_outputs,
            training_chief_hooks=validation.validate_hooks(
                training_chief_hooks, 'training_chief_hooks'),
            training_hooks=validation.validate_hooks(training_hooks, 'training_hooks'),
            scaffold=validation.validate_scaffold(scaffold),
            evaluation_hooks=validation.validate_hooks(evaluation_hooks, 'evaluation_hooks'),
            prediction_hooks=validation.validate_hooks(prediction_hooks, 'prediction_hooks'))

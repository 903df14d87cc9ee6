"""`Head`: tf.estimator 2.15's interface for the top of a model (loss, predictions, metrics,
export signatures), returning keras_spec specs."""

from __future__ import annotations

import abc
from typing import Any, Callable

import tensorflow as tf

from keras_spec.estimator_spec import EstimatorSpec
from keras_spec.export_output import ClassificationOutput, PredictOutput, RegressionOutput
from keras_spec.heads import _utils
from keras_spec.heads._keys import (CLASSIFY_SERVING_KEY, DEFAULT_SERVING_KEY, MetricKeys,
                                    PREDICT_SERVING_KEY, REGRESS_SERVING_KEY)
from keras_spec.mode_keys import ModeKeys


class Head(abc.ABC):
    """Given logits, a Head builds the loss, predictions, metrics, train_op and export outputs.

    `create_estimator_spec(features, mode, logits, labels, optimizer=..., trainable_variables=...,
    train_op_fn=..., update_ops=..., regularization_losses=...)` returns the EstimatorSpec a
    model_fn returns, as `tf.estimator.Head` did.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str | None:
        """The head's name: the suffix of its metric keys, its key in a MultiHead."""

    @property
    @abc.abstractmethod
    def logits_dimension(self) -> int:
        """Size of the last dimension of the logits."""

    @property
    @abc.abstractmethod
    def loss_reduction(self) -> str:
        """How the training loss is reduced over the batch ('sum_over_batch_size' or 'sum')."""

    @abc.abstractmethod
    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Any = None) -> tf.Tensor:
        """The scalar regularized training loss."""

    @abc.abstractmethod
    def predictions(self, logits: Any, keys: Any = None) -> dict:
        """A dict of prediction tensors (all keys, or only `keys`)."""

    @abc.abstractmethod
    def metrics(self, regularization_losses: Any = None) -> dict:
        """A dict of fresh Keras Metric objects keyed by metric key."""

    @abc.abstractmethod
    def update_metrics(self, eval_metrics: dict, features: Any, logits: Any, labels: Any,
                       regularization_losses: Any = None) -> dict:
        """Update `eval_metrics` (from `metrics()`) with one batch; returns them."""

    def _summary_key(self, key: str) -> str:
        return f'{key}/{self.name}' if self.name else key

    def create_estimator_spec(self, features: Any, mode: str, logits: Any, labels: Any = None,
                              optimizer: Any = None, trainable_variables: Any = None,
                              train_op_fn: Callable | None = None, update_ops: Any = None,
                              regularization_losses: Any = None) -> EstimatorSpec:
        """The EstimatorSpec for `mode`; see the class docstring of each head for its parts.

        TRAIN needs exactly one of `optimizer` (a Keras 3 or compat.v1 optimizer, with
        `trainable_variables`) and `train_op_fn(loss) -> train_op`.
        """
        graph = tf.compat.v1.get_default_graph()
        with graph.name_scope(self.name or 'head'):
            predictions = self.predictions(logits)
            if mode == ModeKeys.PREDICT:
                return EstimatorSpec(mode=ModeKeys.PREDICT, predictions=predictions,
                                     export_outputs=self._export_outputs(predictions))
            loss = self.loss(labels=labels, logits=logits, features=features, mode=mode,
                             regularization_losses=regularization_losses)
            if mode == ModeKeys.EVAL:
                eval_metrics = self.update_metrics(
                    self.metrics(regularization_losses=regularization_losses), features, logits,
                    labels, regularization_losses=regularization_losses)
                return EstimatorSpec(mode=ModeKeys.EVAL, predictions=predictions, loss=loss,
                                     eval_metric_ops=eval_metrics)
            if mode != ModeKeys.TRAIN:
                raise ValueError(f'mode={mode!r} unrecognized.')
            train_op = _utils.train_op(
                head_name=self.name, loss=loss, optimizer=optimizer,
                trainable_variables=trainable_variables, train_op_fn=train_op_fn,
                update_ops=update_ops, loss_reduction=self.loss_reduction)
        _utils.summaries(loss, regularization_losses, self._summary_key)
        return EstimatorSpec(mode=ModeKeys.TRAIN, predictions=predictions, loss=loss,
                             train_op=train_op)

    def _export_outputs(self, predictions: dict) -> dict:
        raise NotImplementedError(f'{type(self).__name__} must implement create_estimator_spec '
                                  'or _export_outputs.')


class _CommonHead(Head):
    """Shared state of the single heads: weight column, reduction, loss_fn, name."""

    def __init__(self, weight_column: Any, loss_reduction: Any, loss_fn: Callable | None,
                 name: str | None):
        self._loss_reduction = _utils.validate_loss_reduction(loss_reduction)
        if loss_fn is not None:
            _utils.validate_loss_fn_args(loss_fn)
        if name is not None and not isinstance(name, str):
            raise ValueError(f'name must be a string or None; got {name!r}')
        self._weight_column = weight_column
        self._loss_fn = loss_fn
        self._name = name
        self._loss_mean_key = self._summary_key(MetricKeys.LOSS_MEAN)
        self._loss_regularization_key = self._summary_key(MetricKeys.LOSS_REGULARIZATION)

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def loss_reduction(self) -> str:
        return self._loss_reduction

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Any = None) -> tf.Tensor:
        with tf.name_scope('losses'):
            logits = _utils.as_float_logits(logits, self.logits_dimension)
            labels = self._labels_for_loss(logits, labels)
            unweighted, weights = self._loss_and_weights(logits, labels, features)
            return self._reduce(unweighted, weights, regularization_losses)

    def _labels_for_loss(self, logits: tf.Tensor, labels: Any) -> tf.Tensor:
        """The labels as the head's loss takes them (ids, indicators or values), checked."""
        raise NotImplementedError

    def _loss_and_weights(self, logits: tf.Tensor, labels: tf.Tensor, features: Any):
        """The unreduced loss and the example weights."""
        raise NotImplementedError

    def _weights(self, features: Any, logits: tf.Tensor, per_logit: bool = False) -> Any:
        return _utils.weights_from_features(features, self._weight_column, logits, per_logit)

    def _reduce(self, unweighted: tf.Tensor, weights: Any, regularization_losses: Any):
        loss = _utils.weighted_loss(unweighted, weights, self._loss_reduction)
        return _utils.add_regularization(loss, regularization_losses)

    def _update_regularization(self, eval_metrics: dict, regularization_losses: Any) -> None:
        if regularization_losses is not None:
            eval_metrics[self._loss_regularization_key].update_state(
                tf.math.add_n(list(regularization_losses)))


def classification_outputs(predictions: dict, scores_key: str, n_classes: int,
                           label_vocabulary: Any, regression_key: str | None = None) -> dict:
    """serving_default / classification (all classes + scores), regression, predict."""

    scores = predictions[scores_key]
    classify = ClassificationOutput(
        scores=scores, classes=_utils.all_classes(scores, n_classes, label_vocabulary))
    outputs = {DEFAULT_SERVING_KEY: classify, CLASSIFY_SERVING_KEY: classify}
    if regression_key is not None:
        outputs[REGRESS_SERVING_KEY] = RegressionOutput(value=predictions[regression_key])
    outputs[PREDICT_SERVING_KEY] = PredictOutput(predictions)
    return outputs


def regression_outputs(predictions: dict, value_key: str) -> dict:
    regress = RegressionOutput(value=predictions[value_key])
    return {DEFAULT_SERVING_KEY: regress, REGRESS_SERVING_KEY: regress,
            PREDICT_SERVING_KEY: PredictOutput(predictions)}

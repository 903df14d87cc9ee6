"""RegressionHead and its Poisson / logistic variants (tf.estimator's regression heads)."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from keras_spec.heads import _metrics, _utils
from keras_spec.heads._keys import MetricKeys, PredictionKeys
from keras_spec.heads.base import _CommonHead, regression_outputs

_P = PredictionKeys


class RegressionHead(_CommonHead):
    """label_dimension real values per example; mean squared error unless `loss_fn`.

    Predictions: predictions (inverse_link_fn(logits) when given, then also logits).
    Metrics: average_loss, prediction/mean, label/mean (+ regularization_loss). Weights may be
    per example or per label dimension. Signatures: serving_default and regression (a
    single-value output; with label_dimension > 1 only predict serves them all), predict.
    """

    def __init__(self, label_dimension: int = 1, weight_column: Any = None,
                 loss_reduction: Any = 'sum_over_batch_size', loss_fn: Callable | None = None,
                 inverse_link_fn: Callable | None = None, name: str | None = None):
        if not isinstance(label_dimension, int) or label_dimension < 1:
            raise ValueError(f'Invalid label_dimension {label_dimension!r}: must be an int >= 1.')
        if inverse_link_fn is not None and not callable(inverse_link_fn):
            raise ValueError(f'inverse_link_fn must be callable; got {inverse_link_fn!r}')
        self._logits_dimension = label_dimension
        self._inverse_link_fn = inverse_link_fn
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        self._prediction_mean_key = self._summary_key(MetricKeys.PREDICTION_MEAN)
        self._label_mean_key = self._summary_key(MetricKeys.LABEL_MEAN)

    @property
    def logits_dimension(self) -> int:
        return self._logits_dimension

    def _labels_for_loss(self, logits: tf.Tensor, labels: Any) -> tf.Tensor:
        labels = _utils.dense_labels(labels, logits, self._logits_dimension)
        if not (labels.dtype.is_floating or labels.dtype.is_integer):
            raise ValueError(f'Regression labels must be numeric; got dtype {labels.dtype}.')
        return tf.cast(labels, tf.float32)

    def _loss_and_weights(self, logits, labels, features):
        if self._loss_fn is not None:
            loss = _utils.call_loss_fn(self._loss_fn, labels, logits, features,
                                       self._logits_dimension)
        else:
            loss = tf.math.squared_difference(logits, labels)
        return loss, self._weights(features, logits, per_logit=True)

    def predictions(self, logits: Any, keys: Any = None) -> dict:
        valid = [_P.PREDICTIONS, _P.LOGITS] if self._inverse_link_fn else [_P.PREDICTIONS]
        if keys:
            _utils.check_prediction_keys(keys, valid)
        keys = keys or valid
        logits = _utils.as_float_logits(logits, self._logits_dimension)
        with tf.name_scope('predictions'):
            out = {}
            if _P.PREDICTIONS in keys:
                out[_P.PREDICTIONS] = (self._inverse_link_fn(logits) if self._inverse_link_fn
                                       else logits)
            if _P.LOGITS in keys:
                out[_P.LOGITS] = logits
        return out

    def metrics(self, regularization_losses: Any = None) -> dict:
        metrics = {key: _metrics.WeightedMean(key) for key in (
            self._loss_mean_key, self._prediction_mean_key, self._label_mean_key)}
        if regularization_losses is not None:
            metrics[self._loss_regularization_key] = _metrics.WeightedMean(
                self._loss_regularization_key)
        return metrics

    def update_metrics(self, eval_metrics: dict, features: Any, logits: Any, labels: Any,
                       regularization_losses: Any = None) -> dict:
        predicted = self.predictions(logits, [_P.PREDICTIONS])[_P.PREDICTIONS]
        logits = _utils.as_float_logits(logits, self._logits_dimension)
        labels = self._labels_for_loss(logits, labels)
        unweighted, weights = self._loss_and_weights(logits, labels, features)
        eval_metrics[self._loss_mean_key].update_state(unweighted, weights)
        eval_metrics[self._label_mean_key].update_state(labels, weights)
        eval_metrics[self._prediction_mean_key].update_state(predicted, weights)
        self._update_regularization(eval_metrics, regularization_losses)
        return eval_metrics

    def _export_outputs(self, predictions: dict) -> dict:
        return regression_outputs(predictions, _P.PREDICTIONS)


class PoissonRegressionHead(RegressionHead):
    """Poisson regression: log-Poisson loss on logits = log(rate); predictions = exp(logits)."""

    def __init__(self, label_dimension: int = 1, weight_column: Any = None,
                 loss_reduction: Any = 'sum_over_batch_size', compute_full_loss: bool = True,
                 name: str | None = None):
        self._compute_full_loss = compute_full_loss
        super().__init__(label_dimension=label_dimension, weight_column=weight_column,
                         loss_reduction=loss_reduction, loss_fn=self._poisson_loss,
                         inverse_link_fn=tf.math.exp, name=name)

    def _poisson_loss(self, labels, logits):
        return tf.nn.log_poisson_loss(targets=labels, log_input=logits,
                                      compute_full_loss=self._compute_full_loss)


class LogisticRegressionHead(RegressionHead):
    """Regression of a value in [0, 1] with sigmoid cross entropy; predictions = sigmoid."""

    def __init__(self, weight_column: Any = None, loss_reduction: Any = 'sum_over_batch_size',
                 name: str | None = None):
        super().__init__(label_dimension=1, weight_column=weight_column,
                         loss_reduction=loss_reduction, loss_fn=self._logistic_loss,
                         inverse_link_fn=tf.math.sigmoid, name=name)

    def _logistic_loss(self, labels, logits):
        labels = _utils.check_label_range(labels, 2, 'Labels must be in range [0, 1]')
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)

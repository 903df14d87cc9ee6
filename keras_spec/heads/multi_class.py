"""MultiClassHead: softmax cross entropy over n_classes logits (tf.estimator.MultiClassHead)."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from keras_spec.heads import _metrics, _utils
from keras_spec.heads._keys import MetricKeys, PredictionKeys
from keras_spec.heads.base import _CommonHead, classification_outputs

_P = PredictionKeys


class MultiClassHead(_CommonHead):
    """One of n_classes (> 2) classes.

    Labels: int ids in [0, n_classes), or strings of `label_vocabulary`, shape [.., 1] or [..].
    Predictions: logits, probabilities, class_ids (int64 [.., 1]), classes, all_class_ids
    (int32), all_classes. Metrics: average_loss, accuracy (+ regularization_loss). Signatures:
    serving_default and classification (every class and its probability), predict.
    """

    def __init__(self, n_classes: int, weight_column: Any = None, label_vocabulary: Any = None,
                 loss_reduction: Any = 'sum_over_batch_size', loss_fn: Callable | None = None,
                 name: str | None = None):
        if n_classes is None:
            raise ValueError('n_classes cannot be None')
        if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes <= 2:
            raise ValueError(f'n_classes must be > 2: {n_classes!r} (use BinaryClassHead for '
                             'two classes).')
        self._n_classes = n_classes
        self._label_vocabulary = _utils.validate_label_vocabulary(label_vocabulary, n_classes)
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        self._accuracy_key = self._summary_key(MetricKeys.ACCURACY)

    @property
    def logits_dimension(self) -> int:
        return self._n_classes

    def _labels_for_loss(self, logits: tf.Tensor, labels: Any) -> tf.Tensor:
        labels = _utils.dense_labels(labels, logits, 1)
        if self._label_vocabulary is None:
            if not labels.dtype.is_integer:
                raise ValueError(f'Labels dtype should be integer. Instead got {labels.dtype}. '
                                 'String labels need label_vocabulary.')
            message = f'Labels must be <= n_classes - 1 and >= 0 (n_classes={self._n_classes})'
            ids = labels
        else:
            ids = _utils.vocabulary_ids(labels, self._label_vocabulary)
            message = f'Labels must be one of label_vocabulary {list(self._label_vocabulary)}'
        return _utils.check_label_range(ids, self._n_classes, message)

    def _loss_and_weights(self, logits, label_ids, features):
        if self._loss_fn is not None:
            loss = _utils.call_loss_fn(self._loss_fn, label_ids, logits, features, 1)
        else:
            loss = tf.expand_dims(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.squeeze(label_ids, -1), logits=logits), -1)
        return loss, self._weights(features, logits)

    def predictions(self, logits: Any, keys: Any = None) -> dict:
        valid = [_P.LOGITS, _P.PROBABILITIES, _P.CLASS_IDS, _P.CLASSES, _P.ALL_CLASS_IDS,
                 _P.ALL_CLASSES]
        if keys:
            _utils.check_prediction_keys(keys, valid)
        keys = keys or valid
        logits = _utils.as_float_logits(logits, self._n_classes)
        out = {}
        with tf.name_scope('predictions'):
            if _P.LOGITS in keys:
                out[_P.LOGITS] = logits
            if _P.PROBABILITIES in keys:
                out[_P.PROBABILITIES] = tf.nn.softmax(logits, name=_P.PROBABILITIES)
            if _P.CLASS_IDS in keys or _P.CLASSES in keys:
                class_ids = tf.expand_dims(tf.argmax(logits, axis=-1), -1)
                if _P.CLASS_IDS in keys:
                    out[_P.CLASS_IDS] = class_ids
                if _P.CLASSES in keys:
                    out[_P.CLASSES] = (
                        _utils.vocabulary_strings(class_ids, self._label_vocabulary)
                        if self._label_vocabulary else tf.strings.as_string(class_ids))
            if _P.ALL_CLASS_IDS in keys:
                out[_P.ALL_CLASS_IDS] = _utils.all_class_ids(logits, self._n_classes)
            if _P.ALL_CLASSES in keys:
                out[_P.ALL_CLASSES] = _utils.all_classes(logits, self._n_classes,
                                                         self._label_vocabulary)
        return out

    def metrics(self, regularization_losses: Any = None) -> dict:
        metrics = {self._loss_mean_key: _metrics.WeightedMean(self._loss_mean_key)}
        if regularization_losses is not None:
            metrics[self._loss_regularization_key] = _metrics.WeightedMean(
                self._loss_regularization_key)
        metrics[self._accuracy_key] = _metrics.WeightedMean(self._accuracy_key)
        return metrics

    def update_metrics(self, eval_metrics: dict, features: Any, logits: Any, labels: Any,
                       regularization_losses: Any = None) -> dict:
        class_ids = self.predictions(logits, [_P.CLASS_IDS])[_P.CLASS_IDS]
        logits = _utils.as_float_logits(logits, self._n_classes)
        label_ids = self._labels_for_loss(logits, labels)
        unweighted, weights = self._loss_and_weights(logits, label_ids, features)
        eval_metrics[self._loss_mean_key].update_state(unweighted, weights)
        eval_metrics[self._accuracy_key].update_state(
            tf.cast(tf.equal(tf.cast(label_ids, tf.int64), class_ids), tf.float32), weights)
        self._update_regularization(eval_metrics, regularization_losses)
        return eval_metrics

    def _export_outputs(self, predictions: dict) -> dict:
        return classification_outputs(predictions, _P.PROBABILITIES, self._n_classes,
                                      self._label_vocabulary)

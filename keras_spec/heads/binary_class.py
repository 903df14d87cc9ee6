"""BinaryClassHead: sigmoid cross entropy on one logit (tf.estimator.BinaryClassHead)."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from keras_spec.heads import _metrics, _utils
from keras_spec.heads._keys import MetricKeys, PredictionKeys
from keras_spec.heads.base import _CommonHead, classification_outputs

_K, _P = MetricKeys, PredictionKeys


class BinaryClassHead(_CommonHead):
    """Two classes from one logit.

    Predictions: logits, logistic, probabilities ([1 - p, p]), class_ids (int64 [.., 1]),
    classes (strings: label_vocabulary, else '0'/'1'), all_class_ids (int32), all_classes.
    Metrics: average_loss, accuracy, precision, recall, prediction/mean, label/mean,
    accuracy_baseline, auc, auc_precision_recall, and accuracy/precision/recall at each of
    `thresholds` (keys suffixed '/<name>' for a named head). Signatures: serving_default and
    classification (classify: every class and its probability), regression (logistic), predict.
    Labels: int/float 0 or 1, or strings of `label_vocabulary`.
    """

    def __init__(self, weight_column: Any = None, thresholds: Any = None,
                 label_vocabulary: Any = None, loss_reduction: Any = 'sum_over_batch_size',
                 loss_fn: Callable | None = None, name: str | None = None):
        self._label_vocabulary = _utils.validate_label_vocabulary(label_vocabulary, 2) \
            if label_vocabulary is not None else None
        self._thresholds = _utils.validate_thresholds(thresholds)
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        key = self._summary_key
        self._keys = {k: key(k) for k in (
            _K.ACCURACY, _K.PRECISION, _K.RECALL, _K.PREDICTION_MEAN, _K.LABEL_MEAN,
            _K.ACCURACY_BASELINE, _K.AUC, _K.AUC_PR)}
        self._threshold_keys = [
            (t, key(_K.ACCURACY_AT_THRESHOLD % t), key(_K.PRECISION_AT_THRESHOLD % t),
             key(_K.RECALL_AT_THRESHOLD % t)) for t in self._thresholds]

    @property
    def logits_dimension(self) -> int:
        return 1

    def _labels_for_loss(self, logits: tf.Tensor, labels: Any) -> tf.Tensor:
        labels = _utils.dense_labels(labels, logits, 1)
        if self._label_vocabulary is not None:
            labels = _utils.vocabulary_ids(labels, self._label_vocabulary)
            message = (f'Labels must be one of label_vocabulary '
                       f'{list(self._label_vocabulary)}')
        else:
            if labels.dtype == tf.string:
                raise ValueError('Labels are strings but the head has no label_vocabulary: pass '
                                 'label_vocabulary=[negative, positive].')
            message = 'Labels must be <= n_classes - 1 and >= 0 (n_classes=2)'
        labels = tf.cast(labels, tf.float32)
        return _utils.check_label_range(labels, 2, message)

    def _loss_and_weights(self, logits, labels, features):
        if self._loss_fn is not None:
            loss = _utils.call_loss_fn(self._loss_fn, labels, logits, features, 1)
        else:
            loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        return loss, self._weights(features, logits)

    def predictions(self, logits: Any, keys: Any = None) -> dict:
        valid = [_P.LOGITS, _P.LOGISTIC, _P.PROBABILITIES, _P.CLASS_IDS, _P.CLASSES,
                 _P.ALL_CLASS_IDS, _P.ALL_CLASSES]
        if keys:
            _utils.check_prediction_keys(keys, valid)
        keys = keys or valid
        logits = _utils.as_float_logits(logits, 1)
        out = {}
        with tf.name_scope('predictions'):
            if _P.LOGITS in keys:
                out[_P.LOGITS] = logits
            if _P.LOGISTIC in keys:
                out[_P.LOGISTIC] = tf.math.sigmoid(logits, name=_P.LOGISTIC)
            two_class = tf.concat([tf.zeros_like(logits), logits], axis=-1)
            if _P.PROBABILITIES in keys:
                out[_P.PROBABILITIES] = tf.nn.softmax(two_class, name=_P.PROBABILITIES)
            if _P.CLASS_IDS in keys or _P.CLASSES in keys:
                class_ids = tf.expand_dims(tf.argmax(two_class, axis=-1), -1)
                if _P.CLASS_IDS in keys:
                    out[_P.CLASS_IDS] = class_ids
                if _P.CLASSES in keys:
                    out[_P.CLASSES] = (
                        _utils.vocabulary_strings(class_ids, self._label_vocabulary)
                        if self._label_vocabulary is not None else tf.strings.as_string(class_ids))
            if _P.ALL_CLASS_IDS in keys:
                out[_P.ALL_CLASS_IDS] = _utils.all_class_ids(logits, 2)
            if _P.ALL_CLASSES in keys:
                out[_P.ALL_CLASSES] = _utils.all_classes(logits, 2, self._label_vocabulary)
        return out

    def metrics(self, regularization_losses: Any = None) -> dict:
        k = self._keys
        metrics = {
            self._loss_mean_key: _metrics.WeightedMean(self._loss_mean_key),
            k[_K.ACCURACY]: _metrics.WeightedMean(k[_K.ACCURACY]),
            k[_K.PRECISION]: _metrics.ConfusionRatio(k[_K.PRECISION], 'precision'),
            k[_K.RECALL]: _metrics.ConfusionRatio(k[_K.RECALL], 'recall'),
            k[_K.PREDICTION_MEAN]: _metrics.WeightedMean(k[_K.PREDICTION_MEAN]),
            k[_K.LABEL_MEAN]: _metrics.WeightedMean(k[_K.LABEL_MEAN]),
            k[_K.ACCURACY_BASELINE]: _metrics.AccuracyBaseline(k[_K.ACCURACY_BASELINE]),
            k[_K.AUC]: _metrics.auc(k[_K.AUC]),
            k[_K.AUC_PR]: _metrics.auc(k[_K.AUC_PR], curve='PR'),
        }
        if regularization_losses is not None:
            metrics[self._loss_regularization_key] = _metrics.WeightedMean(
                self._loss_regularization_key)
        metrics.update(_metrics.threshold_metrics(self._threshold_keys))
        return metrics

    def update_metrics(self, eval_metrics: dict, features: Any, logits: Any, labels: Any,
                       regularization_losses: Any = None) -> dict:
        predictions = self.predictions(logits, [_P.CLASS_IDS, _P.LOGISTIC])
        class_ids, logistic = predictions[_P.CLASS_IDS], predictions[_P.LOGISTIC]
        logits = _utils.as_float_logits(logits, 1)
        labels = self._labels_for_loss(logits, labels)
        unweighted, weights = self._loss_and_weights(logits, labels, features)
        k, m = self._keys, eval_metrics
        m[self._loss_mean_key].update_state(unweighted, weights)
        m[k[_K.ACCURACY]].update_state(
            tf.cast(tf.equal(labels, tf.cast(class_ids, tf.float32)), tf.float32), weights)
        m[k[_K.PRECISION]].update_state(labels, class_ids, weights)
        m[k[_K.RECALL]].update_state(labels, class_ids, weights)
        m[k[_K.PREDICTION_MEAN]].update_state(logistic, weights)
        m[k[_K.LABEL_MEAN]].update_state(labels, weights)
        m[k[_K.ACCURACY_BASELINE]].update_state(labels, weights)
        _metrics.update_auc(m[k[_K.AUC]], labels, logistic, weights)
        _metrics.update_auc(m[k[_K.AUC_PR]], labels, logistic, weights)
        self._update_regularization(m, regularization_losses)
        for threshold, accuracy, precision, recall in self._threshold_keys:
            predicted = tf.cast(logistic > threshold, tf.float32)
            m[accuracy].update_state(tf.cast(tf.equal(labels, predicted), tf.float32), weights)
            m[precision].update_state(labels, logistic, weights)
            m[recall].update_state(labels, logistic, weights)
        return eval_metrics

    def _export_outputs(self, predictions: dict) -> dict:
        return classification_outputs(predictions, _P.PROBABILITIES, 2, self._label_vocabulary,
                                      regression_key=_P.LOGISTIC)

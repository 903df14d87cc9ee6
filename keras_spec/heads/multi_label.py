"""MultiLabelHead: independent sigmoid per class (tf.estimator.MultiLabelHead)."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from keras_spec.heads import _metrics, _utils
from keras_spec.heads._keys import MetricKeys, PredictionKeys
from keras_spec.heads.base import _CommonHead, classification_outputs

_K, _P = MetricKeys, PredictionKeys


class MultiLabelHead(_CommonHead):
    """Any subset of n_classes (>= 2) classes per example.

    Labels: a dense int indicator [.., n_classes] of 0/1, or a SparseTensor of class ids (or of
    strings of `label_vocabulary`). Loss: sigmoid cross entropy averaged over the classes.
    Predictions: logits, probabilities, classes (every class name; no class_ids). Metrics:
    average_loss, auc, auc_precision_recall, accuracy/precision/recall at each threshold, and
    probability_mean / auc / auc_precision_recall for classes_for_class_based_metrics.
    Signatures: serving_default and classification, predict.
    """

    def __init__(self, n_classes: int, weight_column: Any = None, thresholds: Any = None,
                 label_vocabulary: Any = None, loss_reduction: Any = 'sum_over_batch_size',
                 loss_fn: Callable | None = None, classes_for_class_based_metrics: Any = None,
                 name: str | None = None):
        if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
            raise ValueError('n_classes must be > 1 for multi-label classification. Given: '
                             f'{n_classes!r}')
        self._n_classes = n_classes
        self._thresholds = _utils.validate_thresholds(thresholds)
        self._label_vocabulary = _utils.validate_label_vocabulary(label_vocabulary, n_classes)
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        self._classes = self._class_ids_for_metrics(classes_for_class_based_metrics)
        key = self._summary_key
        self._auc_key, self._auc_pr_key = key(_K.AUC), key(_K.AUC_PR)
        self._threshold_keys = [
            (t, key(_K.ACCURACY_AT_THRESHOLD % t), key(_K.PRECISION_AT_THRESHOLD % t),
             key(_K.RECALL_AT_THRESHOLD % t)) for t in self._thresholds]
        self._class_keys = []
        for class_id in self._classes:
            if self._label_vocabulary is None:
                names = (_K.PROBABILITY_MEAN_AT_CLASS % class_id, _K.AUC_AT_CLASS % class_id,
                         _K.AUC_PR_AT_CLASS % class_id)
            else:
                label = self._label_vocabulary[class_id]
                names = (_K.PROBABILITY_MEAN_AT_NAME % label, _K.AUC_AT_NAME % label,
                         _K.AUC_PR_AT_NAME % label)
            self._class_keys.append((class_id,) + tuple(key(n) for n in names))

    def _class_ids_for_metrics(self, classes: Any) -> tuple:
        if not classes:
            return ()
        classes = tuple(classes)
        if isinstance(classes[0], str):
            if not self._label_vocabulary:
                raise ValueError('label_vocabulary must be provided when '
                                 'classes_for_class_based_metrics are strings.')
            missing = [c for c in classes if c not in self._label_vocabulary]
            if missing:
                raise ValueError(f'classes_for_class_based_metrics {missing} are not in '
                                 f'label_vocabulary {list(self._label_vocabulary)}.')
            return tuple(self._label_vocabulary.index(c) for c in classes)
        for class_id in classes:
            if not isinstance(class_id, int) or not 0 <= class_id < self._n_classes:
                raise ValueError('All classes_for_class_based_metrics must be in range '
                                 f'[0, {self._n_classes - 1}]. Given: {class_id!r}')
        return classes

    @property
    def logits_dimension(self) -> int:
        return self._n_classes

    def _labels_for_loss(self, logits: tf.Tensor, labels: Any) -> tf.Tensor:
        """An int64 indicator [.., n_classes]."""
        if labels is None:
            raise ValueError(_utils.LABEL_NONE_MESSAGE)
        if isinstance(labels, tf.SparseTensor):
            if labels.dtype == tf.string:
                if not self._label_vocabulary:
                    raise ValueError('String SparseTensor labels need label_vocabulary.')
                ids = _utils.vocabulary_ids(labels.values, self._label_vocabulary)
                message = ('labels must be strings of label_vocabulary '
                           f'{list(self._label_vocabulary)}')
            else:
                if not labels.dtype.is_integer:
                    raise ValueError(f'Labels dtype should be integer. Instead got '
                                     f'{labels.dtype}.')
                ids = labels.values
                message = ('labels must be an integer SparseTensor with values in '
                           f'[0, {self._n_classes})')
            ids = _utils.check_label_range(tf.cast(ids, tf.int64), self._n_classes, message)
            sparse = tf.SparseTensor(labels.indices, ids, labels.dense_shape)
            indicator = tf.cast(tf.sparse.to_indicator(sparse, self._n_classes), tf.int64)
        else:
            labels = tf.convert_to_tensor(labels)
            if labels.dtype == tf.string:
                raise ValueError('Dense string labels are not supported by MultiLabelHead: pass '
                                 'an integer indicator [batch, n_classes] or a SparseTensor of '
                                 'class ids / label_vocabulary strings.')
            indicator = _utils.check_label_range(
                labels, 2, 'labels must be an integer indicator Tensor with values in [0, 1]')
        return _utils.dense_labels(indicator, logits, self._n_classes)

    def _loss_and_weights(self, logits, labels, features):
        if self._loss_fn is not None:
            loss = _utils.call_loss_fn(self._loss_fn, labels, logits, features, 1)
        else:
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.cast(labels, tf.float32), logits=logits), axis=-1, keepdims=True)
        return loss, self._weights(features, logits)

    def predictions(self, logits: Any, keys: Any = None) -> dict:
        valid = [_P.LOGITS, _P.PROBABILITIES, _P.CLASSES]
        if keys:
            _utils.check_prediction_keys(keys, valid)
        keys = keys or valid
        logits = _utils.as_float_logits(logits, self._n_classes)
        out = {}
        with tf.name_scope('predictions'):
            if _P.LOGITS in keys:
                out[_P.LOGITS] = logits
            if _P.PROBABILITIES in keys:
                out[_P.PROBABILITIES] = tf.math.sigmoid(logits, name=_P.PROBABILITIES)
            if _P.CLASSES in keys:
                out[_P.CLASSES] = _utils.all_classes(logits, self._n_classes,
                                                     self._label_vocabulary)
        return out

    def metrics(self, regularization_losses: Any = None) -> dict:
        metrics = {self._loss_mean_key: _metrics.WeightedMean(self._loss_mean_key),
                   self._auc_key: _metrics.auc(self._auc_key),
                   self._auc_pr_key: _metrics.auc(self._auc_pr_key, curve='PR')}
        if regularization_losses is not None:
            metrics[self._loss_regularization_key] = _metrics.WeightedMean(
                self._loss_regularization_key)
        metrics.update(_metrics.threshold_metrics(self._threshold_keys))
        for _, prob_key, auc_key, auc_pr_key in self._class_keys:
            metrics[prob_key] = _metrics.WeightedMean(prob_key)
            metrics[auc_key] = _metrics.auc(auc_key)
            metrics[auc_pr_key] = _metrics.auc(auc_pr_key, curve='PR')
        return metrics

    def update_metrics(self, eval_metrics: dict, features: Any, logits: Any, labels: Any,
                       regularization_losses: Any = None) -> dict:
        logits = _utils.as_float_logits(logits, self._n_classes)
        labels = self._labels_for_loss(logits, labels)
        unweighted, weights = self._loss_and_weights(logits, labels, features)
        probabilities = self.predictions(logits, [_P.PROBABILITIES])[_P.PROBABILITIES]
        m = eval_metrics
        m[self._loss_mean_key].update_state(unweighted, weights)
        _metrics.update_auc(m[self._auc_key], labels, probabilities, weights)
        _metrics.update_auc(m[self._auc_pr_key], labels, probabilities, weights)
        self._update_regularization(m, regularization_losses)
        float_labels = tf.cast(labels, tf.float32)
        for threshold, accuracy, precision, recall in self._threshold_keys:
            predicted = tf.cast(probabilities > threshold, tf.float32)
            per_example = tf.reduce_mean(tf.cast(tf.equal(float_labels, predicted), tf.float32),
                                         axis=-1, keepdims=True)
            m[accuracy].update_state(per_example, weights)
            m[precision].update_state(labels, probabilities, weights)
            m[recall].update_state(labels, probabilities, weights)
        for class_id, prob_key, auc_key, auc_pr_key in self._class_keys:
            class_probabilities = probabilities[..., class_id:class_id + 1]
            class_labels = labels[..., class_id:class_id + 1]
            m[prob_key].update_state(class_probabilities, weights)
            _metrics.update_auc(m[auc_key], class_labels, class_probabilities, weights)
            _metrics.update_auc(m[auc_pr_key], class_labels, class_probabilities, weights)
        return eval_metrics

    def _export_outputs(self, predictions: dict) -> dict:
        return classification_outputs(predictions, _P.PROBABILITIES, self._n_classes,
                                      self._label_vocabulary)

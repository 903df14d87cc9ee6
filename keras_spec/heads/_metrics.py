"""Keras 3 metrics with tf.keras 2.x's weighting, as tf.estimator 2.15's heads used them.

Keras 3's `Mean` first averages each example's values and weights per example; tf.keras 2.x
broadcast the weights to the values and averaged every element. The heads need the latter
(per-logit weights in RegressionHead), so the metrics are written here, with tf.keras 2.x's
formulas.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


def _safe_name(name: str) -> str:
    """Keras 3 refuses '/' in names that become variable paths; metric keys keep theirs."""
    return name.replace('/', '_')


def broadcast_weights(weights: Any, values: tf.Tensor) -> tf.Tensor:
    """Weights as a float32 tensor of the values' shape (tf.keras's broadcast_weights)."""
    weights = tf.cast(weights, tf.float32)
    return tf.broadcast_to(weights, tf.shape(values))


class WeightedMean(keras.metrics.Metric):
    """sum(w * v) / sum(w) over every element, weights broadcast to the values."""

    def __init__(self, name: str):
        super().__init__(name=_safe_name(name), dtype='float32')
        self.total = self.add_variable(shape=(), initializer='zeros', name='total')
        self.count = self.add_variable(shape=(), initializer='zeros', name='count')

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = tf.cast(values, tf.float32)
        weights = broadcast_weights(1.0 if sample_weight is None else sample_weight, values)
        self.total.assign_add(tf.reduce_sum(values * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self) -> tf.Tensor:
        return tf.math.divide_no_nan(self.total.value, self.count.value)


class AccuracyBaseline(WeightedMean):
    """max(mean label, 1 - mean label): accuracy of always predicting the majority class."""

    def result(self) -> tf.Tensor:
        total, count = self.total.value, self.count.value
        return tf.math.divide_no_nan(tf.maximum(total, count - total), count)


class ConfusionRatio(keras.metrics.Metric):
    """Precision (tp / (tp + fp)) or recall (tp / (tp + fn)) at one threshold: a prediction
    is positive when it is above the threshold (tf.keras's Precision / Recall)."""

    def __init__(self, name: str, kind: str, threshold: float = 0.5):
        super().__init__(name=_safe_name(name), dtype='float32')
        if kind not in ('precision', 'recall'):
            raise ValueError(f"kind must be 'precision' or 'recall'; got {kind!r}")
        self.kind, self.threshold = kind, float(threshold)
        self.true_positives = self.add_variable(shape=(), initializer='zeros', name='tp')
        self.other = self.add_variable(shape=(), initializer='zeros', name='fp_or_fn')

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = tf.cast(y_pred, tf.float32)
        positive = tf.cast(tf.cast(y_true, tf.bool), tf.float32)
        predicted = tf.cast(y_pred > self.threshold, tf.float32)
        weights = broadcast_weights(1.0 if sample_weight is None else sample_weight, y_pred)
        self.true_positives.assign_add(tf.reduce_sum(weights * positive * predicted))
        miss = (1.0 - positive) * predicted if self.kind == 'precision' else positive * (
            1.0 - predicted)
        self.other.assign_add(tf.reduce_sum(weights * miss))

    def result(self) -> tf.Tensor:
        tp = self.true_positives.value
        return tf.math.divide_no_nan(tp, tp + self.other.value)


class AUC(keras.metrics.Metric):
    """Area under the ROC or PR curve from confusion counts at 200 fixed thresholds, with
    tf.keras.metrics.AUC's thresholds and interpolated summation (written here because Keras
    3's AUC graph is slow to trace inside a model_fn)."""

    def __init__(self, name: str, curve: str = 'ROC', num_thresholds: int = 200):
        super().__init__(name=_safe_name(name), dtype='float32')
        if curve not in ('ROC', 'PR'):
            raise ValueError(f"curve must be 'ROC' or 'PR'; got {curve!r}")
        self.curve = curve
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = [0.0 - 1e-7] + inner + [1.0 + 1e-7]
        shape = (num_thresholds,)
        self.tp = self.add_variable(shape=shape, initializer='zeros', name='tp')
        self.fp = self.add_variable(shape=shape, initializer='zeros', name='fp')
        self.tn = self.add_variable(shape=shape, initializer='zeros', name='tn')
        self.fn = self.add_variable(shape=shape, initializer='zeros', name='fn')

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = tf.reshape(tf.cast(y_pred, tf.float32), [-1, 1])
        weights = tf.reshape(broadcast_weights(
            1.0 if sample_weight is None else sample_weight,
            tf.reshape(y_pred, tf.shape(y_true))), [-1, 1])
        positive = tf.reshape(tf.cast(tf.cast(y_true, tf.bool), tf.float32), [-1, 1])
        above = tf.cast(y_pred > tf.constant(self.thresholds, tf.float32), tf.float32)  # [N, T]
        self.tp.assign_add(tf.reduce_sum(weights * positive * above, axis=0))
        self.fp.assign_add(tf.reduce_sum(weights * (1.0 - positive) * above, axis=0))
        self.fn.assign_add(tf.reduce_sum(weights * positive * (1.0 - above), axis=0))
        self.tn.assign_add(tf.reduce_sum(weights * (1.0 - positive) * (1.0 - above), axis=0))

    def result(self) -> tf.Tensor:
        counts = tf.stack([v.value for v in (self.tp, self.fp, self.tn, self.fn)])
        tp0, fp0, tn0, fn0 = tf.unstack(counts[:, :-1])  # threshold i
        tp1, fp1, tn1, fn1 = tf.unstack(counts[:, 1:])   # threshold i + 1
        if self.curve == 'PR':  # Davis & Goadrich interpolation, as tf.keras's interpolate_pr_auc
            dtp = tp0 - tp1
            p0, p1 = tp0 + fp0, tp1 + fp1
            slope = tf.math.divide_no_nan(dtp, tf.maximum(p0 - p1, 0.0))
            intercept = tp1 - slope * p1
            ratio = tf.where(tf.logical_and(p0 > 0, p1 > 0),
                             tf.math.divide_no_nan(p0, tf.maximum(p1, 0.0)), tf.ones_like(p1))
            return tf.reduce_sum(tf.math.divide_no_nan(
                slope * (dtp + intercept * tf.math.log(ratio)), tf.maximum(tp1 + fn1, 0.0)))
        recall0, recall1 = (tf.math.divide_no_nan(a, a + b) for a, b in ((tp0, fn0), (tp1, fn1)))
        fpr0, fpr1 = (tf.math.divide_no_nan(a, a + b) for a, b in ((fp0, tn0), (fp1, tn1)))
        return tf.reduce_sum((fpr0 - fpr1) * (recall0 + recall1) / 2.0)


def auc(name: str, curve: str = 'ROC') -> AUC:
    """tf.keras.metrics.AUC's defaults: 200 thresholds, interpolated summation."""
    return AUC(name, curve=curve)


def update_auc(metric: AUC, labels: tf.Tensor, predictions: tf.Tensor, weights: Any) -> None:
    metric.update_state(labels, predictions, sample_weight=weights)


def threshold_metrics(threshold_keys: list) -> dict:
    """accuracy / precision / recall at each threshold: (threshold, accuracy key, precision key,
    recall key) tuples, as the binary and multi-label heads report them."""
    metrics = {}
    for threshold, accuracy, precision, recall in threshold_keys:
        metrics[accuracy] = WeightedMean(accuracy)
        metrics[precision] = ConfusionRatio(precision, 'precision', threshold)
        metrics[recall] = ConfusionRatio(recall, 'recall', threshold)
    return metrics

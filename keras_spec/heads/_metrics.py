"""Keras 3 metrics with tf.keras 2.x's weighting, as tf.estimator 2.15's heads used them.

Keras 3's `Mean` first averages each example's values and weights per example; tf.keras 2.x
broadcast the weights to the values and averaged every element. The heads need the latter
(per-logit weights in RegressionHead), so the simple metrics are written here; AUC comes from
Keras 3, whose algorithm (200 thresholds, interpolated summation) is tf.keras's.
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


def auc(name: str, curve: str = 'ROC') -> keras.metrics.AUC:
    """tf.keras.metrics.AUC's defaults: 200 thresholds, interpolated summation."""
    return keras.metrics.AUC(curve=curve, name=_safe_name(name))


def update_auc(metric: keras.metrics.AUC, labels: tf.Tensor, predictions: tf.Tensor,
               weights: Any) -> None:
    predictions = tf.cast(predictions, tf.float32)
    weights = None if weights is None else broadcast_weights(weights, predictions)
    metric.update_state(tf.cast(labels, tf.float32), predictions, sample_weight=weights)

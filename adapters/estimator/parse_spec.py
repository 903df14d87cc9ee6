"""`tf.estimator.classifier_parse_example_spec` / `regressor_parse_example_spec`.

Scripts build their tf.Example parsing spec (features + label [+ weight]) with these for both
the input_fn and the serving receiver; they need nothing of the Estimator, so they are kept.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def _features_spec(feature_columns: Any) -> dict:
    try:  # the TF2 feature columns (tf.feature_column.*)
        return dict(tf.feature_column.make_parse_example_spec(feature_columns))
    except ValueError:  # v1-only columns (tf.compat.v1.feature_column.*)
        return dict(tf.compat.v1.feature_column.make_parse_example_spec(feature_columns))


def _with_label_and_weight(spec: dict, label_key: str, label_spec: Any, weight_column: Any) -> dict:
    if label_key in spec:
        raise ValueError("label should not be used as feature. "
                         f"label_key: {label_key}, features: {spec.keys()}")
    spec[label_key] = label_spec
    if weight_column is None:
        return spec
    if isinstance(weight_column, str):
        weight_column = tf.feature_column.numeric_column(weight_column)
    if type(weight_column).__name__ != "NumericColumn":
        raise ValueError("weight_column should be an instance of tf.feature_column.numeric_column. "
                         f"Given type: {type(weight_column)} value: {weight_column}")
    spec.update(weight_column.parse_example_spec)
    return spec


def classifier_parse_example_spec(feature_columns: Any, label_key: str,
                                  label_dtype: tf.DType = tf.int64, label_default: Any = None,
                                  weight_column: Any = None) -> dict:
    """Parsing spec of the feature columns plus a [1]-shaped label (and a weight)."""
    return _with_label_and_weight(_features_spec(feature_columns), label_key,
                                  tf.io.FixedLenFeature((1,), label_dtype, label_default),
                                  weight_column)


def regressor_parse_example_spec(feature_columns: Any, label_key: str,
                                 label_dtype: tf.DType = tf.float32, label_default: Any = None,
                                 label_dimension: int = 1, weight_column: Any = None) -> dict:
    """Parsing spec of the feature columns plus a [label_dimension] label (and a weight)."""
    return _with_label_and_weight(_features_spec(feature_columns), label_key,
                                  tf.io.FixedLenFeature((label_dimension,), label_dtype,
                                                        label_default), weight_column)

"""tf.estimator 2.15's Heads on keras_spec: `head.create_estimator_spec(...)` returns the
EstimatorSpec (loss, predictions, metrics, train_op, export signatures) tf.estimator built.

`optimizer=` takes a Keras 3 optimizer (or a compat.v1 one) and, as in tf.estimator 2.15,
does not advance the global step: add `update_ops=[increment_global_step()]` for that.
"""

from keras_spec.heads._keys import MetricKeys, PredictionKeys
from keras_spec.heads._utils import increment_global_step
from keras_spec.heads.base import Head
from keras_spec.heads.binary_class import BinaryClassHead
from keras_spec.heads.multi_class import MultiClassHead
from keras_spec.heads.multi_head import MultiHead
from keras_spec.heads.multi_label import MultiLabelHead
from keras_spec.heads.regression import (LogisticRegressionHead, PoissonRegressionHead,
                                         RegressionHead)

# tf.estimator name -> class: what a `tf.estimator` shim exposes (adapters.estimator.install()).
TF_ESTIMATOR_NAMES = {
    'Head': Head, 'BinaryClassHead': BinaryClassHead, 'MultiClassHead': MultiClassHead,
    'MultiLabelHead': MultiLabelHead, 'RegressionHead': RegressionHead,
    'LogisticRegressionHead': LogisticRegressionHead,
    'PoissonRegressionHead': PoissonRegressionHead, 'MultiHead': MultiHead,
}

__all__ = ['Head', 'BinaryClassHead', 'MultiClassHead', 'MultiLabelHead', 'RegressionHead',
           'LogisticRegressionHead', 'PoissonRegressionHead', 'MultiHead', 'MetricKeys',
           'PredictionKeys', 'increment_global_step', 'TF_ESTIMATOR_NAMES']

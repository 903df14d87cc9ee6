"""keras_spec: the vocabulary a tf.estimator-era ``model_fn`` returns.

``EstimatorSpec``, ``TPUEstimatorSpec`` and contrib's ``ModelFnOps``, the
``ModeKeys``, export outputs, serving input receivers and SessionRunHooks,
validated with tf.estimator's rules on TensorFlow 2.21 / Keras 3. The engine
that runs them as Keras models lives in ``adapters``.
"""

from keras_spec import export
from keras_spec import heads
from keras_spec import export_output
from keras_spec import hooks
from keras_spec import validation
from keras_spec.estimator_spec import EstimatorSpec
from keras_spec.heads import (BinaryClassHead, Head, LogisticRegressionHead, MultiClassHead,
                              MultiHead, MultiLabelHead, PoissonRegressionHead, RegressionHead)
from keras_spec.export_output import (ClassificationOutput, ExportOutput, PredictOutput,
                                      RegressionOutput)
from keras_spec.hooks import Scaffold, SessionRunArgs, SessionRunHook
from keras_spec.mode_keys import ModeKeys
from keras_spec.model_fn_ops import ModelFnOps, ProblemType
from keras_spec.tpu_estimator_spec import TPUEstimatorSpec

__all__ = [
    'ModeKeys', 'EstimatorSpec', 'TPUEstimatorSpec', 'ModelFnOps', 'ProblemType',
    'export_output', 'export', 'hooks', 'validation', 'Scaffold', 'SessionRunHook',
    'SessionRunArgs', 'ExportOutput', 'ClassificationOutput', 'RegressionOutput',
    'PredictOutput', 'heads', 'Head', 'BinaryClassHead', 'MultiClassHead', 'MultiLabelHead',
    'RegressionHead', 'LogisticRegressionHead', 'PoissonRegressionHead', 'MultiHead',
]

"""`tf.estimator.export`: serving input receivers and export outputs, as tf.estimator named them.

They are keras_spec's (the spec vocabulary); `EvalOutput` is not provided because only PREDICT
SavedModels are exported on TF 2.21.
"""

from keras_spec.export import (ServingInputReceiver, TensorServingInputReceiver,
                               build_parsing_serving_input_receiver_fn,
                               build_raw_serving_input_receiver_fn)
from keras_spec.export_output import (ClassificationOutput, ExportOutput, PredictOutput,
                                      RegressionOutput)

from adapters.estimator.not_provided import module_getattr

__all__ = ["ClassificationOutput", "ExportOutput", "PredictOutput", "RegressionOutput",
           "ServingInputReceiver", "TensorServingInputReceiver",
           "build_parsing_serving_input_receiver_fn", "build_raw_serving_input_receiver_fn"]

__getattr__ = module_getattr("export", __name__)

"""keras-spec engines: a model_fn's spec run as a Keras 3 model, and a tf.estimator-shaped facade.

Subpackages, one concept each (imports point one way, top to bottom; docs/architecture.md):
  estimator/   the tf.estimator-shaped facade and drop-in namespace (Estimator, TPUEstimator,
               train_and_evaluate, exporters, warm start)
  engine/      SpecModel: the model_fn inside Keras's train/test/predict steps
  hooks/       SessionRunHooks around Keras steps       export/  SavedModel export
  tf1/         the TF1 emulation (variables, collections, savers, scaffold, legacy layers)
  distribute/  strategy helpers
The spec vocabulary itself (EstimatorSpec, ModeKeys, RunConfig, ...) is the `keras_spec` package.
"""

from keras_spec.run_config import RunConfig

from adapters.engine.spec_model import SpecModel, XlaCompilationError
from adapters.estimator import tpu
from adapters.estimator.estimator import Estimator
from adapters.estimator.exporter import Exporter, FinalExporter, LatestExporter
from adapters.estimator.tpu import TPUConfig, TPUEstimator
from adapters.estimator.training import EvalSpec, TrainSpec, train_and_evaluate
from adapters.estimator.warm_start import WarmStartSettings

__all__ = ["Estimator", "EvalSpec", "Exporter", "FinalExporter", "LatestExporter", "RunConfig",
           "SpecModel", "TPUConfig", "TPUEstimator", "TrainSpec", "WarmStartSettings",
           "XlaCompilationError", "tpu", "train_and_evaluate"]

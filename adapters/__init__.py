"""keras-spec engines: a model_fn's spec translated into a Keras 3 model."""

from adapters import tpu
from adapters.estimator import Estimator
from adapters.exporter import Exporter, FinalExporter, LatestExporter
from adapters.run_config import RunConfig
from adapters.spec_model import SpecModel, XlaCompilationError
from adapters.tpu import TPUConfig, TPUEstimator
from adapters.training import EvalSpec, TrainSpec, train_and_evaluate
from adapters.warm_start import WarmStartSettings

__all__ = ["Estimator", "EvalSpec", "Exporter", "FinalExporter", "LatestExporter", "RunConfig",
           "SpecModel", "TPUConfig", "TPUEstimator", "TrainSpec", "WarmStartSettings",
           "XlaCompilationError", "tpu", "train_and_evaluate"]

"""keras-spec engines: a model_fn's spec run as a Keras 3 model, and a tf.estimator-shaped facade.

Subpackages, one concept each (imports point one way, top to bottom; docs/architecture.md):
  estimator/   the tf.estimator-shaped facade and drop-in namespace (Estimator, TPUEstimator,
               train_and_evaluate, exporters, warm start)
  engine/      SpecModel: the model_fn inside Keras's train/test/predict steps
  hooks/       SessionRunHooks around Keras steps       export/  SavedModel export
  tf1/         the TF1 emulation (variables, collections, savers, scaffold, legacy layers)
  distribute/  strategy helpers
The spec vocabulary itself (EstimatorSpec, ModeKeys, RunConfig, ...) is the `keras_spec` package.

The public names below are imported on first use, so that `import adapters.startup` (and a
command line's `--help`) does not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> (module, attribute or None for the module itself)
_PUBLIC = {
    "Estimator": ("adapters.estimator.estimator", "Estimator"),
    "EvalSpec": ("adapters.estimator.training", "EvalSpec"),
    "Exporter": ("adapters.estimator.exporter", "Exporter"),
    "FinalExporter": ("adapters.estimator.exporter", "FinalExporter"),
    "LatestExporter": ("adapters.estimator.exporter", "LatestExporter"),
    "RunConfig": ("keras_spec.run_config", "RunConfig"),
    "SpecModel": ("adapters.engine.spec_model", "SpecModel"),
    "TPUConfig": ("adapters.estimator.tpu", "TPUConfig"),
    "TPUEstimator": ("adapters.estimator.tpu", "TPUEstimator"),
    "TrainSpec": ("adapters.estimator.training", "TrainSpec"),
    "WarmStartSettings": ("adapters.estimator.warm_start", "WarmStartSettings"),
    "XlaCompilationError": ("adapters.engine.spec_model", "XlaCompilationError"),
    "tpu": ("adapters.estimator.tpu", None),
    "train_and_evaluate": ("adapters.estimator.training", "train_and_evaluate"),
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'adapters' has no attribute {name!r}")
    module_name, attribute = _PUBLIC[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))

"""keras-spec engines: a model_fn's spec run as a Keras 3 model, and a tf.estimator-shaped facade.

Subpackages, one concept each (imports point one way, top to bottom; docs/architecture.md):
  estimator/   the tf.estimator-shaped facade and drop-in namespace (Estimator, TPUEstimator,
               train_and_evaluate, exporters, warm start)
  engine/      SpecModel: the model_fn inside Keras's train/test/predict steps
  hooks/       SessionRunHooks around Keras steps       export/  SavedModel export
  tf1/         the TF1 emulation (variables, collections, savers, scaffold, legacy layers)
  distribute/  strategy helpers
  doctor/      `keras-spec doctor`: what a tf.estimator script needs changing, and --fix
The spec vocabulary itself (EstimatorSpec, ModeKeys, RunConfig, ...) is the `keras_spec` package.

The public names below are imported on first use (PEP 562), so that `adapters.startup` and
tools such as `keras-spec doctor --help` answer without importing TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it.
_EXPORTS = {
    "RunConfig": "keras_spec.run_config",
    "SpecModel": "adapters.engine.spec_model",
    "XlaCompilationError": "adapters.engine.spec_model",
    "Estimator": "adapters.estimator.estimator",
    "Exporter": "adapters.estimator.exporter",
    "FinalExporter": "adapters.estimator.exporter",
    "LatestExporter": "adapters.estimator.exporter",
    "TPUConfig": "adapters.estimator.tpu",
    "TPUEstimator": "adapters.estimator.tpu",
    "EvalSpec": "adapters.estimator.training",
    "TrainSpec": "adapters.estimator.training",
    "train_and_evaluate": "adapters.estimator.training",
    "WarmStartSettings": "adapters.estimator.warm_start",
}

__all__ = sorted([*_EXPORTS, "tpu"])


def __getattr__(name: str) -> Any:
    """Import a public name (or a subpackage such as `adapters.engine`) when first used."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name == "tpu":
        value = importlib.import_module("adapters.estimator.tpu")
    elif not name.startswith("__"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

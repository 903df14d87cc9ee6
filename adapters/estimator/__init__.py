"""The tf.estimator-shaped facade, and the drop-in `tf.estimator` namespace for TF 2.21.

This package is spelled as TF 2.15's `tf.estimator` / `tf.compat.v1.estimator`: Estimator,
EstimatorSpec, ModeKeys, RunConfig, TrainSpec, EvalSpec, train_and_evaluate, exporters, warm
start, the SessionRunHooks tf.estimator re-exported, and the submodules `export`, `experimental`
(early stopping), `tpu` and `inputs`. `install()` makes `tf.estimator` this package; a name
tf.estimator had and keras-spec does not provide raises NotProvidedError (an AttributeError)
naming the replacement (`NOT_PROVIDED`). `__all__` lists every provided name.

Modules: `estimator` (Estimator), `tpu` (TPUEstimator, TPUConfig), `training` (TrainSpec,
EvalSpec, train_and_evaluate), `train_loop` (the facade's training loop and its cadences),
`input_fn` (calling input_fns), `warm_start`, `exporter`, `event_files`, `early_stopping`,
`installation`, `not_provided`. It drives the engine (adapters.engine.SpecModel); nothing below
it imports it. Importing it installs nothing.
"""

import tensorflow as tf

from keras_spec.estimator_spec import EstimatorSpec
from keras_spec.mode_keys import ModeKeys
from keras_spec.run_config import RunConfig

from adapters.estimator import experimental, export, inputs, tpu
from adapters.estimator.added_metrics import add_metrics
from adapters.estimator.estimator import Estimator
from adapters.estimator.exporter import BestExporter, Exporter, FinalExporter, LatestExporter
from adapters.estimator.installation import install, installed
from adapters.estimator.not_provided import NOT_PROVIDED as _ALL_NOT_PROVIDED
from adapters.estimator.not_provided import NotProvidedError, error_for
from adapters.estimator.parse_spec import (classifier_parse_example_spec,
                                           regressor_parse_example_spec)
from adapters.estimator.training import EvalSpec, TrainSpec, train_and_evaluate
from adapters.estimator.warm_start import VocabInfo, WarmStartSettings

try:  # tf.estimator's Heads, when keras_spec provides them
    from keras_spec import heads as _heads
except ImportError:
    _heads = None

_HEAD_NAMES = ("BinaryClassHead", "Head", "LogisticRegressionHead", "MultiClassHead", "MultiHead",
               "MultiLabelHead", "PoissonRegressionHead", "RegressionHead")

# The SessionRunHook family tf.estimator re-exported (TensorFlow's own classes: a spec must
# accept exactly those instances, and users subclass them).
_train = tf.compat.v1.train
CheckpointSaverHook = _train.CheckpointSaverHook
CheckpointSaverListener = _train.CheckpointSaverListener
FeedFnHook = _train.FeedFnHook
FinalOpsHook = _train.FinalOpsHook
GlobalStepWaiterHook = _train.GlobalStepWaiterHook
LoggingTensorHook = _train.LoggingTensorHook
NanLossDuringTrainingError = _train.NanLossDuringTrainingError
NanTensorHook = _train.NanTensorHook
ProfilerHook = _train.ProfilerHook
SecondOrStepTimer = _train.SecondOrStepTimer
SessionRunArgs = _train.SessionRunArgs
SessionRunContext = _train.SessionRunContext
SessionRunHook = _train.SessionRunHook
SessionRunValues = _train.SessionRunValues
StepCounterHook = _train.StepCounterHook
StopAtStepHook = _train.StopAtStepHook
SummarySaverHook = _train.SummarySaverHook

_provided_heads = [n for n in _HEAD_NAMES if _heads is not None and hasattr(_heads, n)]
globals().update({n: getattr(_heads, n) for n in _provided_heads})

#: tf.estimator names (dotted within tf.estimator) not provided -> the replacement to use.
NOT_PROVIDED: dict = {k: v for k, v in _ALL_NOT_PROVIDED.items() if k not in _provided_heads}

__all__ = sorted([
    "BestExporter", "CheckpointSaverHook", "CheckpointSaverListener", "Estimator", "EstimatorSpec", "EvalSpec",
    "Exporter", "FeedFnHook", "FinalExporter", "FinalOpsHook", "GlobalStepWaiterHook",
    "LatestExporter", "LoggingTensorHook", "ModeKeys", "NanLossDuringTrainingError",
    "NanTensorHook", "ProfilerHook", "RunConfig", "SecondOrStepTimer", "SessionRunArgs",
    "SessionRunContext", "SessionRunHook", "SessionRunValues", "StepCounterHook",
    "StopAtStepHook", "SummarySaverHook", "TrainSpec", "VocabInfo", "WarmStartSettings",
    "add_metrics", "classifier_parse_example_spec", "regressor_parse_example_spec",
    "train_and_evaluate",
    "experimental", "export", "inputs", "tpu",
] + _provided_heads)


def __getattr__(name: str):
    if name in NOT_PROVIDED:
        raise error_for(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    """tf.estimator's public names plus keras-spec's own entry points; the facade's internal
    modules (estimator, cluster, train_loop, ...) stay importable but are not listed."""
    return sorted(set(__all__) | {"install", "installed", "NOT_PROVIDED", "NotProvidedError"})

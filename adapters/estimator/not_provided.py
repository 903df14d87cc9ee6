"""The tf.estimator names keras-spec does not provide, each with the replacement to use.

Why a table: a TF 2.15 script that touches `tf.estimator.DNNClassifier` should stop with advice
("use keras.Sequential ..."), not a bare AttributeError, and `keras-spec doctor` reads the same
table to report a script's coverage. Keys are dotted within `tf.estimator` (e.g.
"experimental.RNNClassifier"); `NotProvidedError` subclasses AttributeError so `hasattr()` stays
False for these names, as it would for any missing attribute.
"""

from __future__ import annotations

import types
from typing import Callable

_DNN = ("a keras.Sequential of keras.layers.Dense layers (keras.utils.FeatureSpace or "
        "tf.keras preprocessing layers in place of feature columns) compiled with the matching "
        "loss, or your own model_fn run by tf.estimator.Estimator")
_LINEAR = ("a keras.Sequential([keras.layers.Dense(units)]) on the encoded features "
           "(keras.utils.FeatureSpace in place of feature columns), or a model_fn run by "
           "tf.estimator.Estimator")
_WIDE_DEEP = ("a Keras functional model adding a linear (Dense) branch on the wide features to a "
              "Dense stack on the deep features (Wide & Deep), or a model_fn run by "
              "tf.estimator.Estimator")
_BASELINE = ("a model_fn (or Keras model) whose only variable is a bias learned with the same "
             "loss; canned baselines are not provided")
_HEAD = ("tf.estimator Heads are not provided yet: compute the loss and predictions in the "
         "model_fn (tf.compat.v1.losses / keras.losses) and return tf.estimator.EstimatorSpec")
_ONLY_PREDICT = ("only PREDICT SavedModels are exported (TRAIN/EVAL graphs need TF1 sessions, "
                 "which TF 2.21 no longer runs); export with "
                 "tf.estimator.export.build_raw_serving_input_receiver_fn or the parsing one")
_LOGIT_FN = ("canned-estimator internals: build the logits with Keras layers or "
             "tf.compat.v1.layers (legacy-layers extra) inside your model_fn")

#: tf.estimator name (dotted within tf.estimator) -> the replacement, in one sentence.
NOT_PROVIDED: dict[str, str] = {
    "BaselineClassifier": _BASELINE,
    "BaselineEstimator": _BASELINE,
    "BaselineRegressor": _BASELINE,
    "DNNClassifier": _DNN,
    "DNNEstimator": _DNN,
    "DNNRegressor": _DNN,
    "DNNLinearCombinedClassifier": _WIDE_DEEP,
    "DNNLinearCombinedEstimator": _WIDE_DEEP,
    "DNNLinearCombinedRegressor": _WIDE_DEEP,
    "LinearClassifier": _LINEAR,
    "LinearEstimator": _LINEAR,
    "LinearRegressor": _LINEAR,
    "BoostedTreesClassifier": ("TensorFlow Decision Forests' "
                               "tfdf.keras.GradientBoostedTreesModel (a Keras model)"),
    "BoostedTreesRegressor": ("TensorFlow Decision Forests' "
                              "tfdf.keras.GradientBoostedTreesModel (a Keras model)"),
    "BinaryClassHead": _HEAD,
    "Head": _HEAD,
    "LogisticRegressionHead": _HEAD,
    "MultiClassHead": _HEAD,
    "MultiHead": _HEAD,
    "MultiLabelHead": _HEAD,
    "PoissonRegressionHead": _HEAD,
    "RegressionHead": _HEAD,
    "export.EvalOutput": _ONLY_PREDICT,
    "experimental.build_raw_supervised_input_receiver_fn": _ONLY_PREDICT,
    "experimental.InMemoryEvaluatorHook": (
        "tf.estimator.train_and_evaluate with RunConfig(save_checkpoints_steps=N) and "
        "EvalSpec(throttle_secs=0) evaluates every N steps (or keras.Model.fit with "
        "validation_data and validation_freq)"),
    "experimental.make_stop_at_checkpoint_step_hook": (
        "it served separate evaluator jobs; train_and_evaluate runs locally here: bound "
        "training with TrainSpec(max_steps=...)"),
    "experimental.KMeans": "scikit-learn's sklearn.cluster.KMeans (or a Keras model of your own)",
    "experimental.LinearSDCA": ("a linear Keras model (keras.layers.Dense) trained with a "
                                "standard optimizer such as keras.optimizers.Ftrl"),
    "experimental.RNNClassifier": ("a keras.Model with keras.layers.LSTM / GRU / SimpleRNN "
                                   "and a Dense output layer"),
    "experimental.RNNEstimator": ("a keras.Model with keras.layers.LSTM / GRU / SimpleRNN, or "
                                  "a model_fn run by tf.estimator.Estimator"),
    "experimental.call_logit_fn": _LOGIT_FN,
    "experimental.dnn_logit_fn_builder": _LOGIT_FN,
    "experimental.linear_logit_fn_builder": _LOGIT_FN,
    "inputs.pandas_input_fn": ("tf.data.Dataset.from_tensor_slices((dict(df), labels))"
                               ".shuffle(n).batch(batch_size) in your input_fn"),
    "tpu.experimental.EmbeddingConfigSpec": (
        "TPU embeddings: tf.tpu.experimental.embedding.TPUEmbedding (or keras_rs) under "
        "tf.distribute.TPUStrategy in a Keras model"),
}


class NotProvidedError(AttributeError):
    """A tf.estimator name keras-spec does not provide; the message names the replacement."""


def error_for(dotted: str) -> NotProvidedError:
    return NotProvidedError(
        f"tf.estimator.{dotted} is not provided by keras-spec (a tf.estimator namespace for "
        f"model_fns on TF 2.21 / Keras 3). Use instead: {NOT_PROVIDED[dotted]}.")


def module_getattr(prefix: str, module_name: str) -> Callable[[str], object]:
    """A module-level `__getattr__` raising NotProvidedError for the table's `prefix.*` names."""

    def __getattr__(name: str) -> object:
        dotted = f"{prefix}.{name}" if prefix else name
        if dotted in NOT_PROVIDED:
            raise error_for(dotted)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__


def placeholder_module(prefix: str, module_name: str, doc: str) -> types.ModuleType:
    """A module whose every listed name is not provided (e.g. `tpu.experimental`)."""
    module = types.ModuleType(module_name, doc)
    module.__getattr__ = module_getattr(prefix, module_name)  # type: ignore[attr-defined]
    module.__all__ = []  # type: ignore[attr-defined]
    return module

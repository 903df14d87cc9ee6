"""`install()`: the one line that makes a tf.estimator 2.15 script run on TF 2.21.

TensorFlow 2.21 has no `tf.estimator` (tensorflow-estimator stopped at 2.15) and routes
`tf.compat.v1.layers` to Keras 3, which raises "`dense` is not available with Keras 3". After
`install()`, `tf.estimator`, `tf.compat.v1.estimator` and `tf.compat.v2.estimator` (with `.tpu`,
`.export`, `.experimental`, `.inputs`) are the `adapters.estimator` namespace, importable too
(`from tensorflow.estimator import Estimator`), and `tf.compat.v1.layers` are tf_keras's TF1
layers when tf_keras (the `legacy-layers` extra) is installed. Nothing happens on import: a user
calls it, explicitly, once; calling it again changes nothing.

Checked on TF 2.21.0: the SessionRunHook family (`tf.compat.v1.train.SessionRunHook`,
`SessionRunArgs`, `LoggingTensorHook`, `ProfilerHook`, `FeedFnHook`, `FinalOpsHook`,
`GlobalStepWaiterHook`, `SecondOrStepTimer`, `CheckpointSaverListener`,
`NanLossDuringTrainingError`, ...) still exists in `tf.compat.v1.train`, and `tf.train` (v2)
lacked it in TF 2.15 too, so no `tf.train` name needs mapping; they are re-exported at the top
of the namespace as tf.estimator did.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
import types

import tensorflow as tf

_log = logging.getLogger("keras_spec")
_NAMESPACE = "adapters.estimator"
_SUBMODULES = ("export", "experimental", "tpu", "inputs")
# Every TF API module object a script can reach as `tf`, `tf.compat.v1`, `tf.compat.v2`, ...
# (module objects differ: `tensorflow.compat.v1` is a TFModuleWrapper of its own).
_API_MODULE = re.compile(r"^tensorflow(\._api\.v2)?(\.compat\.v[12])*$")
_IMPORT_PATHS = ("tensorflow.estimator", "tensorflow.compat.v1.estimator",
                 "tensorflow.compat.v2.estimator")
_LEGACY_LAYERS_EXTRA = 'pip install "keras-spec[legacy-layers]"'
# The TF1 layer functions and classes scripts call through tf.compat.v1.layers.
_TF1_LAYER_NAMES = (
    "average_pooling1d", "average_pooling2d", "average_pooling3d", "batch_normalization",
    "conv1d", "conv2d", "conv2d_transpose", "conv3d", "conv3d_transpose", "dense", "dropout",
    "flatten", "max_pooling1d", "max_pooling2d", "max_pooling3d", "separable_conv1d",
    "separable_conv2d", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "BatchNormalization", "Conv1D", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose",
    "Dense", "Dropout", "Flatten", "InputSpec", "Layer", "MaxPooling1D", "MaxPooling2D",
    "MaxPooling3D", "SeparableConv1D", "SeparableConv2D")


def _api_modules() -> list:
    """`tensorflow`, `tensorflow.compat.v1`, `tensorflow.compat.v2` and their nested copies."""
    for name in ("tensorflow.compat.v1", "tensorflow.compat.v2"):
        importlib.import_module(name)  # cached from now on: a later import sees the patch
    found = []
    for name, module in list(sys.modules.items()):
        if module is not None and _API_MODULE.match(name) and all(module is not f for f in found):
            found.append(module)
    return found


def _install_namespace(namespace: types.ModuleType) -> None:
    for module in _api_modules():
        if getattr(module, "estimator", None) is namespace:
            continue
        # TFModuleWrapper.__setattr__ also sets it on the wrapped module (TF 2.21).
        setattr(module, "estimator", namespace)
    for path in _IMPORT_PATHS:
        sys.modules[path] = namespace
        for sub in _SUBMODULES:
            sys.modules[f"{path}.{sub}"] = getattr(namespace, sub)


def _missing_layer(name: str):
    def missing(*args, **kwargs):
        raise ImportError(
            f"tf.compat.v1.layers.{name} needs the tf_keras package (Keras 2), which provides the "
            f"TF1 layers Keras 3 removed: {_LEGACY_LAYERS_EXTRA} (tf_keras==2.21.*), then call "
            "adapters.estimator.install() again.")
    missing.__name__ = name
    return missing


def _legacy_layer_loaders() -> list:
    """TensorFlow's lazy `compat.v1.layers` objects (tensorflow/python/util/lazy_loader.py).

    The same search as adapters/tf1/legacy_layers.py, which cannot be imported without
    tf_keras. Checked on TF 2.21.0.
    """
    found = []
    for module in _api_modules():
        module = getattr(module, "_tfmw_wrapped_module", module)
        layers = getattr(module, "__dict__", {}).get("layers")
        if (isinstance(layers, types.ModuleType)
                and layers.__dict__.get("_tfll_submodule") == "__internal__.legacy.layers"
                and all(layers is not f for f in found)):
            found.append(layers)
    return found


def _install_legacy_layers() -> bool:
    """tf_keras's TF1 layers as `tf.compat.v1.layers.*`; else stubs naming the extra."""
    try:
        legacy_layers = importlib.import_module("adapters.tf1.legacy_layers")
    except ImportError as e:
        _log.warning("tf.compat.v1.layers stay unavailable: %s", e)
        for loader in _legacy_layer_loaders():
            for name in _TF1_LAYER_NAMES:
                # Into __dict__: the lazy loader's __setattr__ would import Keras 3's layers.
                loader.__dict__[name] = _missing_layer(name)
        return False
    legacy_layers.install()
    return True


def install() -> types.ModuleType:
    """Make `tf.estimator` (and `tf.compat.v1.estimator`, `tf.compat.v2.estimator`) this package.

    Call it once, after `import tensorflow as tf` and before the script's first use of
    `tf.estimator`: `import adapters.estimator; adapters.estimator.install()`. Afterwards
    `tf.estimator.Estimator`, `tf.estimator.tpu.TPUEstimator`, `tf.estimator.export.*`,
    `tf.estimator.experimental.stop_if_no_decrease_hook`, ... are keras-spec's, module paths
    such as `tensorflow.compat.v1.estimator.tpu` import, and `tf.compat.v1.layers.dense` & co.
    work through tf_keras (the `legacy-layers` extra; without it they raise an error naming the
    extra, and the estimator namespace is installed anyway). Idempotent. Returns the namespace.
    """
    namespace = importlib.import_module(_NAMESPACE)
    _install_namespace(namespace)
    _install_legacy_layers()
    return namespace


def installed() -> bool:
    """Whether `tf.estimator` is currently keras-spec's namespace."""
    return getattr(tf, "estimator", None) is sys.modules.get(_NAMESPACE)

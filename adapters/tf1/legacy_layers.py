"""`tf.compat.v1.layers` for model_fns, from tf_keras (Keras 2), without switching tf.keras.

With Keras 3 installed, TensorFlow 2.21 routes `tf.compat.v1.layers` to Keras 3, which has no
TF1 layers: every call raises "`dense` is not available with Keras 3". The `tf_keras` package
(`pip install "keras-spec[legacy-layers]"`) still ships them, importable from
`tf_keras.api._v1.keras.__internal__.legacy.layers` without `TF_USE_LEGACY_KERAS=1` (which would
turn `tf.keras` into Keras 2 for the whole process). They create their variables with
`tf.compat.v1.get_variable` under the usual names (`conv2d/kernel`, `dense_1/bias`,
`batch_normalization/moving_mean` ...) and put batch-norm updates in `UPDATE_OPS`, so inside
SpecModel they behave as they did under tf.estimator.

Two ways to use them:

* in new or editable code: `from adapters import legacy_layers as layers; layers.dense(x, 10)`;
* for unmodified model_fns that call `tf.compat.v1.layers.dense(...)`: call
  `adapters.legacy_layers.install()` once (before or after the model_fn module is imported).

Checked on TF 2.21.0, Keras 3.15.1, tf_keras 2.21.0.
"""

from __future__ import annotations

import importlib
import sys
import types

import tensorflow as tf  # before tf_keras: tf_keras imports TensorFlow's internals

_TF_KERAS_LEGACY_LAYERS = "tf_keras.api._v1.keras.__internal__.legacy.layers"

try:
    _legacy = importlib.import_module(_TF_KERAS_LEGACY_LAYERS)
except ImportError as e:  # tf_keras missing (or a version without the legacy layers)
    raise ImportError(
        "adapters.legacy_layers needs the tf_keras package (Keras 2), which provides the "
        "tf.compat.v1.layers functions that Keras 3 removed. Install it with: "
        'pip install "keras-spec[legacy-layers]"  (that is tf_keras==2.21.*). '
        f"Importing {_TF_KERAS_LEGACY_LAYERS} failed: {e}") from e

#: Every public name of tf_keras's legacy layers module (functions and Layer classes).
LAYER_NAMES = tuple(sorted(n for n in dir(_legacy) if not n.startswith("_")))
globals().update({n: getattr(_legacy, n) for n in LAYER_NAMES})
__all__ = list(LAYER_NAMES) + ["install", "installed"]

# Named explicitly for readers and linters; all come from tf_keras.
dense = _legacy.dense
conv1d = _legacy.conv1d
conv2d = _legacy.conv2d
max_pooling2d = _legacy.max_pooling2d
average_pooling2d = _legacy.average_pooling2d
flatten = _legacy.flatten
dropout = _legacy.dropout
batch_normalization = _legacy.batch_normalization
Dense = _legacy.Dense

# `tensorflow.compat.v1` and the `compat.v1` modules reachable from `tf` are separate module
# objects, each with its own lazy `layers` attribute; all are patched.
_COMPAT_V1_MODULES = ("tensorflow.compat.v1",)


def _is_legacy_layers_loader(obj) -> bool:
    """TensorFlow's lazy `compat.v1.layers` attribute (tensorflow/python/util/lazy_loader.py)."""
    return (isinstance(obj, types.ModuleType)
            and obj.__dict__.get("_tfll_submodule") == "__internal__.legacy.layers")


def _compat_v1_layers_objects() -> list:
    for name in _COMPAT_V1_MODULES:
        importlib.import_module(name)  # cached from now on: a later import sees the patch
    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("tensorflow") or module is None:
            continue
        module = getattr(module, "_tfmw_wrapped_module", module)  # TFModuleWrapper
        layers = getattr(module, "__dict__", {}).get("layers")
        if _is_legacy_layers_loader(layers) and all(layers is not f for f in found):
            found.append(layers)
    return found


def install() -> None:
    """Make `tf.compat.v1.layers.*` (dense, conv2d, batch_normalization, ...) work again.

    Why: TensorFlow 2.21 resolves `tf.compat.v1.layers` lazily to Keras 3, which raises
    "`dense` is not available with Keras 3" for every TF1 layer, so a model_fn written for
    tf.estimator fails on its first layer. This sets tf_keras's implementations as attributes
    of every `compat.v1.layers` API module object TensorFlow has (`tf.compat.v1.layers`,
    `tensorflow.compat.v1.layers`, ...), so unmodified model_fns - including modules that did
    `from tensorflow.compat.v1 import layers` before this call - get working layers. `tf.keras`
    stays Keras 3 (unlike `TF_USE_LEGACY_KERAS=1`). Idempotent: calling it again changes nothing.
    """
    for loader in _compat_v1_layers_objects():
        # Written into the module's __dict__ directly: the lazy loader's own __setattr__ would
        # first import Keras 3's (non-existent) legacy layers module and fail.
        for name in LAYER_NAMES:
            loader.__dict__[name] = getattr(_legacy, name)


def installed() -> bool:
    """Whether `tf.compat.v1.layers.dense` is tf_keras's (i.e. install() took effect)."""
    return tf.compat.v1.layers.__dict__.get("dense") is _legacy.dense

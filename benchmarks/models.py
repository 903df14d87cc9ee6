"""What is measured: workloads (network + data) and, per workload, the implementations.

SpecModel runs training through adapters.engine.fast_loop by default (issue 7); `workloads(keras_loop=
True)` adds '<impl>_kerasloop' implementations, the same model_fns on SpecModel with
`use_fast_loop = False` (Keras's own train loop), to measure what the fast loop changes.

Implementations of one workload compute the same function from the same initial weights on the
same batches, so their throughputs are comparable:
  legacy    (a) the TF1-style model_fn (compat.v1 get_variable / losses / Adam) in SpecModel;
  keras_fn  (b) the same network as a "Keras-native" model_fn in SpecModel: keras.layers.Dense
                created inline in the model_fn (what a user migrating layer by layer writes),
                no train_op, and `compile(optimizer=keras.optimizers.Adam(...))`, which makes
                SpecModel minimize the spec's loss with the Keras optimizer;
  keras     (c) a plain Keras 3 functional model with compile/fit: the baseline.
The baseline compiles no metrics (fewest ops per training step, the strongest baseline); its
evaluate() therefore computes the loss only, while the model_fns also update their
eval_metric_ops, so evaluate ratios lean slightly against SpecModel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

import keras_spec
from adapters import SpecModel

from benchmarks import model_fns

model_fns.SPEC = keras_spec

# compat.v1 AdamOptimizer's epsilon; Keras's default is 1e-7. Same value everywhere so that the
# implementations do the same arithmetic.
_ADAM_EPSILON = 1e-8


@dataclass(frozen=True)
class Workload:
    """One network and its data, with the step counts a measurement uses."""

    name: str
    description: str
    batch_size: int
    data: Callable[[], tuple[np.ndarray, np.ndarray]]
    builders: dict[str, Callable[[], keras.Model]]  # implementation -> uncompiled model
    optimizers: dict[str, Callable[[], keras.optimizers.Optimizer | None]]
    steps_per_epoch: int  # timed epoch length (a multiple of 32)
    eval_batches: int  # batches per evaluate()/predict() call (a multiple of 32)
    train: bool = True  # False: evaluate-only workload (the metrics case)


def _const(array: np.ndarray) -> keras.initializers.Initializer:
    return keras.initializers.Constant(array)


# -- bench: 784-256-256-10 ------------------------------------------------------------------
def keras_bench_model_fn(features, labels, mode, params):
    """(b): the bench network with inline Keras layers; the optimizer comes from compile()."""
    p = model_fns.cached_init("bench", model_fns.bench_init)
    x = features["x"]
    h = keras.layers.Dense(256, activation="relu", name="fc1", kernel_initializer=_const(p["w1"]))(x)
    h = keras.layers.Dense(256, activation="relu", name="fc2", kernel_initializer=_const(p["w2"]))(h)
    logits = keras.layers.Dense(10, name="logits", kernel_initializer=_const(p["w3"]))(h)
    if mode == keras_spec.ModeKeys.PREDICT:
        return keras_spec.EstimatorSpec(mode=mode, predictions={"logits": logits})
    loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                                       from_logits=True))
    if mode == keras_spec.ModeKeys.EVAL:
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        accuracy.update_state(labels, logits)
        return keras_spec.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops={"accuracy": accuracy})
    return keras_spec.EstimatorSpec(mode=mode, loss=loss)


def _plain_bench() -> keras.Model:
    p = model_fns.bench_init()
    x = keras.Input(shape=(784,), name="x")
    h = keras.layers.Dense(256, activation="relu", kernel_initializer=_const(p["w1"]))(x)
    h = keras.layers.Dense(256, activation="relu", kernel_initializer=_const(p["w2"]))(h)
    logits = keras.layers.Dense(10, kernel_initializer=_const(p["w3"]))(h)
    return keras.Model({"x": x}, logits)


# -- mlp_classifier: 10-16-3 (overhead-bound) ------------------------------------------------
def _mlp_schedule() -> keras.optimizers.schedules.LearningRateSchedule:
    mp = model_fns.MLP_PARAMS
    return keras.optimizers.schedules.ExponentialDecay(mp["learning_rate"], mp["decay_steps"],
                                                       mp["decay_rate"], staircase=False)


def keras_mlp_model_fn(features, labels, mode, params):
    """(b) for the overhead-bound case: inline Dense layers, optimizer from compile()."""
    p = model_fns.cached_init("mlp", model_fns.mlp_init)
    x = features["x"]
    h = keras.layers.Dense(16, activation="relu", name="hidden", kernel_initializer=_const(p["w1"]))(x)
    logits = keras.layers.Dense(3, name="logits", kernel_initializer=_const(p["w2"]))(h)
    if mode == keras_spec.ModeKeys.PREDICT:
        return keras_spec.EstimatorSpec(mode=mode, predictions={
            "class_ids": keras.ops.argmax(logits, axis=1), "logits": logits})
    loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                                       from_logits=True))
    if mode == keras_spec.ModeKeys.EVAL:
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        accuracy.update_state(labels, logits)
        return keras_spec.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops={"accuracy": accuracy})
    return keras_spec.EstimatorSpec(mode=mode, loss=loss)


def _plain_mlp() -> keras.Model:
    p = model_fns.mlp_init()
    x = keras.Input(shape=(10,), name="x")
    h = keras.layers.Dense(16, activation="relu", kernel_initializer=_const(p["w1"]))(x)
    logits = keras.layers.Dense(3, kernel_initializer=_const(p["w2"]))(h)
    return keras.Model({"x": x}, logits)


# -- cnn: 28x28x1 -> conv 3x3x8 -> maxpool -> dense 10 ----------------------------------------
def _plain_cnn() -> keras.Model:
    p = model_fns.cnn_init()
    x = keras.Input(shape=(28, 28, 1), name="x")
    h = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=_const(p["k"]))(x)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    logits = keras.layers.Dense(10, kernel_initializer=_const(p["w"]))(h)
    return keras.Model({"x": x}, logits)


def _spec(model_fn: Callable, params: dict) -> Callable[[], keras.Model]:
    def make():
        return SpecModel(model_fn, params=dict(params))
    make.model_fn, make.params = model_fn, params  # read by _with_keras_loop
    return make


def _adam(learning_rate) -> Callable[[], keras.optimizers.Optimizer]:
    return lambda: keras.optimizers.Adam(learning_rate() if callable(learning_rate) else
                                         learning_rate, epsilon=_ADAM_EPSILON)


def _none() -> None:
    return None


LABELS = {"legacy": "(a) TF1 model_fn", "keras_fn": "(b) Keras-layer model_fn",
          "keras": "(c) plain Keras", "metrics10": "10 compat.v1 metrics",
          "metrics0": "no metrics",
          "legacy_kerasloop": "(a) on Keras's loop", "keras_fn_kerasloop": "(b) on Keras's loop",
          # saved reports from before fast_loop was SpecModel's default (opt-in subclass then)
          "legacy_fast": "(a) + fast_loop", "keras_fn_fast": "(b) + fast_loop"}
KERAS_LOOP_SUFFIX = "_kerasloop"


def _on_keras_loop(model_fn: Callable, params: dict) -> Callable[[], keras.Model]:
    """The same model_fn on SpecModel with fast_loop switched off (Keras's own train loop)."""
    def make():
        model = SpecModel(model_fn, params=dict(params))
        model.use_fast_loop = False
        return model
    return make


def _with_keras_loop(workload: Workload) -> Workload:
    """Adds '<impl>_kerasloop' for every SpecModel implementation (legacy, keras_fn)."""
    builders, optimizers = dict(workload.builders), dict(workload.optimizers)
    for impl in [i for i in workload.builders if i in ("legacy", "keras_fn")]:
        factory = workload.builders[impl]
        builders[impl + KERAS_LOOP_SUFFIX] = _on_keras_loop(factory.model_fn, factory.params)
        optimizers[impl + KERAS_LOOP_SUFFIX] = workload.optimizers[impl]
    return Workload(**{**workload.__dict__, "builders": builders, "optimizers": optimizers})


def workloads(keras_loop: bool = False) -> dict[str, Workload]:
    """Every workload by name, in reporting order; `keras_loop` adds the '<impl>_kerasloop'
    implementations (SpecModel on Keras's own train loop) to the training workloads."""
    result = {
        "bench": Workload(
            "bench", "784-256-256-10 MLP, Adam, batch 128 (compute-bound)", 128,
            model_fns.bench_data,
            builders={"legacy": _spec(model_fns.bench_model_fn, model_fns.BENCH_PARAMS),
                      "keras_fn": _spec(keras_bench_model_fn, {}),
                      "keras": _plain_bench},
            optimizers={"legacy": _none, "keras_fn": _adam(1e-3), "keras": _adam(1e-3)},
            steps_per_epoch=128, eval_batches=64),
        "mlp_classifier": Workload(
            "mlp_classifier", "10-16-3 MLP, Adam + exp. decay, batch 32 (overhead-bound)", 32,
            model_fns.mlp_data,
            builders={"legacy": _spec(model_fns.mlp_model_fn, model_fns.MLP_PARAMS),
                      "keras_fn": _spec(keras_mlp_model_fn, {}),
                      "keras": _plain_mlp},
            optimizers={"legacy": _none, "keras_fn": _adam(_mlp_schedule),
                        "keras": _adam(_mlp_schedule)},
            steps_per_epoch=512, eval_batches=256),
        "cnn": Workload(
            "cnn", "28x28x1 conv3x3x8-maxpool-dense10, Adam, batch 64", 64,
            model_fns.cnn_data,
            builders={"legacy": _spec(model_fns.cnn_model_fn, model_fns.CNN_PARAMS),
                      "keras": _plain_cnn},
            optimizers={"legacy": _none, "keras": _adam(1e-3)},
            steps_per_epoch=128, eval_batches=64),
        "many_metrics": Workload(
            "many_metrics", "10-16-3 MLP evaluate(), 10 compat.v1 metrics vs none, batch 32", 32,
            model_fns.mlp_data,
            builders={"metrics10": _spec(model_fns.many_metrics_model_fn,
                                         {"learning_rate": 0.01, "metrics": True}),
                      "metrics0": _spec(model_fns.many_metrics_model_fn,
                                        {"learning_rate": 0.01, "metrics": False})},
            optimizers={"metrics10": _none, "metrics0": _none},
            steps_per_epoch=32, eval_batches=256, train=False),
    }
    if keras_loop:
        result = {name: _with_keras_loop(w) if w.train else w for name, w in result.items()}
    return result


def build(workload: Workload, impl: str, steps_per_execution: int, jit_compile: bool) -> keras.Model:
    """A compiled model of `impl`: what a user constructs before fit (part of time to first step).

    steps_per_execution 0: compile() is not given it (each stack's default: Keras runs 1,
    SpecModel chooses, adapters/engine/auto_execution.py)."""
    model = workload.builders[impl]()
    optimizer = workload.optimizers[impl]()
    kwargs = dict(steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    if not steps_per_execution:
        del kwargs["steps_per_execution"]
    if isinstance(model, SpecModel):
        model.compile(optimizer=optimizer, **kwargs)
    else:
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **kwargs)
    return model


@dataclass
class Data:
    """The tf.data pipelines of a workload, made once and shared by all its configurations.

    Same shape as the conformance recording: from_tensor_slices -> repeat -> batch(drop_remainder)
    with features as a dict {'x': ...}; no shuffling, no prefetch.
    """

    train: tf.data.Dataset
    eval: tf.data.Dataset
    predict: tf.data.Dataset
    eval_examples: int


def make_data(workload: Workload, eval_batches: int | None = None) -> Data:
    """The workload's pipelines; `eval_batches` overrides its evaluate/predict length."""
    x, y = workload.data()
    bs = workload.batch_size
    n = eval_batches or workload.eval_batches
    train = tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(bs, drop_remainder=True)
    evaluation = train.take(n)
    predict = (tf.data.Dataset.from_tensor_slices({"x": x}).repeat()
               .batch(bs, drop_remainder=True).take(n))
    return Data(train, evaluation, predict, n * bs)

"""adapters.engine.fast_loop gives exactly the results of Keras's own train loop, faster.

Same model_fn, same batches, two engines: SpecModel on Keras's loop (`use_fast_loop = False`)
and SpecModel with fast_loop (its default). Every loss, every variable (optimizer slots and
global_step included) and every TF1 summary must come out identical; where the fused loop does
not apply (SessionRunHooks, finite datasets) it must fall back. Speed is not asserted here.
"""

from __future__ import annotations

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import SpecModel as _SpecModel
from adapters.engine.fast_loop import can_group
from conformance_runner import make_case, train_dataset


class SpecModel(_SpecModel):
    """The reference: SpecModel on Keras's own train loop."""

    use_fast_loop = False


def _mlp(engine, spe: int, jit: bool = False):
    case = make_case("mlp_classifier")  # Adam + exponential decay + a TF1 summary
    model = engine(case["model_fn"], params=case["params"])
    model.compile(steps_per_execution=spe, jit_compile=jit)
    return model, train_dataset(case)


def _variables(model) -> dict:
    return {name: model.get_variable_value(name) for name in model.get_variable_names()}


def _assert_same_training(spe: int, jit: bool = False, epochs: int = 2, steps: int = 8):
    results, loops = [], []
    for engine in (SpecModel, _SpecModel):
        model, dataset = _mlp(engine, spe, jit)
        history = model.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=0)
        results.append((history.history["loss"], _variables(model)))
        loops.append(model.train_function.__qualname__)
    assert loops[0].startswith("TensorFlowTrainer.")  # the reference really is Keras's loop
    assert loops[1].startswith("single_step" if spe == 1 else "fused_train_function")
    (loss_a, vars_a), (loss_b, vars_b) = results
    assert loss_a == loss_b
    assert sorted(vars_a) == sorted(vars_b)
    for name in vars_a:
        np.testing.assert_array_equal(vars_a[name], vars_b[name], err_msg=name)
    assert vars_b["global_step"] == epochs * steps


@pytest.mark.parametrize("jit", [False, True])
def test_fused_loop_trains_exactly_like_spec_model(jit):
    _assert_same_training(spe=4, jit=jit)


def test_single_step_function_trains_exactly_like_spec_model():
    _assert_same_training(spe=1, steps=5)


def test_fused_loop_with_a_keras_optimizer():
    x = np.random.RandomState(0).randn(64, 4).astype(np.float32)
    y = (x.sum(axis=1) > 0).astype(np.int32)
    init = keras.initializers.Constant(np.full((4, 2), 0.1, np.float32))

    def model_fn(features, labels, mode):
        logits = keras.layers.Dense(2, kernel_initializer=init, name="dense")(features)
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True))
        return ks.EstimatorSpec(mode, loss=loss)

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8, drop_remainder=True)
    out = []
    for engine in (SpecModel, _SpecModel):
        model = engine(model_fn)
        model.compile(optimizer=keras.optimizers.Adam(0.01), steps_per_execution=4)
        out.append((model.fit(dataset, epochs=2, steps_per_epoch=8, verbose=0).history["loss"],
                    _variables(model)))
    assert out[0][0] == out[1][0]
    for name in out[0][1]:
        np.testing.assert_array_equal(out[0][1][name], out[1][1][name], err_msg=name)


def _summary_events(logdir: str) -> list:
    events = []
    for path in sorted(glob.glob(os.path.join(logdir, "train", "events*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "learning_rate":
                    # TF1 summary protos, as tf.estimator wrote: simple_value scalars
                    assert value.HasField("simple_value"), value
                    events.append((event.step, value.simple_value))
    return events


def test_fused_loop_writes_every_steps_summaries(tmp_path):
    events = []
    for i, engine in enumerate((SpecModel, _SpecModel)):
        model, dataset = _mlp(engine, spe=4)
        logdir = str(tmp_path / f"engine{i}")
        model.fit(dataset, epochs=1, steps_per_epoch=8, verbose=0,
                  callbacks=[keras.callbacks.TensorBoard(logdir, update_freq=1)])
        events.append(_summary_events(logdir))
    assert [step for step, _ in events[1]] == list(range(1, 9))
    assert events[0] == events[1]


def test_falls_back_with_hooks_and_finite_datasets():
    class CountingHook(tf.compat.v1.train.SessionRunHook):
        calls = 0

        def after_run(self, run_context, run_values):
            CountingHook.calls += 1

    model, dataset = _mlp(_SpecModel, spe=4)
    assert can_group(model, dataset, None)
    assert not can_group(_mlp(SpecModel, spe=4)[0], dataset, None)  # use_fast_loop = False
    assert not can_group(model, dataset, [CountingHook()])
    model.fit(dataset, epochs=1, steps_per_epoch=8, verbose=0, hooks=[CountingHook()])
    assert CountingHook.calls == 2  # once per execution, SpecModel's hook semantics
    finite = dataset.take(8)
    assert not can_group(model, finite, None)
    model.fit(finite, epochs=1, verbose=0)
    model.fit(dataset, epochs=1, steps_per_epoch=8, verbose=0)  # back on the fused path
    assert model.get_variable_value("global_step") == 24

"""Keras callbacks around compat.v1-style model_fns (the conformance cases).

TensorBoard writes the model_fn's TF1 summaries at the global step; ModelCheckpoint weights
restore into a fresh SpecModel; EarlyStopping, TerminateOnNaN and BackupAndRestore act on the
numbers the model_fn produces (checked against a numpy replay or an uninterrupted run).
"""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from adapters import SpecModel
from conformance_runner import cases, eval_dataset, make_case, predict_dataset, train_dataset

MLP_STEPS_PER_PASS = 512 // 32
LINREG_STEPS_PER_PASS = 256 // 32


def all_values(model):
    return {n: model.get_variable_value(n) for n in model.get_variable_names()}


def read_scalars(logdir):
    """{tag: {step: value}} from the event files under logdir (v2 summaries store tensors)."""
    found = {}
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                number = (float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                          else value.simple_value)
                found.setdefault(value.tag, {})[event.step] = number
    return found


# -- TensorBoard --------------------------------------------------------------------------------
def test_tensorboard_writes_model_fn_summaries_at_the_global_step(tmp_path):
    case = make_case("mlp_classifier")
    params = case["params"]
    model = SpecModel(case["model_fn"], params=params)
    steps = 25
    model.fit(train_dataset(case), epochs=1, steps_per_epoch=steps, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(str(tmp_path), update_freq=1)])
    learning_rate = read_scalars(str(tmp_path / "train"))["learning_rate"]
    assert sorted(learning_rate) == list(range(1, steps + 1))
    for step, value in learning_rate.items():
        # The step that ends at global step s ran with global_step = s - 1 (TF1's order).
        expected = params["learning_rate"] * params["decay_rate"] ** (
            (step - 1) / params["decay_steps"])
        assert value == pytest.approx(expected, rel=1e-6), step


# -- ModelCheckpoint ----------------------------------------------------------------------------
def test_model_checkpoint_weights_restore_into_a_fresh_model(tmp_path):
    case = make_case("mlp_classifier")
    path = str(tmp_path / "model.weights.h5")
    model = SpecModel(case["model_fn"], params=case["params"])
    model.fit(train_dataset(case), epochs=2, steps_per_epoch=20, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(path, save_weights_only=True)])
    assert os.path.exists(path)
    trained = all_values(model)
    expected = model.predict(predict_dataset(case), verbose=0)

    fresh = SpecModel(case["model_fn"], params=case["params"])
    names = fresh.build_variables(train_dataset(case))
    assert names == sorted(trained)  # Adam slots, beta powers and global_step included
    untrained = fresh.predict(predict_dataset(case), verbose=0)
    assert not np.allclose(untrained["probabilities"], expected["probabilities"], atol=1e-3)
    fresh.load_weights(path)
    for name, value in trained.items():
        np.testing.assert_array_equal(fresh.get_variable_value(name), value, err_msg=name)
    restored = fresh.predict(predict_dataset(case), verbose=0)
    for key in expected:
        np.testing.assert_array_equal(restored[key], expected[key], err_msg=key)
    assert fresh.get_variable_value("global_step") == 40
    # Training goes on from the restored step: the learning-rate schedule continues.
    history = fresh.fit(train_dataset(case), epochs=1, steps_per_epoch=1, verbose=0)
    assert fresh.get_variable_value("global_step") == 41 and np.isfinite(history.history["loss"])


# -- EarlyStopping ------------------------------------------------------------------------------
def linreg_epoch_losses(epochs):
    """Numpy replay of the linreg case (plain SGD on MSE): History's per-epoch loss is the mean
    of the forward losses of the epoch's steps."""
    case = make_case("linreg")
    x, y = case["train_x"].astype(np.float64), case["train_y"].astype(np.float64)
    w, b = cases._LINREG_W0.astype(np.float64), 0.0
    lr, batch = case["params"]["learning_rate"], case["train_batch_size"]
    losses = []
    for step in range(epochs * LINREG_STEPS_PER_PASS):
        i = step % LINREG_STEPS_PER_PASS
        xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
        err = xb @ w + b - yb
        losses.append(np.mean(err ** 2))
        w, b = w - lr * 2 * xb.T @ err / batch, b - lr * 2 * err.mean()
    return np.reshape(losses, (epochs, LINREG_STEPS_PER_PASS)).mean(axis=1)


def early_stopping_epochs(losses, min_delta, patience):
    """How many epochs keras.callbacks.EarlyStopping(monitor='loss') lets run."""
    best, wait = np.inf, 0
    for epoch, loss in enumerate(losses):
        wait += 1
        if loss < best - min_delta:
            best, wait = loss, 0
        elif wait >= patience and epoch > 0:
            return epoch + 1
    return len(losses)


def test_early_stopping_stops_when_the_loss_plateaus():
    max_epochs, min_delta, patience = 30, 1e-4, 2
    losses = linreg_epoch_losses(max_epochs)
    expected_epochs = early_stopping_epochs(losses, min_delta, patience)
    assert expected_epochs < max_epochs  # the replay says it stops early (after 8 epochs)
    # The decision is not within float32 noise of the threshold.
    assert np.min(np.abs(np.abs(np.diff(losses[:expected_epochs])) - min_delta)) > 1e-5

    case = make_case("linreg")
    model = SpecModel(case["model_fn"], params=case["params"])
    history = model.fit(train_dataset(case), epochs=max_epochs,
                        steps_per_epoch=LINREG_STEPS_PER_PASS, verbose=0, callbacks=[
                            keras.callbacks.EarlyStopping(monitor="loss", min_delta=min_delta,
                                                          patience=patience)])
    assert len(history.epoch) == expected_epochs
    np.testing.assert_allclose(history.history["loss"], losses[:expected_epochs], rtol=1e-4)
    assert model.get_variable_value("global_step") == expected_epochs * LINREG_STEPS_PER_PASS


def test_early_stopping_on_val_loss_with_validation_data():
    case = make_case("linreg")
    model = SpecModel(case["model_fn"], params=case["params"])
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-3, patience=1)
    history = model.fit(train_dataset(case), epochs=30, steps_per_epoch=LINREG_STEPS_PER_PASS,
                        validation_data=eval_dataset(case), verbose=0, callbacks=[stopper])
    val = history.history["val_loss"]
    assert 2 <= len(val) < 30
    # Stopped at the first epoch that did not improve on the best by min_delta (patience 1).
    assert val[-1] > min(val[:-1]) - 1e-3
    assert all(later < earlier - 1e-3 for earlier, later in zip(val[:-2], val[1:-1]))
    # val_loss is the EVAL spec's loss, averaged over the eval batches (Estimator's loss).
    evaluation = model.evaluate(eval_dataset(case), return_dict=True, verbose=0)
    assert evaluation["loss"] == pytest.approx(val[-1], rel=1e-6)


# -- TerminateOnNaN -----------------------------------------------------------------------------
def test_terminate_on_nan_stops_at_the_step_whose_loss_is_nan():
    case = make_case("linreg")
    nan_from_global_step = 11

    def model_fn(features, labels, mode, params):
        """The linreg case's TRAIN graph, with the loss NaN from global step 11 on."""
        with tf.compat.v1.variable_scope("linreg"):
            pred = cases._dense(features["x"], cases._LINREG_W0, cases._LINREG_B0, "dense")
        loss = tf.compat.v1.losses.mean_squared_error(labels=labels, predictions=pred)
        step = tf.compat.v1.train.get_global_step()
        loss = tf.where(step >= nan_from_global_step, tf.constant(np.nan, tf.float32), loss)
        train_op = tf.compat.v1.train.GradientDescentOptimizer(params["learning_rate"]).minimize(
            loss, global_step=step)
        return cases.SPEC.EstimatorSpec(mode, loss=loss, train_op=train_op)

    model = SpecModel(model_fn, params=case["params"])
    history = model.fit(train_dataset(case), epochs=5, steps_per_epoch=LINREG_STEPS_PER_PASS,
                        verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()])
    # Steps run with global_step 0..11; the 12th (global_step 11 -> 12) reported NaN.
    assert model.get_variable_value("global_step") == nan_from_global_step + 1
    assert len(history.epoch) == 2  # the second epoch (steps 9..16) was cut after its 4th step
    assert np.isfinite(history.history["loss"][0]) and np.isnan(history.history["loss"][1])


# -- BackupAndRestore ---------------------------------------------------------------------------
class InterruptAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError(f"interrupted at epoch {epoch}")


def test_backup_and_restore_resumes_a_fresh_model(tmp_path):
    case = make_case("mlp_classifier")
    epochs, steps = 4, MLP_STEPS_PER_PASS  # whole passes: each epoch starts the dataset anew

    reference = SpecModel(case["model_fn"], params=case["params"])
    reference.fit(train_dataset(case), epochs=epochs, steps_per_epoch=steps, verbose=0)

    backup_dir = str(tmp_path / "backup")
    interrupted = SpecModel(case["model_fn"], params=case["params"])
    with pytest.raises(RuntimeError, match="interrupted at epoch 2"):
        interrupted.fit(train_dataset(case), epochs=epochs, steps_per_epoch=steps, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(backup_dir),
                                   InterruptAtEpoch(2)])
    assert interrupted.get_variable_value("global_step") == 2 * steps
    assert os.listdir(backup_dir)

    resumed = SpecModel(case["model_fn"], params=case["params"])
    history = resumed.fit(train_dataset(case), epochs=epochs, steps_per_epoch=steps, verbose=0,
                          callbacks=[keras.callbacks.BackupAndRestore(backup_dir)])
    assert history.epoch == [2, 3]  # resumed after the two backed-up epochs
    assert resumed.get_variable_value("global_step") == epochs * steps
    expected = all_values(reference)
    assert sorted(all_values(resumed)) == sorted(expected)
    for name, value in all_values(resumed).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-6, atol=1e-7, err_msg=name)

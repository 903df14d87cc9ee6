"""Keras 3-native model_fns: inline keras.layers / keras.ops / keras.metrics in the model_fn.

The reference for every training test is the same network as a plain Keras 3 model with the
same initial weights (constant initializers), the same optimizer and the same batches.
"""

import numpy as np
import pytest
import tensorflow as tf
import keras

import keras_spec as ks
from adapters import SpecModel

TRAIN, EVAL, PREDICT = ks.ModeKeys.TRAIN, ks.ModeKeys.EVAL, ks.ModeKeys.PREDICT
N, BATCH, STEPS, EPOCHS = 64, 16, 4, 3

_rs = np.random.RandomState(7)
X = _rs.randn(N, 4).astype(np.float32)
Y = np.argmax(X @ _rs.randn(4, 3) + 0.3 * _rs.randn(N, 3), axis=1).astype(np.int32)
W1 = (_rs.randn(4, 8) * 0.5).astype(np.float32)
B1 = (_rs.randn(8) * 0.1).astype(np.float32)
W2 = (_rs.randn(8, 3) * 0.5).astype(np.float32)
B2 = (_rs.randn(3) * 0.1).astype(np.float32)
const = keras.initializers.Constant


def train_ds():
    return tf.data.Dataset.from_tensor_slices((X, Y)).repeat().batch(BATCH, drop_remainder=True)


def eval_ds(x=X, y=Y, batch=BATCH):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def predict_ds():
    return tf.data.Dataset.from_tensor_slices(X).batch(BATCH)


def optimizer():
    return keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)


def hidden_layer(name="hidden"):
    return keras.layers.Dense(8, kernel_initializer=const(W1), bias_initializer=const(B1),
                              name=name)


def logits_layer(name="logits"):
    return keras.layers.Dense(3, kernel_initializer=const(W2), bias_initializer=const(B2),
                              name=name)


def spec_from_logits(mode, labels, logits):
    if mode == PREDICT:
        return ks.EstimatorSpec(mode, predictions=logits)
    loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
        labels, logits, from_logits=True))
    return ks.EstimatorSpec(mode, loss=loss)


def inline_model_fn(features, labels, mode):
    """New Keras layers on every call; no train_op (the compiled optimizer trains)."""
    h = keras.ops.relu(hidden_layer()(features))
    return spec_from_logits(mode, labels, logits_layer()(h))


def reference_model(*middle):
    model = keras.Sequential([keras.Input((4,)), hidden_layer(), *middle,
                              keras.layers.Activation("relu"), logits_layer()])
    model.compile(optimizer=optimizer(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def weights_by_layer(model):
    """{'hidden/kernel': array, ...} from a plain Keras model."""
    return {f"{layer.name}/{w.name}": w.numpy() for layer in model.layers for w in layer.weights}


def fit_both(spec_model, ref, epochs=EPOCHS):
    spec_history = spec_model.fit(train_ds(), epochs=epochs, steps_per_epoch=STEPS, verbose=0)
    ref_history = ref.fit(train_ds(), epochs=epochs, steps_per_epoch=STEPS, verbose=0,
                          shuffle=False)
    np.testing.assert_allclose(spec_history.history["loss"], ref_history.history["loss"],
                               rtol=1e-5)


def trains_and_predicts_like_reference(spec_model):
    """Compile, train beside the hand-written Keras model, evaluate, compare predictions."""
    spec_model.compile(optimizer=optimizer())
    ref = reference_model()
    fit_both(spec_model, ref)
    spec_model.evaluate(eval_ds(), verbose=0)
    np.testing.assert_allclose(spec_model.predict(predict_ds(), verbose=0),
                               ref.predict(predict_ds(), verbose=0), rtol=1e-5, atol=1e-6)
    return ref


def assert_same_weights(spec_model, expected: dict):
    for name, value in expected.items():
        np.testing.assert_allclose(spec_model.get_variable_value(name), value, rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def numpy_logits(kernel1, bias1, kernel2, bias2, x=X):
    return np.maximum(x @ kernel1 + bias1, 0) @ kernel2 + bias2


# -- (a) inline layers + keras.ops + compile(optimizer) -----------------------------------------
def test_inline_layers_train_like_plain_keras_and_are_created_once():
    model = SpecModel(inline_model_fn)
    model.compile(optimizer=optimizer())
    ref = reference_model()
    fit_both(model, ref)
    names = ["global_step", "hidden/bias", "hidden/kernel", "logits/bias", "logits/kernel"]
    assert model.get_variable_names() == names
    assert len(model.weights) == len(names)
    assert_same_weights(model, weights_by_layer(ref))
    assert model.get_variable_value("global_step") == EPOCHS * STEPS
    assert not np.allclose(model.get_variable_value("hidden/kernel"), W1)  # it trained

    # Evaluate and predict (new traces, new layer objects) use the trained variables.
    spec_eval = model.evaluate(eval_ds(), return_dict=True, verbose=0)
    assert spec_eval["loss"] == pytest.approx(ref.evaluate(eval_ds(), verbose=0), rel=1e-5)
    np.testing.assert_allclose(model.predict(predict_ds(), verbose=0),
                               ref.predict(predict_ds(), verbose=0), rtol=1e-5, atol=1e-6)
    # A second fit retraces again; still the same variables, still equal to plain Keras.
    fit_both(model, ref, epochs=1)
    assert model.get_variable_names() == names and len(model.weights) == len(names)
    assert_same_weights(model, weights_by_layer(ref))


def test_unnamed_inline_layers_get_distinct_variables():
    """Two unnamed Dense layers per call (Keras names them dense_N with a growing N)."""
    def model_fn(features, labels, mode):
        h = keras.layers.Dense(8, kernel_initializer=const(W1), bias_initializer=const(B1))(
            features)
        logits = keras.layers.Dense(3, kernel_initializer=const(W2),
                                    bias_initializer=const(B2))(keras.ops.relu(h))
        return spec_from_logits(mode, labels, logits)

    model = SpecModel(model_fn)
    trains_and_predicts_like_reference(model)
    shapes = sorted(model.get_variable_value(n).shape for n in model.get_variable_names())
    assert shapes == [(), (3,), (4, 8), (8,), (8, 3)]
    assert len(model.weights) == 5


def test_layers_created_only_in_train_do_not_shift_the_others():
    """A TRAIN-only auxiliary head created before the main layers: EVAL/PREDICT still find
    'hidden' and 'logits' by name, not by creation order."""
    def model_fn(features, labels, mode):
        if mode == TRAIN:
            aux = keras.layers.Dense(1, kernel_initializer="zeros", name="aux")(features)
        h = keras.ops.relu(hidden_layer()(features))
        spec = spec_from_logits(mode, labels, logits_layer()(h))
        if mode == TRAIN:
            spec = spec._replace(loss=spec.loss + 0.0 * keras.ops.mean(aux))
        return spec

    model = SpecModel(model_fn)
    model.compile(optimizer=optimizer())
    ref = reference_model()
    fit_both(model, ref)
    assert model.get_variable_value("aux/kernel").shape == (4, 1)
    spec_eval = model.evaluate(eval_ds(), return_dict=True, verbose=0)
    assert spec_eval["loss"] == pytest.approx(ref.evaluate(eval_ds(), verbose=0), rel=1e-5)
    np.testing.assert_allclose(model.predict(predict_ds(), verbose=0),
                               ref.predict(predict_ds(), verbose=0), rtol=1e-5, atol=1e-6)


def test_inline_batch_normalization_matches_plain_keras():
    def model_fn(features, labels, mode):
        h = keras.layers.BatchNormalization(name="bn")(hidden_layer()(features),
                                                        training=mode == TRAIN)
        return spec_from_logits(mode, labels, logits_layer()(keras.ops.relu(h)))

    model = SpecModel(model_fn)
    model.compile(optimizer=optimizer())
    ref = reference_model(keras.layers.BatchNormalization(name="bn"))
    fit_both(model, ref)
    expected = weights_by_layer(ref)
    assert {"bn/moving_mean", "bn/moving_variance", "bn/gamma", "bn/beta"} <= set(expected)
    assert_same_weights(model, expected)
    assert not np.allclose(model.get_variable_value("bn/moving_mean"), 0)  # updated in TRAIN
    moving_mean = model.get_variable_value("bn/moving_mean")
    np.testing.assert_allclose(model.predict(predict_ds(), verbose=0),
                               ref.predict(predict_ds(), verbose=0), rtol=1e-5, atol=1e-5)
    model.evaluate(eval_ds(), verbose=0)
    np.testing.assert_array_equal(model.get_variable_value("bn/moving_mean"), moving_mean)
    assert len(model.weights) == len(model.get_variable_names()) == 9  # 4 dense, 4 bn, step


def dropout_model_fn(features, labels, mode):
    h = keras.ops.relu(hidden_layer()(features))
    h = keras.layers.Dropout(0.5, name="dropout")(h, training=mode == TRAIN)
    return spec_from_logits(mode, labels, logits_layer()(h))


def test_inline_dropout_is_used_only_in_train():
    model = SpecModel(dropout_model_fn)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))  # weights stay W1, W2
    history = model.fit(train_ds(), epochs=2, steps_per_epoch=1, verbose=0)
    logits = numpy_logits(W1, B1, W2, B2, X[:BATCH])
    no_dropout = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(BATCH), Y[:BATCH]])
    # Each TRAIN step drops units (its loss differs from the no-dropout loss), with a new mask
    # each step (the dropout seed state is one variable, advanced and kept across calls).
    assert abs(history.history["loss"][0] - no_dropout) > 1e-3
    assert history.history["loss"][0] != history.history["loss"][1]
    first = model.predict(predict_ds(), verbose=0)
    np.testing.assert_array_equal(model.predict(predict_ds(), verbose=0), first)
    np.testing.assert_allclose(first, numpy_logits(W1, B1, W2, B2), rtol=1e-5, atol=1e-6)
    names = model.get_variable_names()
    model.fit(train_ds(), epochs=1, steps_per_epoch=1, verbose=0)
    model.evaluate(eval_ds(), verbose=0)
    assert model.get_variable_names() == names
    # Keras's dropout seed state is model state (tracked) but never a TF1 variable.
    assert len(model.weights) == len(names) + 1
    assert not any("seed_generator" in name for name in names)


# -- (b) layer objects created outside the model_fn and passed in params ------------------------
def params_model_fn(features, labels, mode, params):
    h = keras.ops.relu(params["hidden"](features))
    return spec_from_logits(mode, labels, params["logits"](h))


@pytest.mark.parametrize("built", [True, False], ids=["built", "unbuilt"])
def test_layers_passed_in_params_are_reused(built):
    hidden, logits = hidden_layer(), logits_layer()
    if built:
        hidden.build((None, 4))
        logits.build((None, 8))
    model = SpecModel(params_model_fn, params={"hidden": hidden, "logits": logits})
    ref = trains_and_predicts_like_reference(model)
    # The user's own layer objects hold the trained weights (params are not deep-copied).
    for layer in (hidden, logits):
        assert len(layer.weights) == 2
        for w in layer.weights:
            np.testing.assert_allclose(w.numpy(), weights_by_layer(ref)[f"{layer.name}/{w.name}"],
                                       rtol=1e-5, atol=1e-6)
    assert len(model.trainable_variables) == 4
    if built:  # Keras variables made outside the model_fn: tracked, but not TF1-named
        assert model.get_variable_names() == ["global_step"]
    else:  # built inside the model_fn: its variables are the model_fn's, by TF1 name
        assert model.get_variable_names() == [
            "global_step", "hidden/bias", "hidden/kernel", "logits/bias", "logits/kernel"]


def test_untracked_outside_layer_is_a_clear_error_and_tracking_it_fixes_it():
    outside = hidden_layer()
    outside.build((None, 4))

    def model_fn(features, labels, mode):
        return spec_from_logits(mode, labels, logits_layer()(keras.ops.relu(outside(features))))

    model = SpecModel(model_fn)
    model.compile(optimizer=optimizer())
    with pytest.raises(ValueError, match=r"created outside it and is not tracked.*model\.my_layer"):
        model.fit(train_ds(), epochs=1, steps_per_epoch=1, verbose=0)

    model = SpecModel(model_fn)
    model.outside = outside
    model.compile(optimizer=optimizer())
    ref = reference_model()
    fit_both(model, ref)
    np.testing.assert_allclose(outside.kernel.numpy(), weights_by_layer(ref)["hidden/kernel"],
                               rtol=1e-5, atol=1e-6)


# -- (c) Keras metric objects created inline in the EVAL model_fn ------------------------------
def metrics_model_fn(features, labels, mode):
    h = keras.ops.relu(hidden_layer()(features))
    logits = logits_layer()(h)
    spec = spec_from_logits(mode, labels, logits)
    if mode != EVAL:
        return spec
    per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    accuracy.update_state(labels, logits)
    mean_loss = keras.metrics.Mean(name="mean_loss")
    mean_loss.update_state(per_example)
    return spec._replace(eval_metric_ops={"accuracy": accuracy, "mean_example_loss": mean_loss})


def numpy_eval(model, x, y, batch):
    logits = numpy_logits(*(model.get_variable_value(n) for n in (
        "hidden/kernel", "hidden/bias", "logits/kernel", "logits/bias")), x=x)
    logits = logits.astype(np.float64)
    per_example = np.log(np.exp(logits).sum(1)) - logits[np.arange(len(y)), y]
    batch_means = [per_example[i:i + batch].mean() for i in range(0, len(y), batch)]
    return {"accuracy": np.mean(np.argmax(logits, 1) == y),
            "mean_example_loss": per_example.mean(),
            "loss": np.mean(batch_means)}  # Estimator's loss: mean over batches


def test_inline_keras_metric_objects_report_numpy_values_and_reset():
    model = SpecModel(metrics_model_fn)
    model.compile(optimizer=optimizer())
    model.fit(train_ds(), epochs=1, steps_per_epoch=STEPS, verbose=0)
    # 40 examples in batches of 16, 16, 8: per-example and per-batch means differ.
    x_a, y_a, x_b, y_b = X[:40], Y[:40], X[40:], Y[40:]
    expected_a, expected_b = numpy_eval(model, x_a, y_a, 16), numpy_eval(model, x_b, y_b, 16)
    assert abs(expected_a["loss"] - expected_a["mean_example_loss"]) > 1e-4
    assert abs(expected_a["accuracy"] - expected_b["accuracy"]) > 0.01  # resets are visible

    first = model.evaluate(eval_ds(x_a, y_a), return_dict=True, verbose=0)
    second = model.evaluate(eval_ds(x_a, y_a), return_dict=True, verbose=0)
    other = model.evaluate(eval_ds(x_b, y_b), return_dict=True, verbose=0)
    assert first == second
    for result, expected in ((first, expected_a), (other, expected_b)):
        assert set(result) == {"loss", "accuracy", "mean_example_loss"}
        for key, value in expected.items():
            assert result[key] == pytest.approx(value, rel=1e-5), (key, result, expected)


# -- (d) no train_op and no optimizer -------------------------------------------------------
def test_train_without_train_op_or_compiled_optimizer_names_both_remedies():
    for compile_args in (None, {}):  # compile() without an optimizer is not an optimizer
        model = SpecModel(inline_model_fn)
        if compile_args is not None:
            model.compile(**compile_args)
        with pytest.raises(ValueError, match=r"(?s)no train_op and no optimizer.*return train_op"
                                             r".*compile the SpecModel with an optimizer"):
            model.fit(train_ds(), epochs=1, steps_per_epoch=1, verbose=0)

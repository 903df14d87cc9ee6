"""Legacy `tf.compat.v1.layers` (from tf_keras) in model_fns run by SpecModel.

An MNIST-style CNN written with the TF1 layer functions trains; batch-norm statistics follow
UPDATE_OPS and equal the closed form over the training batches; variables carry TF1 names and
are created once; dropout acts only in TRAIN (predictions equal an independent forward pass
with the learned weights). `install()` makes unmodified `tf.compat.v1.layers.*` calls work.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import SpecModel
from adapters import legacy_layers as layers

pytestmark = [
    pytest.mark.filterwarnings("ignore:`tf.layers.*is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:`layer.updates` will be removed:UserWarning"),
]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

N, BATCH, STEPS_PER_EPOCH, EPOCHS = 192, 32, 6, 4
BN_MOMENTUM, BN_EPSILON = 0.99, 1e-3  # tf.compat.v1.layers.batch_normalization defaults


def make_images(seed=0):
    """8x8x2 images, 3 classes: a bright top half, bottom half or left half in channel 0;
    channel 1 is noise around 0.5 (so the input batch-norm statistics are non-trivial)."""
    rs = np.random.RandomState(seed)
    y = rs.randint(0, 3, N).astype(np.int32)
    x = np.empty((N, 8, 8, 2), np.float32)
    x[..., 0] = rs.randn(N, 8, 8) * 0.5
    x[..., 1] = 0.5 + rs.rand(N, 8, 8)
    x[y == 0, :4, :, 0] += 1.5
    x[y == 1, 4:, :, 0] += 1.5
    x[y == 2, :, :4, 0] += 1.5
    return x, y


X, Y = make_images()


def cnn_model_fn(features, labels, mode, params):
    training = mode == ks.ModeKeys.TRAIN
    # Input normalization: its moving statistics have a closed form over the input batches.
    h = layers.batch_normalization(features, training=training)
    h = layers.conv2d(h, filters=4, kernel_size=3, padding="same", activation=tf.nn.relu)
    h = layers.max_pooling2d(h, pool_size=2, strides=2)
    h = layers.flatten(h)
    h = layers.dense(h, 16, activation=tf.nn.relu)
    h = layers.dropout(h, rate=0.5, training=training)
    logits = layers.dense(h, 3)
    if mode == ks.ModeKeys.PREDICT:
        return ks.EstimatorSpec(mode, predictions={"logits": logits})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    if mode == ks.ModeKeys.EVAL:
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "accuracy": tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, axis=1))})
    optimizer = tf.compat.v1.train.AdamOptimizer(params["learning_rate"])
    with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
        train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)


def train_ds():
    return tf.data.Dataset.from_tensor_slices((X, Y)).repeat().batch(BATCH, drop_remainder=True)


def eval_ds():
    return tf.data.Dataset.from_tensor_slices((X, Y)).batch(64)


def predict_ds():
    return tf.data.Dataset.from_tensor_slices(X).batch(64)


def forward_inference(model, x):
    """The same network with tf.nn ops and the model's learned variables, no dropout,
    batch norm with its moving statistics: what PREDICT must compute."""
    v = model.get_variable_value
    h = ((x - v("batch_normalization/moving_mean"))
         / np.sqrt(v("batch_normalization/moving_variance") + BN_EPSILON)
         * v("batch_normalization/gamma") + v("batch_normalization/beta"))
    h = tf.nn.relu(tf.nn.conv2d(h, v("conv2d/kernel"), 1, "SAME") + v("conv2d/bias"))
    h = tf.nn.max_pool2d(h, 2, 2, "VALID")
    h = tf.reshape(h, [h.shape[0], -1])
    h = tf.nn.relu(h @ v("dense/kernel") + v("dense/bias"))
    return (h @ v("dense_1/kernel") + v("dense_1/bias")).numpy()


TRAINED_NAMES = sorted(
    [f"{layer}/{w}{slot}" for layer, ws in (("conv2d", ("kernel", "bias")),
                                             ("dense", ("kernel", "bias")),
                                             ("dense_1", ("kernel", "bias")),
                                             ("batch_normalization", ("gamma", "beta")))
     for w in ws for slot in ("", "/Adam", "/Adam_1")]
    + ["batch_normalization/moving_mean", "batch_normalization/moving_variance",
       "beta1_power", "beta2_power", "global_step"])


@pytest.fixture(scope="module")
def trained():
    model = SpecModel(cnn_model_fn, params={"learning_rate": 0.01})
    initial = {n: model.get_variable_value(n) for n in model.build_variables(train_ds())}
    history = model.fit(train_ds(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0)
    names_after_fit = model.get_variable_names()
    weights_after_fit = len(model.weights)
    bn_after_fit = {n: model.get_variable_value(f"batch_normalization/{n}")
                    for n in ("moving_mean", "moving_variance")}
    evaluation = model.evaluate(eval_ds(), return_dict=True, verbose=0)
    predictions = [model.predict(predict_ds(), verbose=0)["logits"] for _ in range(2)]
    moving_mean_after_predict = model.get_variable_value("batch_normalization/moving_mean")
    return dict(model=model, initial=initial, history=history.history, evaluation=evaluation,
                moving_mean_after_predict=moving_mean_after_predict,
                names_after_fit=names_after_fit, weights_after_fit=weights_after_fit,
                bn_after_fit=bn_after_fit, predictions=predictions)


def test_cnn_trains(trained):
    losses = trained["history"]["loss"]
    assert losses[0] > 0.6 and losses[-1] < 0.5 * losses[0], losses  # ln 3 = 1.10 at chance
    assert trained["evaluation"]["accuracy"] > 0.9, trained["evaluation"]  # chance: 1/3
    assert trained["model"].get_variable_value("global_step") == EPOCHS * STEPS_PER_EPOCH


def test_variables_have_tf1_names_and_are_created_once(trained):
    model = trained["model"]
    assert trained["names_after_fit"] == TRAINED_NAMES
    assert trained["weights_after_fit"] == len(TRAINED_NAMES)
    # evaluate() added exactly the compat.v1 accuracy metric's two local variables: model
    # state, but not listed (tf.estimator listed what its checkpoints held, never metric locals).
    assert model.get_variable_names() == sorted(TRAINED_NAMES)
    model.fit(train_ds(), epochs=1, steps_per_epoch=2, verbose=0)
    model.evaluate(eval_ds(), verbose=0)
    model.predict(predict_ds(), verbose=0)
    assert model.get_variable_names() == sorted(TRAINED_NAMES)
    assert len(model.weights) == len(TRAINED_NAMES) + 2  # + accuracy/count, accuracy/total
    # The conv kernel is the one the layer function declared: [3, 3, in=2, filters=4].
    assert model.get_variable_value("conv2d/kernel").shape == (3, 3, 2, 4)


def test_batch_norm_moving_statistics_follow_update_ops(trained):
    initial, after = trained["initial"], trained["bn_after_fit"]
    np.testing.assert_array_equal(initial["batch_normalization/moving_mean"], np.zeros(2))
    np.testing.assert_array_equal(initial["batch_normalization/moving_variance"], np.ones(2))
    # Closed form: one momentum update per training step, with that input batch's statistics
    # (the moving variance uses the unbiased batch variance, as fused batch norm does).
    mean, var = np.zeros(2), np.ones(2)
    steps = EPOCHS * STEPS_PER_EPOCH
    batches_per_pass = N // BATCH
    for step in range(steps):
        i = step % batches_per_pass
        batch = X[i * BATCH:(i + 1) * BATCH].astype(np.float64).reshape(-1, 2)
        mean = BN_MOMENTUM * mean + (1 - BN_MOMENTUM) * batch.mean(axis=0)
        var = BN_MOMENTUM * var + (1 - BN_MOMENTUM) * batch.var(axis=0, ddof=1)
    np.testing.assert_allclose(after["moving_mean"], mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(after["moving_variance"], var, rtol=1e-5)
    assert np.all(np.abs(after["moving_mean"] - 0) > 0.01)  # it moved (channel means ~0, ~1)
    # evaluate() and predict() use the moving statistics and do not update them.
    np.testing.assert_array_equal(trained["moving_mean_after_predict"], after["moving_mean"])


def test_dropout_and_batch_statistics_only_in_train(trained):
    model = trained["model"]
    first, second = trained["predictions"]
    np.testing.assert_array_equal(first, second)
    # Fresh predictions against an independent inference forward pass with the same weights.
    np.testing.assert_allclose(model.predict(predict_ds(), verbose=0)["logits"],
                               forward_inference(model, X), rtol=1e-4, atol=1e-5)


def test_dropout_is_active_in_train():
    """The TRAIN forward loss differs from the same forward pass without dropout."""
    model = SpecModel(cnn_model_fn, params={"learning_rate": 0.0})
    model.build_variables(train_ds())
    v = model.get_variable_value
    history = model.fit(train_ds(), epochs=1, steps_per_epoch=1, verbose=0)
    x, y = X[:BATCH], Y[:BATCH]
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # batch statistics in TRAIN
    h = (x - mean) / np.sqrt(var + BN_EPSILON) * v("batch_normalization/gamma")
    h = tf.nn.relu(tf.nn.conv2d(h + v("batch_normalization/beta"), v("conv2d/kernel"), 1, "SAME")
                   + v("conv2d/bias"))
    h = tf.reshape(tf.nn.max_pool2d(h, 2, 2, "VALID"), [BATCH, -1])
    logits = tf.nn.relu(h @ v("dense/kernel") + v("dense/bias")) @ v("dense_1/kernel") + v(
        "dense_1/bias")
    no_dropout = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)).numpy()
    assert abs(history.history["loss"][0] - no_dropout) > 1e-3, (history.history, no_dropout)


def test_module_exposes_tf_keras_legacy_layers():
    import tf_keras.api._v1.keras.__internal__.legacy.layers as tf_keras_layers

    for name in ("dense", "conv1d", "conv2d", "max_pooling2d", "average_pooling2d", "flatten",
                 "dropout", "batch_normalization", "Dense", "Conv2D", "BatchNormalization"):
        assert getattr(layers, name) is getattr(tf_keras_layers, name), name
        assert name in layers.__all__


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    env.pop("TF_USE_LEGACY_KERAS", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


def test_install_makes_unmodified_compat_v1_layers_calls_work():
    """In a fresh process: before install() TF's own error; after it (twice), a model_fn that
    calls tf.compat.v1.layers.dense trains exactly like plain SGD on linear regression, also
    through a reference to the layers module taken before install(); tf.keras stays Keras 3."""
    result = _run_python("""
        import numpy as np, tensorflow as tf
        from tensorflow.compat.v1 import layers as early_reference
        import keras_spec as ks
        from adapters import SpecModel, legacy_layers

        try:
            tf.compat.v1.layers.dense
            raise SystemExit("expected TF's Keras 3 error before install()")
        except AttributeError as e:
            assert "not available with Keras 3" in str(e), e

        legacy_layers.install()
        legacy_layers.install()  # idempotent
        assert legacy_layers.installed()
        assert tf.compat.v1.layers.dense is legacy_layers.dense
        assert early_reference.dense is legacy_layers.dense
        import tensorflow.compat.v1 as tf1
        assert tf1.layers.conv2d is legacy_layers.conv2d
        assert tf.keras.layers.Dense.__module__.startswith("keras."), tf.keras.layers.Dense

        rs = np.random.RandomState(0)
        x = rs.randn(64, 3).astype(np.float32)
        y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.25).astype(np.float32)
        w0 = np.array([[0.1], [0.2], [-0.1]], np.float32)

        def model_fn(features, labels, mode):
            pred = tf.compat.v1.layers.dense(
                features, 1, kernel_initializer=tf.compat.v1.constant_initializer(w0))
            if mode == ks.ModeKeys.PREDICT:
                return ks.EstimatorSpec(mode, predictions=pred)
            loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
            train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
                loss, global_step=tf.compat.v1.train.get_global_step())
            return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)

        ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(16, drop_remainder=True)
        model = SpecModel(model_fn)
        model.fit(ds, epochs=2, steps_per_epoch=5, verbose=0)
        assert model.get_variable_names() == ["dense/bias", "dense/kernel", "global_step"], \\
            model.get_variable_names()

        w, b = w0.astype(np.float64), 0.0
        for step in range(10):
            i = step % 4
            xb, yb = x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]
            err = xb @ w + b - yb
            w, b = w - 0.1 * 2 * xb.T @ err / 16, b - 0.1 * 2 * err.mean()
        np.testing.assert_allclose(model.get_variable_value("dense/kernel"), w, rtol=1e-5)
        np.testing.assert_allclose(model.get_variable_value("dense/bias"), [b], rtol=1e-5)
        print("INSTALL-OK")
    """)
    assert "INSTALL-OK" in result.stdout, result.stdout[-3000:] + result.stderr[-5000:]


def test_missing_tf_keras_is_a_clear_import_error():
    result = _run_python("""
        import sys
        sys.modules["tf_keras"] = None  # as if tf_keras were not installed
        try:
            import adapters.legacy_layers
        except ImportError as e:
            print("MESSAGE:", e)
    """)
    assert 'pip install "keras-spec[legacy-layers]"' in result.stdout, (
        result.stdout[-2000:] + result.stderr[-3000:])

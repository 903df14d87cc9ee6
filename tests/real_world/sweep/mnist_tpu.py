"""In the style of tensorflow/tpu's `mnist_tpu.py`, run on CPU with use_tpu=False.

Written for TF 2.15 + tensorflow-estimator: flags through `tf.compat.v1.flags`, `main(argv)`
run by `tf.compat.v1.app.run`, a Keras Sequential model built in the model_fn,
`tf.compat.v1.estimator.tpu.TPUEstimator` with `tpu.RunConfig` / `TPUConfig(iterations,
num_shards)`, `TPUEstimatorSpec` with `eval_metrics=(metric_fn, [labels, logits])`, exponential
decay with plain SGD (wrapped in `tf.compat.v1.tpu.CrossShardOptimizer` only with --use_tpu, as
the original), input_fns taking `params['batch_size']` and returning Datasets, train with
`max_steps`, evaluate with `steps`, predict, and an export. Seeded initializers, no shuffle.

Usage: python mnist_tpu.py OUTPUT_JSON WORK_DIR [--flags]
"""

import json
import os

import numpy as np
import tensorflow as tf

flags = tf.compat.v1.flags
FLAGS = flags.FLAGS

flags.DEFINE_bool("use_tpu", False, "Use TPUs rather than plain CPUs")
flags.DEFINE_string("tpu", default=None, help="The Cloud TPU to use for training.")
flags.DEFINE_integer("batch_size", 16, "Mini-batch size for the training.")
flags.DEFINE_integer("train_steps", 24, "Total number of training steps.")
flags.DEFINE_integer("eval_steps", 3, "Total number of evaluation steps.")
flags.DEFINE_float("learning_rate", 0.05, "Learning rate.")
flags.DEFINE_integer("iterations", 6, "Number of iterations per TPU training loop.")
flags.DEFINE_integer("num_shards", 8, "Number of shards (TPU chips).")
flags.DEFINE_bool("enable_predict", True, "Do some predictions at the end")

SIZE = 6
CLASSES = 3


def create_model():
    init = tf.compat.v1.glorot_uniform_initializer
    return tf.keras.Sequential([
        tf.keras.layers.Reshape([SIZE, SIZE, 1]),
        tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                               kernel_initializer=init(seed=11)),
        tf.keras.layers.MaxPooling2D(2, 2, padding="same"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(CLASSES, kernel_initializer=init(seed=12)),
    ])


def metric_fn(labels, logits):
    accuracy = tf.compat.v1.metrics.accuracy(labels=labels, predictions=tf.argmax(logits, axis=1))
    return {"accuracy": accuracy}


def model_fn(features, labels, mode, params):
    """model_fn constructs the ML model used to predict handwritten digits."""
    del params
    image = features
    if isinstance(image, dict):
        image = features["image"]
    model = create_model()

    if mode == tf.estimator.ModeKeys.PREDICT:
        logits = model(image, training=False)
        predictions = {"class_ids": tf.argmax(logits, axis=1),
                       "probabilities": tf.nn.softmax(logits)}
        return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
            mode, predictions=predictions,
            export_outputs={"predict": tf.estimator.export.PredictOutput(predictions)})

    logits = model(image, training=(mode == tf.estimator.ModeKeys.TRAIN))
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)

    if mode == tf.estimator.ModeKeys.TRAIN:
        learning_rate = tf.compat.v1.train.exponential_decay(
            FLAGS.learning_rate, tf.compat.v1.train.get_global_step(), decay_steps=10,
            decay_rate=0.9)
        optimizer = tf.compat.v1.train.GradientDescentOptimizer(learning_rate)
        if FLAGS.use_tpu:
            optimizer = tf.compat.v1.tpu.CrossShardOptimizer(optimizer)
        return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
            mode=mode, loss=loss,
            train_op=optimizer.minimize(loss, tf.compat.v1.train.get_global_step()))

    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
            mode=mode, loss=loss, eval_metrics=(metric_fn, [labels, logits]))


def _data(n, seed):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, CLASSES, n).astype(np.int32)
    images = rng.uniform(0, 0.4, (n, SIZE * SIZE)).astype(np.float32)
    images[np.arange(n), labels * 12] += 1.0
    images[np.arange(n), labels * 12 + 7] += 1.0
    return images, labels


def train_input_fn(params):
    """train_input_fn defines the input pipeline used for training."""
    batch_size = params["batch_size"]
    images, labels = _data(128, seed=0)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).cache().repeat()
    return ds.batch(batch_size, drop_remainder=True)


def eval_input_fn(params):
    batch_size = params["batch_size"]
    images, labels = _data(64, seed=1)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return ds.batch(batch_size, drop_remainder=True)


def predict_input_fn(params):
    batch_size = params["batch_size"]
    images, _ = _data(8, seed=2)
    # Take out top 8 samples from test data to make the predictions.
    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size)


def serving_input_receiver_fn():
    image = tf.compat.v1.placeholder(tf.float32, [None, SIZE * SIZE], name="image")
    return tf.estimator.export.ServingInputReceiver({"image": image}, {"image": image})


def loss_events(model_dir):
    found = {}
    for name in sorted(tf.io.gfile.listdir(model_dir)):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(model_dir, name)):
                for value in event.summary.value:
                    if value.tag == "loss":
                        found[str(event.step)] = float(value.simple_value)
    return found


def main(argv):
    output_json, work_dir = argv[1], argv[2]
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    tpu_cluster_resolver = None
    if FLAGS.use_tpu:
        tpu_cluster_resolver = tf.distribute.cluster_resolver.TPUClusterResolver(FLAGS.tpu)
    model_dir = os.path.join(work_dir, "mnist_tpu")
    run_config = tf.compat.v1.estimator.tpu.RunConfig(
        cluster=tpu_cluster_resolver, model_dir=model_dir, tf_random_seed=3,
        save_summary_steps=6,
        session_config=tf.compat.v1.ConfigProto(allow_soft_placement=True,
                                                log_device_placement=False),
        tpu_config=tf.compat.v1.estimator.tpu.TPUConfig(FLAGS.iterations, FLAGS.num_shards))

    estimator = tf.compat.v1.estimator.tpu.TPUEstimator(
        model_fn=model_fn, use_tpu=FLAGS.use_tpu, train_batch_size=FLAGS.batch_size,
        eval_batch_size=FLAGS.batch_size, predict_batch_size=FLAGS.batch_size,
        params={"data_dir": work_dir}, config=run_config)
    estimator.train(input_fn=train_input_fn, max_steps=FLAGS.train_steps)
    evaluation = {}
    if FLAGS.eval_steps:
        evaluation = estimator.evaluate(input_fn=eval_input_fn, steps=FLAGS.eval_steps)
    predictions = []
    if FLAGS.enable_predict:
        for prediction in estimator.predict(predict_input_fn):
            predictions.append({"class_ids": int(prediction["class_ids"]),
                                "probabilities": prediction["probabilities"].tolist()})
    export_dir = estimator.export_saved_model(os.path.join(work_dir, "export"),
                                              serving_input_receiver_fn)
    loaded = tf.saved_model.load(export_dir.decode(), tags=["serve"])
    served = loaded.signatures["predict"](image=tf.constant(_data(8, seed=2)[0][:2]))
    result = {
        "train_losses": loss_events(model_dir),
        "evaluate": {k: float(v) for k, v in evaluation.items()},
        "predictions": predictions,
        "signature_keys": sorted(loaded.signatures.keys()),
        "served_probabilities": served["probabilities"].numpy().tolist(),
        "variable_names": estimator.get_variable_names(),
    }
    line = json.dumps(result, sort_keys=True)
    print(line)
    with open(output_json, "w") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    tf.compat.v1.app.run()

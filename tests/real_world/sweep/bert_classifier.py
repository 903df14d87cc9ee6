"""In the style of google-research/bert `run_classifier.py`, ported to TF 2.15 spellings.

Written for TF 2.15 + tensorflow-estimator: `tf.compat.v1.flags` and `tf.compat.v1.app.run`,
examples written to a TFRecord file with `tf.io.TFRecordWriter` and read back by a
`file_based_input_fn_builder` input_fn (`params['batch_size']`, `map_and_batch`, int64 -> int32,
features only: the labels ride inside the features), a tiny BERT-shaped encoder written with
`get_variable` and `tf.compat.v1.layers.dense` (embeddings, layer norm, one self-attention layer,
pooler), a custom `tf.compat.v1.train.Optimizer` subclass (Adam with decoupled weight decay) whose
slots are `get_variable`s made in `apply_gradients` and which leaves the global step to the
caller, polynomial decay with warmup, `tf.gradients` + `clip_by_global_norm`,
`init_from_checkpoint` from a "pretrained" checkpoint with an assignment map built from
`tf.train.list_variables`, `TPUEstimatorSpec` with `eval_metrics`, `TPUEstimator(use_tpu=False)`
with `tpu.RunConfig` / `TPUConfig` / `InputPipelineConfig.PER_HOST_V2`, predictions written as
TSV through `tf.io.gfile`, and an export. No dropout (hidden_dropout_prob 0.0) and no shuffle,
so two runs agree; the classifier's own weights carry a seed.

Usage: python bert_classifier.py OUTPUT_JSON WORK_DIR [--flags]
"""

import collections
import json
import math
import os
import re

import numpy as np
import tensorflow as tf

flags = tf.compat.v1.flags
FLAGS = flags.FLAGS

flags.DEFINE_integer("max_seq_length", 8, "The maximum total input sequence length.")
flags.DEFINE_integer("train_batch_size", 8, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
flags.DEFINE_float("learning_rate", 5e-3, "The initial learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 2.0, "Total number of training epochs to perform.")
flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 8, "How often to save the model checkpoint.")
flags.DEFINE_integer("iterations_per_loop", 4, "How many steps to make in each estimator call.")
flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")
flags.DEFINE_integer("num_tpu_cores", 8, "Only used if `use_tpu` is True.")

CONFIG = {"vocab_size": 20, "hidden_size": 16, "num_attention_heads": 2,
          "intermediate_size": 32, "type_vocab_size": 2, "max_position_embeddings": 16,
          "hidden_dropout_prob": 0.0, "initializer_range": 0.02}
NUM_LABELS = 2


# -- data --------------------------------------------------------------------------------------
def make_examples(n, seed):
    """(input_ids, segment_ids, label) triples: label 1 when token 3 occurs in the text."""
    rng = np.random.RandomState(seed)
    examples = []
    for _ in range(n):
        length = rng.randint(3, FLAGS.max_seq_length + 1)
        ids = rng.randint(4, CONFIG["vocab_size"], length)
        label = int(rng.uniform() < 0.5)
        if label:
            ids[rng.randint(1, length)] = 3
        ids[0] = 1  # [CLS]
        segments = np.zeros(length, np.int64)
        segments[length // 2:] = 1
        examples.append((ids.tolist(), segments.tolist(), label))
    return examples


def file_based_convert_examples_to_features(examples, output_file):
    writer = tf.io.TFRecordWriter(output_file)

    def create_int_feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    for input_ids, segment_ids, label in examples:
        pad = FLAGS.max_seq_length - len(input_ids)
        features = collections.OrderedDict()
        features["input_ids"] = create_int_feature(input_ids + [0] * pad)
        features["input_mask"] = create_int_feature([1] * len(input_ids) + [0] * pad)
        features["segment_ids"] = create_int_feature(segment_ids + [0] * pad)
        features["label_ids"] = create_int_feature([label])
        features["is_real_example"] = create_int_feature([1])
        tf_example = tf.train.Example(features=tf.train.Features(feature=features))
        writer.write(tf_example.SerializeToString())
    writer.close()


def file_based_input_fn_builder(input_file, seq_length, is_training, drop_remainder):
    name_to_features = {
        "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "label_ids": tf.io.FixedLenFeature([], tf.int64),
        "is_real_example": tf.io.FixedLenFeature([], tf.int64),
    }

    def _decode_record(record, name_to_features):
        example = tf.io.parse_single_example(record, name_to_features)
        # tf.Example only supports tf.int64, but the TPU only supports tf.int32.
        for name in list(example.keys()):
            t = example[name]
            if t.dtype == tf.int64:
                t = tf.cast(t, tf.int32)
            example[name] = t
        return example

    def input_fn(params):
        batch_size = params["batch_size"]
        d = tf.data.TFRecordDataset(input_file)
        if is_training:
            d = d.repeat()
        d = d.apply(tf.data.experimental.map_and_batch(
            lambda record: _decode_record(record, name_to_features),
            batch_size=batch_size, drop_remainder=drop_remainder))
        return d

    return input_fn


# -- model -------------------------------------------------------------------------------------
def create_initializer(initializer_range=0.02):
    return tf.compat.v1.truncated_normal_initializer(stddev=initializer_range)


def layer_norm(input_tensor, name=None):
    with tf.compat.v1.variable_scope(name, default_name="LayerNorm"):
        size = input_tensor.shape[-1]
        beta = tf.compat.v1.get_variable("beta", [size], initializer=tf.zeros_initializer())
        gamma = tf.compat.v1.get_variable("gamma", [size], initializer=tf.ones_initializer())
        mean, variance = tf.nn.moments(input_tensor, [-1], keepdims=True)
        return tf.nn.batch_normalization(input_tensor, mean, variance, beta, gamma, 1e-12)


def gelu(x):
    return x * 0.5 * (1.0 + tf.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * tf.pow(x, 3))))


def encoder(input_ids, input_mask, segment_ids):
    """Embeddings, one self-attention block and the pooled [CLS] output, under `bert/`."""
    hidden, heads = CONFIG["hidden_size"], CONFIG["num_attention_heads"]
    width = hidden // heads
    seq_length = input_ids.shape[1]
    with tf.compat.v1.variable_scope("bert"):
        with tf.compat.v1.variable_scope("embeddings"):
            table = tf.compat.v1.get_variable(
                "word_embeddings", [CONFIG["vocab_size"], hidden],
                initializer=create_initializer())
            output = tf.gather(table, input_ids)
            token_type_table = tf.compat.v1.get_variable(
                "token_type_embeddings", [CONFIG["type_vocab_size"], hidden],
                initializer=create_initializer())
            output += tf.gather(token_type_table, segment_ids)
            position_table = tf.compat.v1.get_variable(
                "position_embeddings", [CONFIG["max_position_embeddings"], hidden],
                initializer=create_initializer())
            output += tf.slice(position_table, [0, 0], [seq_length, -1])[tf.newaxis]
            output = layer_norm(output)
        with tf.compat.v1.variable_scope("encoder/layer_0"):
            flat = tf.reshape(output, [-1, hidden])
            with tf.compat.v1.variable_scope("attention/self"):
                def project(name):
                    t = tf.compat.v1.layers.dense(flat, hidden, name=name,
                                                  kernel_initializer=create_initializer())
                    t = tf.reshape(t, [-1, seq_length, heads, width])
                    return tf.transpose(t, [0, 2, 1, 3])
                q, k, v = project("query"), project("key"), project("value")
                scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(float(width))
                adder = (1.0 - tf.cast(input_mask[:, tf.newaxis, tf.newaxis, :], tf.float32))
                probs = tf.nn.softmax(scores - 10000.0 * adder)
                context = tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3])
                context = tf.reshape(context, [-1, hidden])
            with tf.compat.v1.variable_scope("attention/output"):
                attention = tf.compat.v1.layers.dense(context, hidden,
                                                      kernel_initializer=create_initializer())
                attention = layer_norm(attention + flat)
            with tf.compat.v1.variable_scope("intermediate"):
                inner = tf.compat.v1.layers.dense(attention, CONFIG["intermediate_size"],
                                                  activation=gelu,
                                                  kernel_initializer=create_initializer())
            with tf.compat.v1.variable_scope("output"):
                layer = tf.compat.v1.layers.dense(inner, hidden,
                                                  kernel_initializer=create_initializer())
                layer = layer_norm(layer + attention)
            sequence_output = tf.reshape(layer, [-1, seq_length, hidden])
        with tf.compat.v1.variable_scope("pooler"):
            first_token_tensor = tf.squeeze(sequence_output[:, 0:1, :], axis=1)
            return tf.compat.v1.layers.dense(first_token_tensor, hidden, activation=tf.tanh,
                                             kernel_initializer=create_initializer())


def create_model(is_training, input_ids, input_mask, segment_ids, labels, num_labels):
    output_layer = encoder(input_ids, input_mask, segment_ids)
    hidden_size = output_layer.shape[-1]
    output_weights = tf.compat.v1.get_variable(
        "output_weights", [num_labels, hidden_size],
        initializer=tf.compat.v1.truncated_normal_initializer(stddev=0.02, seed=17))
    output_bias = tf.compat.v1.get_variable(
        "output_bias", [num_labels], initializer=tf.zeros_initializer())
    with tf.compat.v1.variable_scope("loss"):
        if is_training and CONFIG["hidden_dropout_prob"] > 0.0:
            output_layer = tf.nn.dropout(output_layer, rate=CONFIG["hidden_dropout_prob"])
        logits = tf.matmul(output_layer, output_weights, transpose_b=True)
        logits = tf.nn.bias_add(logits, output_bias)
        probabilities = tf.nn.softmax(logits, axis=-1)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
        per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
        loss = tf.reduce_mean(per_example_loss)
        return loss, per_example_loss, logits, probabilities


# -- optimization ------------------------------------------------------------------------------
class AdamWeightDecayOptimizer(tf.compat.v1.train.Optimizer):
    """Adam with decoupled weight decay; slots are plain get_variables (no bias correction)."""

    def __init__(self, learning_rate, weight_decay_rate=0.0, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-6, exclude_from_weight_decay=None, name="AdamWeightDecayOptimizer"):
        super().__init__(False, name)
        self.learning_rate = learning_rate
        self.weight_decay_rate = weight_decay_rate
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.exclude_from_weight_decay = exclude_from_weight_decay

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        assignments = []
        for (grad, param) in grads_and_vars:
            if grad is None or param is None:
                continue
            param_name = self._get_variable_name(param.name)
            m = tf.compat.v1.get_variable(name=param_name + "/adam_m",
                                          shape=param.shape.as_list(), dtype=tf.float32,
                                          trainable=False, initializer=tf.zeros_initializer())
            v = tf.compat.v1.get_variable(name=param_name + "/adam_v",
                                          shape=param.shape.as_list(), dtype=tf.float32,
                                          trainable=False, initializer=tf.zeros_initializer())
            next_m = tf.multiply(self.beta_1, m) + tf.multiply(1.0 - self.beta_1, grad)
            next_v = (tf.multiply(self.beta_2, v)
                      + tf.multiply(1.0 - self.beta_2, tf.square(grad)))
            update = next_m / (tf.sqrt(next_v) + self.epsilon)
            if self._do_use_weight_decay(param_name):
                update += self.weight_decay_rate * param
            next_param = param - self.learning_rate * update
            assignments.extend([param.assign(next_param), m.assign(next_m), v.assign(next_v)])
        return tf.group(*assignments, name=name)

    def _do_use_weight_decay(self, param_name):
        if not self.weight_decay_rate:
            return False
        for r in self.exclude_from_weight_decay or []:
            if re.search(r, param_name) is not None:
                return False
        return True

    def _get_variable_name(self, param_name):
        m = re.match("^(.*):\\d+$", param_name)
        return m.group(1) if m is not None else param_name


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps):
    global_step = tf.compat.v1.train.get_or_create_global_step()
    learning_rate = tf.constant(value=init_lr, shape=[], dtype=tf.float32)
    learning_rate = tf.compat.v1.train.polynomial_decay(
        learning_rate, global_step, num_train_steps, end_learning_rate=0.0, power=1.0,
        cycle=False)
    if num_warmup_steps:
        global_steps_int = tf.cast(global_step, tf.int32)
        warmup_steps_int = tf.constant(num_warmup_steps, dtype=tf.int32)
        global_steps_float = tf.cast(global_steps_int, tf.float32)
        warmup_steps_float = tf.cast(warmup_steps_int, tf.float32)
        warmup_learning_rate = init_lr * (global_steps_float / warmup_steps_float)
        is_warmup = tf.cast(global_steps_int < warmup_steps_int, tf.float32)
        learning_rate = (1.0 - is_warmup) * learning_rate + is_warmup * warmup_learning_rate
    optimizer = AdamWeightDecayOptimizer(
        learning_rate=learning_rate, weight_decay_rate=0.01,
        exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])
    tvars = tf.compat.v1.trainable_variables()
    grads = tf.gradients(loss, tvars)
    (grads, _) = tf.clip_by_global_norm(grads, clip_norm=1.0)
    train_op = optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)
    # The optimizer does not increment the global step: do it here.
    new_global_step = global_step + 1
    return tf.group(train_op, [global_step.assign(new_global_step)])


def get_assignment_map_from_checkpoint(tvars, init_checkpoint):
    name_to_variable = collections.OrderedDict()
    for var in tvars:
        m = re.match("^(.*):\\d+$", var.name)
        name_to_variable[m.group(1) if m else var.name] = var
    assignment_map = collections.OrderedDict()
    initialized_variable_names = {}
    for name, _ in tf.train.list_variables(init_checkpoint):
        if name not in name_to_variable:
            continue
        assignment_map[name] = name
        initialized_variable_names[name] = 1
        initialized_variable_names[name + ":0"] = 1
    return assignment_map, initialized_variable_names


def model_fn_builder(num_labels, init_checkpoint, learning_rate, num_train_steps,
                     num_warmup_steps, use_tpu):
    def model_fn(features, labels, mode, params):
        tf.compat.v1.logging.info("*** Features ***")
        for name in sorted(features.keys()):
            tf.compat.v1.logging.info("  name = %s, shape = %s", name, features[name].shape)
        input_ids = features["input_ids"]
        input_mask = features["input_mask"]
        segment_ids = features["segment_ids"]
        label_ids = features["label_ids"]
        is_real_example = tf.cast(features["is_real_example"], dtype=tf.float32)
        is_training = (mode == tf.estimator.ModeKeys.TRAIN)
        (total_loss, per_example_loss, logits, probabilities) = create_model(
            is_training, input_ids, input_mask, segment_ids, label_ids, num_labels)

        tvars = tf.compat.v1.trainable_variables()
        scaffold_fn = None
        if init_checkpoint:
            (assignment_map, initialized_variable_names
             ) = get_assignment_map_from_checkpoint(tvars, init_checkpoint)
            if use_tpu:
                def tpu_scaffold():
                    tf.compat.v1.train.init_from_checkpoint(init_checkpoint, assignment_map)
                    return tf.compat.v1.train.Scaffold()
                scaffold_fn = tpu_scaffold
            else:
                tf.compat.v1.train.init_from_checkpoint(init_checkpoint, assignment_map)
        tf.compat.v1.logging.info("**** Trainable Variables ****")
        for var in tvars:
            init_string = ", *INIT_FROM_CKPT*" if var.name in initialized_variable_names else ""
            tf.compat.v1.logging.info("  name = %s, shape = %s%s", var.name, var.shape,
                                      init_string)

        if mode == tf.estimator.ModeKeys.TRAIN:
            train_op = create_optimizer(total_loss, learning_rate, num_train_steps,
                                        num_warmup_steps)
            return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
                mode=mode, loss=total_loss, train_op=train_op, scaffold_fn=scaffold_fn)
        if mode == tf.estimator.ModeKeys.EVAL:
            def metric_fn(per_example_loss, label_ids, logits, is_real_example):
                predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
                accuracy = tf.compat.v1.metrics.accuracy(
                    labels=label_ids, predictions=predictions, weights=is_real_example)
                loss = tf.compat.v1.metrics.mean(values=per_example_loss,
                                                 weights=is_real_example)
                return {"eval_accuracy": accuracy, "eval_loss": loss}
            eval_metrics = (metric_fn, [per_example_loss, label_ids, logits, is_real_example])
            return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
                mode=mode, loss=total_loss, eval_metrics=eval_metrics, scaffold_fn=scaffold_fn)
        return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
            mode=mode, predictions={"probabilities": probabilities}, scaffold_fn=scaffold_fn)

    return model_fn


# -- a "pretrained" checkpoint -----------------------------------------------------------------
def write_pretrained_checkpoint(path):
    """The encoder's variables with fixed values, saved by a TF1 Saver (as BERT's release)."""
    rng = np.random.RandomState(1234)
    hidden, inner = CONFIG["hidden_size"], CONFIG["intermediate_size"]
    shapes = {"bert/embeddings/word_embeddings": [CONFIG["vocab_size"], hidden],
              "bert/embeddings/token_type_embeddings": [CONFIG["type_vocab_size"], hidden],
              "bert/embeddings/position_embeddings": [CONFIG["max_position_embeddings"], hidden],
              "bert/pooler/dense/kernel": [hidden, hidden], "bert/pooler/dense/bias": [hidden]}
    layer = "bert/encoder/layer_0/"
    for dense, (n_in, n_out) in {"attention/self/query": (hidden, hidden),
                                 "attention/self/key": (hidden, hidden),
                                 "attention/self/value": (hidden, hidden),
                                 "attention/output/dense": (hidden, hidden),
                                 "intermediate/dense": (hidden, inner),
                                 "output/dense": (inner, hidden)}.items():
        shapes[layer + dense + "/kernel"] = [n_in, n_out]
        shapes[layer + dense + "/bias"] = [n_out]
    for norm in ("bert/embeddings/", layer + "attention/output/", layer + "output/"):
        shapes[norm + "LayerNorm/beta"] = [hidden]
        shapes[norm + "LayerNorm/gamma"] = [hidden]
    with tf.Graph().as_default():
        variables = []
        for name in sorted(shapes):
            value = rng.normal(0.0, 0.2, shapes[name]).astype(np.float32)
            if name.endswith("gamma"):
                value += 1.0
            variables.append(tf.compat.v1.Variable(value, name=name))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return saver.save(sess, path)


def serving_input_fn():
    seq = FLAGS.max_seq_length
    receiver = {name: tf.compat.v1.placeholder(tf.int32, [None, seq], name=name)
                for name in ("input_ids", "input_mask", "segment_ids")}
    receiver["label_ids"] = tf.compat.v1.placeholder(tf.int32, [None], name="label_ids")
    features = dict(receiver)
    features["is_real_example"] = tf.ones_like(receiver["label_ids"])
    return tf.estimator.export.ServingInputReceiver(features, receiver)


def loss_events(model_dir):
    """{step: loss} and the tag: the model_fn's "loss" scope makes the estimator's tag loss_1."""
    found, tags = {}, set()
    for name in sorted(tf.io.gfile.listdir(model_dir)):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(model_dir, name)):
                for value in event.summary.value:
                    if value.tag.startswith("loss"):
                        found[str(event.step)] = float(value.simple_value)
                        tags.add(value.tag)
    return found, sorted(tags)


def main(argv):
    output_json, work_dir = argv[1], argv[2]
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    output_dir = os.path.join(work_dir, "output")
    tf.io.gfile.makedirs(output_dir)
    init_checkpoint = write_pretrained_checkpoint(os.path.join(work_dir, "pretrained",
                                                               "bert_model.ckpt"))

    train_examples = make_examples(32, seed=0)
    num_train_steps = int(len(train_examples) / FLAGS.train_batch_size * FLAGS.num_train_epochs)
    num_warmup_steps = int(num_train_steps * FLAGS.warmup_proportion)

    is_per_host = tf.compat.v1.estimator.tpu.InputPipelineConfig.PER_HOST_V2
    run_config = tf.compat.v1.estimator.tpu.RunConfig(
        cluster=None, master=None, model_dir=output_dir, save_summary_steps=2,
        save_checkpoints_steps=FLAGS.save_checkpoints_steps,
        tpu_config=tf.compat.v1.estimator.tpu.TPUConfig(
            iterations_per_loop=FLAGS.iterations_per_loop, num_shards=FLAGS.num_tpu_cores,
            per_host_input_for_training=is_per_host))
    model_fn = model_fn_builder(
        num_labels=NUM_LABELS, init_checkpoint=init_checkpoint,
        learning_rate=FLAGS.learning_rate, num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps, use_tpu=FLAGS.use_tpu)
    estimator = tf.compat.v1.estimator.tpu.TPUEstimator(
        use_tpu=FLAGS.use_tpu, model_fn=model_fn, config=run_config,
        train_batch_size=FLAGS.train_batch_size, eval_batch_size=FLAGS.eval_batch_size,
        predict_batch_size=FLAGS.predict_batch_size)

    train_file = os.path.join(output_dir, "train.tf_record")
    file_based_convert_examples_to_features(train_examples, train_file)
    tf.compat.v1.logging.info("***** Running training *****")
    train_input_fn = file_based_input_fn_builder(
        input_file=train_file, seq_length=FLAGS.max_seq_length, is_training=True,
        drop_remainder=True)
    estimator.train(input_fn=train_input_fn, max_steps=num_train_steps)

    eval_examples = make_examples(20, seed=1)
    eval_file = os.path.join(output_dir, "eval.tf_record")
    file_based_convert_examples_to_features(eval_examples, eval_file)
    eval_input_fn = file_based_input_fn_builder(
        input_file=eval_file, seq_length=FLAGS.max_seq_length, is_training=False,
        drop_remainder=FLAGS.use_tpu)
    result = estimator.evaluate(input_fn=eval_input_fn, steps=None)
    output_eval_file = os.path.join(output_dir, "eval_results.txt")
    with tf.io.gfile.GFile(output_eval_file, "w") as writer:
        for key in sorted(result.keys()):
            writer.write("%s = %s\n" % (key, str(result[key])))

    predict_examples = make_examples(5, seed=2)
    predict_file = os.path.join(output_dir, "predict.tf_record")
    file_based_convert_examples_to_features(predict_examples, predict_file)
    predict_input_fn = file_based_input_fn_builder(
        input_file=predict_file, seq_length=FLAGS.max_seq_length, is_training=False,
        drop_remainder=FLAGS.use_tpu)
    probabilities = []
    output_predict_file = os.path.join(output_dir, "test_results.tsv")
    with tf.io.gfile.GFile(output_predict_file, "w") as writer:
        for prediction in estimator.predict(input_fn=predict_input_fn):
            row = prediction["probabilities"]
            writer.write("\t".join(str(p) for p in row) + "\n")
            probabilities.append(row.tolist())

    export_dir = estimator.export_saved_model(os.path.join(work_dir, "export"), serving_input_fn)
    loaded = tf.saved_model.load(export_dir.decode(), tags=["serve"])
    ids, segments, _ = predict_examples[0]
    pad = FLAGS.max_seq_length - len(ids)
    served = loaded.signatures["serving_default"](
        input_ids=tf.constant([ids + [0] * pad], tf.int32),
        input_mask=tf.constant([[1] * len(ids) + [0] * pad], tf.int32),
        segment_ids=tf.constant([segments + [0] * pad], tf.int32),
        label_ids=tf.constant([0], tf.int32))

    reader = tf.train.load_checkpoint(output_dir)
    losses, loss_tags = loss_events(output_dir)
    summary = {
        "train_losses": losses,
        "loss_tags": loss_tags,
        "evaluate": {k: float(v) for k, v in result.items()},
        "eval_results_lines": len(tf.io.gfile.GFile(output_eval_file).readlines()),
        "predictions": probabilities,
        "signature_keys": sorted(loaded.signatures.keys()),
        "served_probabilities": served["probabilities"].numpy().tolist(),
        "checkpoint_variables": sorted(reader.get_variable_to_shape_map()),
        "word_embeddings_row3": reader.get_tensor("bert/embeddings/word_embeddings")[3].tolist(),
    }
    line = json.dumps(summary, sort_keys=True)
    print(line)
    with open(output_json, "w") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    tf.compat.v1.app.run()

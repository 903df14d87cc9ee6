"""A tiny BERT-like classifier written TF1-style, as real TPUEstimator scripts were.

Runs unchanged on tf.estimator 2.15 (goldens/bert_like_record.py) and on keras-spec: the
caller passes the TPUEstimatorSpec class. Written for keras-spec's tests (not copied from
any project): get_variable, layer norm, one self-attention block, a tf.compat.v1.train.Optimizer
subclass that makes its slots with get_variable inside apply_gradients and increments the
global step by hand, polynomial decay with warmup, clip_by_global_norm, init_from_checkpoint
from a "pretrained" checkpoint (in the model_fn or in scaffold_fn), eval_metrics, and a TFRecord
input_fn that reads params['batch_size'] and yields features only (labels are a feature).
"""

import math
import re

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1

VOCAB, SEQ, HIDDEN, HEADS, FFN, CLASSES = 32, 8, 16, 2, 32, 3
NUM_EXAMPLES = 32


def pretrained_values() -> dict:
    """Deterministic 'pretrained' encoder weights: TF1 name -> numpy array."""
    rng = np.random.RandomState(7)

    def normal(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    values = {"bert/embeddings/word_embeddings": normal(VOCAB, HIDDEN),
              "bert/embeddings/position_embeddings": normal(SEQ, HIDDEN),
              "bert/embeddings/LayerNorm/gamma": 1 + normal(HIDDEN) * 0.1,
              "bert/embeddings/LayerNorm/beta": normal(HIDDEN) * 0.1}
    layer = "bert/encoder/layer_0"
    for name, shape in (("attention/self/query", (HIDDEN, HIDDEN)),
                        ("attention/self/key", (HIDDEN, HIDDEN)),
                        ("attention/self/value", (HIDDEN, HIDDEN)),
                        ("attention/output/dense", (HIDDEN, HIDDEN)),
                        ("intermediate/dense", (HIDDEN, FFN)),
                        ("output/dense", (FFN, HIDDEN))):
        values[f"{layer}/{name}/kernel"] = normal(*shape)
        values[f"{layer}/{name}/bias"] = normal(shape[1]) * 0.1
    for name in ("attention/output/LayerNorm", "output/LayerNorm"):
        values[f"{layer}/{name}/gamma"] = 1 + normal(HIDDEN) * 0.1
        values[f"{layer}/{name}/beta"] = normal(HIDDEN) * 0.1
    values["bert/pooler/dense/kernel"] = normal(HIDDEN, HIDDEN)
    values["bert/pooler/dense/bias"] = normal(HIDDEN) * 0.1
    return values


def classifier_init() -> np.ndarray:
    return (np.random.RandomState(11).standard_normal((CLASSES, HIDDEN)) * 0.02).astype(np.float32)


def write_pretrained_checkpoint(prefix: str) -> str:
    """Save pretrained_values() with a TF1 Saver (works on TF 2.15 and 2.21)."""
    with tf.Graph().as_default():
        for name, value in pretrained_values().items():
            v1.Variable(value, name=name)
        saver = v1.train.Saver()
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            return saver.save(session, prefix)


def examples() -> dict:
    rng = np.random.RandomState(5)
    ids = rng.randint(1, VOCAB, size=(NUM_EXAMPLES, SEQ)).astype(np.int64)
    lengths = rng.randint(3, SEQ + 1, size=NUM_EXAMPLES)
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int64)
    ids = ids * mask
    labels = (ids[:, 0] % CLASSES).astype(np.int64)
    return {"input_ids": ids, "input_mask": mask, "label_ids": labels}


def write_tfrecords(path: str) -> str:
    data = examples()
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(NUM_EXAMPLES):
            feature = {
                "input_ids": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=data["input_ids"][i])),
                "input_mask": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=data["input_mask"][i])),
                "label_ids": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[data["label_ids"][i]]))}
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())
    return path


def input_fn_builder(path: str, is_training: bool):
    spec = {"input_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
            "input_mask": tf.io.FixedLenFeature([SEQ], tf.int64),
            "label_ids": tf.io.FixedLenFeature([], tf.int64)}

    def decode(record):
        example = tf.io.parse_single_example(record, spec)
        return {k: tf.cast(v, tf.int32) for k, v in example.items()}

    def input_fn(params):
        d = tf.data.TFRecordDataset(path)
        if is_training:
            d = d.repeat()
        return d.map(decode).batch(params["batch_size"], drop_remainder=True)

    return input_fn


def layer_norm(x, scope):
    with v1.variable_scope(scope):
        gamma = v1.get_variable("gamma", [HIDDEN], initializer=v1.ones_initializer())
        beta = v1.get_variable("beta", [HIDDEN], initializer=v1.zeros_initializer())
        mean, variance = tf.nn.moments(x, [-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + 1e-12) * gamma + beta


def dense(x, units, scope, activation=None):
    with v1.variable_scope(scope):
        kernel = v1.get_variable("kernel", [x.shape[-1], units],
                                 initializer=v1.zeros_initializer())
        bias = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
        y = tf.tensordot(x, kernel, 1) + bias
        return activation(y) if activation else y


def gelu(x):
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def encoder(input_ids, input_mask, batch_size):
    with v1.variable_scope("bert"):
        with v1.variable_scope("embeddings"):
            table = v1.get_variable("word_embeddings", [VOCAB, HIDDEN])
            positions = v1.get_variable("position_embeddings", [SEQ, HIDDEN])
            x = tf.gather(table, input_ids) + positions[None]
            x = layer_norm(x, "LayerNorm")
        with v1.variable_scope("encoder/layer_0"):
            with v1.variable_scope("attention"):
                def heads(t):
                    t = tf.reshape(t, [batch_size, SEQ, HEADS, HIDDEN // HEADS])
                    return tf.transpose(t, [0, 2, 1, 3])
                with v1.variable_scope("self"):
                    q = heads(dense(x, HIDDEN, "query"))
                    k = heads(dense(x, HIDDEN, "key"))
                    v = heads(dense(x, HIDDEN, "value"))
                    scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(HIDDEN // HEADS)
                    adder = (1.0 - tf.cast(input_mask[:, None, None, :], tf.float32)) * -10000.0
                    context = tf.matmul(tf.nn.softmax(scores + adder), v)
                    context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]),
                                         [batch_size, SEQ, HIDDEN])
                with v1.variable_scope("output"):
                    attended = layer_norm(dense(context, HIDDEN, "dense") + x, "LayerNorm")
            inner = dense(attended, FFN, "intermediate/dense", gelu)
            with v1.variable_scope("output"):
                x = layer_norm(dense(inner, HIDDEN, "dense") + attended, "LayerNorm")
        with v1.variable_scope("pooler"):
            return dense(x[:, 0], HIDDEN, "dense", tf.tanh)


class AdamWithDecay(v1.train.Optimizer):
    """Adam with decoupled weight decay; slots by get_variable in apply_gradients (as BERT's)."""

    def __init__(self, learning_rate, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-6, name="AdamWithDecay"):
        super().__init__(False, name)
        self.learning_rate, self.weight_decay_rate = learning_rate, weight_decay_rate
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        assignments = []
        for grad, param in grads_and_vars:
            if grad is None or param is None:
                continue
            grad = tf.convert_to_tensor(grad)  # embedding lookups give IndexedSlices
            param_name = re.match("^(.*):\\d+$", param.name).group(1)
            m = v1.get_variable(param_name + "/adam_m", shape=param.shape.as_list(),
                                dtype=tf.float32, trainable=False,
                                initializer=v1.zeros_initializer())
            v = v1.get_variable(param_name + "/adam_v", shape=param.shape.as_list(),
                                dtype=tf.float32, trainable=False,
                                initializer=v1.zeros_initializer())
            next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
            next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
            update = next_m / (tf.sqrt(next_v) + self.epsilon)
            if not any(s in param_name for s in ("LayerNorm", "bias")):
                update += self.weight_decay_rate * param
            assignments.extend([param.assign(param - self.learning_rate * update),
                                m.assign(next_m), v.assign(next_v)])
        return tf.group(*assignments, name=name)


def create_train_op(loss, init_lr, num_train_steps, num_warmup_steps):
    global_step = v1.train.get_or_create_global_step()
    lr = v1.train.polynomial_decay(tf.constant(init_lr), global_step, num_train_steps,
                                   end_learning_rate=0.0, power=1.0, cycle=False)
    steps = tf.cast(global_step, tf.float32)
    warmup = init_lr * steps / float(num_warmup_steps)
    is_warmup = tf.cast(steps < num_warmup_steps, tf.float32)
    lr = (1.0 - is_warmup) * lr + is_warmup * warmup
    optimizer = AdamWithDecay(lr)
    tvars = v1.trainable_variables()
    grads = tf.gradients(loss, tvars)
    grads, _ = tf.clip_by_global_norm(grads, clip_norm=1.0)
    train_op = optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)
    return tf.group(train_op, global_step.assign(global_step + 1))


def model_fn_builder(spec_class, init_checkpoint, num_train_steps=6, num_warmup_steps=2,
                     learning_rate=5e-3, use_scaffold=False):
    """A BERT-classifier-shaped model_fn; spec_class is the TPUEstimatorSpec to return."""

    def model_fn(features, labels, mode, params):
        batch_size = params["batch_size"]
        pooled = encoder(features["input_ids"], features["input_mask"], batch_size)
        weights = v1.get_variable("output_weights", initializer=tf.constant(classifier_init()))
        bias = v1.get_variable("output_bias", [CLASSES], initializer=v1.zeros_initializer())
        logits = tf.matmul(pooled, weights, transpose_b=True) + bias
        probabilities = tf.nn.softmax(logits)
        label_ids = features["label_ids"]
        one_hot = tf.one_hot(label_ids, CLASSES)
        per_example_loss = -tf.reduce_sum(one_hot * tf.nn.log_softmax(logits), axis=-1)
        loss = tf.reduce_mean(per_example_loss)

        tvars = v1.trainable_variables()
        assignment = {v.name.split(":")[0]: v.name.split(":")[0] for v in tvars
                      if v.name.startswith("bert/")}
        scaffold_fn = None
        if use_scaffold:
            def scaffold_fn():
                v1.train.init_from_checkpoint(init_checkpoint, assignment)
                return v1.train.Scaffold()
        else:
            v1.train.init_from_checkpoint(init_checkpoint, assignment)

        if mode == "train":
            train_op = create_train_op(loss, learning_rate, num_train_steps, num_warmup_steps)
            return spec_class(mode=mode, loss=loss, train_op=train_op, scaffold_fn=scaffold_fn)
        if mode == "eval":
            def metric_fn(per_example_loss, label_ids, logits):
                predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
                return {"eval_accuracy": v1.metrics.accuracy(label_ids, predictions),
                        "eval_loss": v1.metrics.mean(per_example_loss)}
            return spec_class(mode=mode, loss=loss, scaffold_fn=scaffold_fn,
                              eval_metrics=(metric_fn, [per_example_loss, label_ids, logits]))
        return spec_class(mode=mode, predictions={"probabilities": probabilities},
                          scaffold_fn=scaffold_fn)

    return model_fn

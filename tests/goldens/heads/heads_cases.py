"""Head configurations and deterministic data shared by the recorder and the tests.

Imports under TF 2.15 (the recorder, with tf.estimator's heads) and TF 2.21 (the tests,
with keras_spec's heads): `make_model_fn(case, H)` reads every head class from `H`, a
namespace holding tf.estimator's (or keras_spec's) BinaryClassHead, MultiClassHead,
MultiLabelHead, RegressionHead, LogisticRegressionHead, PoissonRegressionHead and MultiHead.
The model is linear (logits = x @ kernel + bias, constant initial values) so that both
TensorFlow versions compute the same numbers.
"""

import numpy as np
import tensorflow as tf

N_TRAIN, N_EVAL, DIM = 12, 12, 3
TRAIN_BATCH, EVAL_BATCH, TRAIN_REPEAT = 4, 5, 2   # 6 train steps; eval batches of 5, 5, 2
LEARNING_RATE = 0.1

_rs = np.random.RandomState(7)
TRAIN_X = _rs.randn(N_TRAIN, DIM).astype(np.float32)
EVAL_X = _rs.randn(N_EVAL, DIM).astype(np.float32)
TRAIN_W = _rs.uniform(0.5, 2.0, size=(N_TRAIN, 1)).astype(np.float32)
EVAL_W = _rs.uniform(0.5, 2.0, size=(N_EVAL, 1)).astype(np.float32)


def _labels(kind, x, seed):
    rs = np.random.RandomState(seed)
    s = x.sum(axis=1, keepdims=True)
    if kind == 'binary':
        return (s + 0.5 * rs.randn(*s.shape) > 0).astype(np.int64)
    if kind == 'binary_vocab':
        return np.where(s + 0.5 * rs.randn(*s.shape) > 0, b'pos', b'neg').astype(object)
    if kind == 'multi_class':
        return np.clip(np.floor(s + 1.5 + 0.3 * rs.randn(*s.shape)), 0, 2).astype(np.int64)
    if kind == 'multi_class_vocab':
        ids = np.clip(np.floor(s + 1.5 + 0.3 * rs.randn(*s.shape)), 0, 2).astype(np.int64)
        return np.array([[b'a', b'b', b'c'][i] for i in ids[:, 0]], dtype=object)[:, None]
    if kind == 'multi_label':
        return (x + 0.4 * rs.randn(*x.shape) > 0).astype(np.int64)
    if kind == 'regression':
        return np.concatenate([s, x[:, :1] - x[:, 1:2]], axis=1).astype(np.float32)
    if kind == 'regression1':
        return (0.5 * s + 0.1 * rs.randn(*s.shape)).astype(np.float32)
    if kind == 'logistic':
        return np.clip(0.5 + 0.3 * s + 0.1 * rs.randn(*s.shape), 0.0, 1.0).astype(np.float32)
    if kind == 'poisson':
        return np.floor(np.exp(0.5 * s) + rs.uniform(0, 1, s.shape)).astype(np.float32)
    raise ValueError(kind)


def abs_loss(labels, logits):
    """A custom loss_fn (unweighted, per element)."""
    return tf.abs(labels - logits)


def _sgd():
    return tf.compat.v1.train.GradientDescentOptimizer(LEARNING_RATE)


def _adam():
    return tf.compat.v1.train.AdamOptimizer(LEARNING_RATE)


def keras_sgd():
    """The optimizer= argument: TF 2.15's heads took tf.keras.optimizers.legacy only."""
    major, minor = (int(p) for p in tf.__version__.split('.')[:2])
    if (major, minor) < (2, 16):
        return tf.keras.optimizers.legacy.SGD(LEARNING_RATE)
    import keras  # pylint: disable=g-import-not-at-top
    return keras.optimizers.SGD(LEARNING_RATE)


# name -> (head factory, label kind, logits dimension, options)
CASES = {
    'binary': (lambda H: H.BinaryClassHead(), 'binary', 1, {}),
    'binary_vocab_weights_thresholds': (
        lambda H: H.BinaryClassHead(weight_column='w', thresholds=[0.3, 0.7],
                                    label_vocabulary=['neg', 'pos'], loss_reduction='sum'),
        'binary_vocab', 1, {'optimizer': 'adam'}),
    'binary_keras_optimizer': (lambda H: H.BinaryClassHead(name='bin'), 'binary', 1,
                               {'keras_optimizer': True}),
    'multi_class': (lambda H: H.MultiClassHead(3), 'multi_class', 3, {'regularize': True}),
    'multi_class_vocab_weights': (
        lambda H: H.MultiClassHead(3, weight_column='w', label_vocabulary=['a', 'b', 'c'],
                                   loss_reduction='sum_over_batch_size', name='mc'),
        'multi_class_vocab', 3, {}),
    'multi_label': (
        lambda H: H.MultiLabelHead(3, thresholds=[0.4], classes_for_class_based_metrics=[0, 2]),
        'multi_label', 3, {}),
    'multi_label_vocab_weights': (
        lambda H: H.MultiLabelHead(3, weight_column='w', label_vocabulary=['x', 'y', 'z'],
                                   classes_for_class_based_metrics=['y'], loss_reduction='sum'),
        'multi_label', 3, {'regularize': True}),
    'regression': (lambda H: H.RegressionHead(label_dimension=2, weight_column='w'),
                   'regression', 2, {}),
    'regression_link_loss_fn': (
        lambda H: H.RegressionHead(loss_fn=abs_loss, inverse_link_fn=tf.math.tanh, name='r'),
        'regression1', 1, {}),
    'regression_keras_optimizer_step': (
        lambda H: H.RegressionHead(), 'regression1', 1,
        {'keras_optimizer': True, 'advance_global_step': True}),
    'logistic': (lambda H: H.LogisticRegressionHead(weight_column='w'), 'logistic', 1, {}),
    'poisson': (lambda H: H.PoissonRegressionHead(loss_reduction='sum'), 'poisson', 1, {}),
    'multi_head': (
        lambda H: H.MultiHead([H.MultiClassHead(3, name='a'), H.RegressionHead(name='b')],
                              head_weights=[1.0, 0.5]),
        ('multi_class', 'regression1'), 4, {'optimizer': 'adam', 'regularize': True}),
    'multi_head_binary_label': (
        lambda H: H.MultiHead([H.BinaryClassHead(name='bin', label_vocabulary=['neg', 'pos']),
                               H.MultiLabelHead(3, name='ml')]),
        ('binary_vocab', 'multi_label'), 4, {}),
}
MULTI_HEAD_NAMES = {'multi_head': ('a', 'b'), 'multi_head_binary_label': ('bin', 'ml')}


def data(case, split):
    """(features, labels) as numpy for split 'train' or 'eval'."""
    _, kind, _, _ = CASES[case]
    x, w = (TRAIN_X, TRAIN_W) if split == 'train' else (EVAL_X, EVAL_W)
    seed = 1 if split == 'train' else 2
    features = {'x': x, 'w': w}
    if isinstance(kind, tuple):
        names = MULTI_HEAD_NAMES[case]
        return features, {n: _labels(k, x, seed + i) for i, (n, k) in enumerate(zip(names, kind))}
    return features, _labels(kind, x, seed)


def initial_values(case):
    dim = CASES[case][2]
    kernel = (np.arange(DIM * dim, dtype=np.float32).reshape(DIM, dim) % 5 - 2.0) * 0.1
    bias = np.linspace(-0.1, 0.1, dim).astype(np.float32)
    return kernel, bias


def make_model_fn(case, H):
    """A model_fn: a linear layer whose logits go through the case's head."""
    factory, _, dim, options = CASES[case]
    kernel0, bias0 = initial_values(case)

    def model_fn(features, labels, mode):
        head = factory(H)
        with tf.compat.v1.variable_scope('linear'):
            kernel = tf.compat.v1.get_variable(
                'kernel', shape=[DIM, dim], initializer=tf.compat.v1.constant_initializer(kernel0))
            bias = tf.compat.v1.get_variable(
                'bias', shape=[dim], initializer=tf.compat.v1.constant_initializer(bias0))
        logits = tf.matmul(features['x'], kernel) + bias
        kwargs = {}
        if options.get('regularize'):
            kwargs['regularization_losses'] = [0.01 * tf.nn.l2_loss(kernel)]
        if options.get('keras_optimizer'):
            kwargs['optimizer'] = keras_sgd()
            kwargs['trainable_variables'] = [kernel, bias]
            if options.get('advance_global_step') and mode == 'train':
                # TRAIN only: a traced step runs every stateful op it creates (keras-spec), not
                # only those fetched (TF1). After the input is read: a data-independent
                # increment also ran in the session.run that hit the end of the input.
                with tf.control_dependencies([logits]):
                    kwargs['update_ops'] = [tf.compat.v1.assign_add(
                        tf.compat.v1.train.get_global_step(), 1)]
        else:
            make = _adam if options.get('optimizer') == 'adam' else _sgd
            kwargs['train_op_fn'] = lambda loss: make().minimize(
                loss, global_step=tf.compat.v1.train.get_global_step())
        return head.create_estimator_spec(features=features, mode=mode, logits=logits,
                                          labels=labels, **kwargs)

    return model_fn

"""Reference tf.estimator-style model_fns with deterministic data.

golden.json beside this file holds what the real tf.estimator (TF 2.15.1,
tensorflow-estimator 2.15.0) produced for each case: per-step training losses,
final variables, evaluate() results, predictions, and the exported SavedModel
signatures. keras-spec must reproduce them when it runs the same source.

The model_fns use only TF core APIs present in both TF 2.15 and TF 2.21
(tf.compat.v1.get_variable / variable_scope / losses / metrics / train
optimizers, tf.nn.*, tf.compat.v1.summary.scalar). They never import a spec
library: they read the spec classes from the module global ``SPEC`` at call
time, so set ``cases.SPEC = keras_spec`` first. ``SPEC`` must provide
EstimatorSpec, TPUEstimatorSpec, ModeKeys.{TRAIN,EVAL,PREDICT} and
export_output.{ClassificationOutput,RegressionOutput,PredictOutput}.

Case dict (returned by every make_case_*()):
    name, model_fn(features, labels, mode, params), params (dict),
    estimator ('Estimator' | 'TPUEstimator'), feature_key ('x'), feature_dim,
    train_x, train_y, eval_x, eval_y (numpy; features are fed as {'x': array}),
    train_batch_size, eval_batch_size, predict_batch_size, train_steps, eval_steps.
Input pipelines used for the recording: tf.data.Dataset.from_tensor_slices(
({'x': x}, y)), no shuffling; TRAIN .repeat().batch(bs, drop_remainder=True);
EVAL .batch(bs, drop_remainder=True) for eval_steps steps; PREDICT
from_tensor_slices({'x': eval_x}).batch(bs, drop_remainder=True).
For the TPUEstimatorSpec case, params['batch_size'] is the batch size of the
current mode (32 train, 16 eval and predict), as TPUEstimator supplied it.
"""

import numpy as np
import tensorflow as tf

SPEC = None  # set before any model_fn is called (see module docstring)

_F32 = np.float32


def _const_init(array):
    return tf.compat.v1.constant_initializer(np.asarray(array, dtype=_F32))


def _weight(name, array, trainable=True):
    array = np.asarray(array, dtype=_F32)
    return tf.compat.v1.get_variable(
        name, shape=array.shape, dtype=tf.float32,
        initializer=_const_init(array), trainable=trainable)


def _dense(x, w_init, b_init, scope):
    with tf.compat.v1.variable_scope(scope):
        w = _weight('kernel', w_init)
        b = _weight('bias', b_init)
        return tf.matmul(x, w) + b


# ---------------------------------------------------------------------------
# linreg: 3 features -> 1, plain SGD, regression metrics, RegressionOutput export
# ---------------------------------------------------------------------------
_LINREG_RS = np.random.RandomState(101)
_LINREG_W0 = (_LINREG_RS.randn(3, 1) * 0.1).astype(_F32)
_LINREG_B0 = np.zeros([1], _F32)


def linreg_model_fn(features, labels, mode, params):
    x = features['x']
    with tf.compat.v1.variable_scope('linreg'):
        pred = _dense(x, _LINREG_W0, _LINREG_B0, 'dense')  # [B, 1]
    value = tf.squeeze(pred, axis=1)
    if mode == SPEC.ModeKeys.PREDICT:
        return SPEC.EstimatorSpec(
            mode=mode,
            predictions={'value': value},
            export_outputs={
                'serving_default': SPEC.export_output.RegressionOutput(value=value)})
    loss = tf.compat.v1.losses.mean_squared_error(labels=labels, predictions=pred)
    if mode == SPEC.ModeKeys.EVAL:
        metrics = {
            'mse': tf.compat.v1.metrics.mean_squared_error(labels, pred),
            'mae': tf.compat.v1.metrics.mean_absolute_error(labels, pred),
            'rmse': tf.compat.v1.metrics.root_mean_squared_error(labels, pred),
        }
        return SPEC.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops=metrics)
    opt = tf.compat.v1.train.GradientDescentOptimizer(params['learning_rate'])
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return SPEC.EstimatorSpec(mode=mode, loss=loss, train_op=train_op)


def make_case_linreg():
    rs = np.random.RandomState(1)
    true_w = np.array([[1.5], [-2.0], [0.5]], _F32)
    x = rs.randn(320, 3).astype(_F32)
    y = (x @ true_w + 0.3 + 0.1 * rs.randn(320, 1)).astype(_F32)
    return dict(
        name='linreg', model_fn=linreg_model_fn, params={'learning_rate': 0.05},
        estimator='Estimator', feature_key='x', feature_dim=3,
        train_x=x[:256], train_y=y[:256], eval_x=x[256:], eval_y=y[256:],
        train_batch_size=32, eval_batch_size=32, predict_batch_size=32,
        train_steps=60, eval_steps=2)


# ---------------------------------------------------------------------------
# mlp_classifier: 10 -> 16 relu -> 3, Adam + exponential_decay, many metrics,
# three export outputs (classification / regression / predict)
# ---------------------------------------------------------------------------
_MLP_RS = np.random.RandomState(202)
_MLP_W1 = (_MLP_RS.randn(10, 16) * np.sqrt(2.0 / 10)).astype(_F32)
_MLP_B1 = np.zeros([16], _F32)
_MLP_W2 = (_MLP_RS.randn(16, 3) * np.sqrt(1.0 / 16)).astype(_F32)
_MLP_B2 = np.zeros([3], _F32)
MLP_CLASS_NAMES = ['cat', 'dog', 'bird']


def mlp_model_fn(features, labels, mode, params):
    x = features['x']
    with tf.compat.v1.variable_scope('mlp'):
        h = tf.nn.relu(_dense(x, _MLP_W1, _MLP_B1, 'hidden'))
        logits = _dense(h, _MLP_W2, _MLP_B2, 'logits')
    probabilities = tf.nn.softmax(logits)
    class_ids = tf.argmax(logits, axis=1)
    predictions = {'class_ids': class_ids, 'probabilities': probabilities, 'logits': logits}
    if mode == SPEC.ModeKeys.PREDICT:
        names = tf.constant(MLP_CLASS_NAMES, dtype=tf.string)
        classes = tf.tile(tf.expand_dims(names, 0), [tf.shape(logits)[0], 1])
        export_outputs = {
            'serving_default': SPEC.export_output.ClassificationOutput(
                scores=probabilities, classes=classes),
            'regression': SPEC.export_output.RegressionOutput(value=probabilities[:, 1]),
            'predict': SPEC.export_output.PredictOutput(predictions),
        }
        return SPEC.EstimatorSpec(mode=mode, predictions=predictions,
                                  export_outputs=export_outputs)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    if mode == SPEC.ModeKeys.EVAL:
        is_one = tf.equal(labels, 1)
        pred_one = tf.equal(class_ids, 1)
        metrics = {
            'accuracy': tf.compat.v1.metrics.accuracy(labels, class_ids),
            'mean_per_class_accuracy': tf.compat.v1.metrics.mean_per_class_accuracy(
                labels, class_ids, num_classes=3),
            'precision_class1': tf.compat.v1.metrics.precision(is_one, pred_one),
            'recall_class1': tf.compat.v1.metrics.recall(is_one, pred_one),
            'auc_class1': tf.compat.v1.metrics.auc(is_one, probabilities[:, 1]),
            'mean_loss': tf.compat.v1.metrics.mean(loss),
        }
        return SPEC.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops=metrics)
    global_step = tf.compat.v1.train.get_global_step()
    lr = tf.compat.v1.train.exponential_decay(
        params['learning_rate'], global_step, decay_steps=params['decay_steps'],
        decay_rate=params['decay_rate'], staircase=False)
    tf.compat.v1.summary.scalar('learning_rate', lr)
    opt = tf.compat.v1.train.AdamOptimizer(lr)
    train_op = opt.minimize(loss, global_step=global_step)
    return SPEC.EstimatorSpec(mode=mode, loss=loss, train_op=train_op)


def make_case_mlp_classifier():
    rs = np.random.RandomState(2)
    x = rs.randn(640, 10).astype(_F32)
    teacher_w = rs.randn(10, 3).astype(_F32)
    teacher_b = np.array([0.2, 0.0, -0.2], _F32)
    y = np.argmax(x @ teacher_w + teacher_b + 0.3 * rs.randn(640, 3), axis=1).astype(np.int32)
    return dict(
        name='mlp_classifier', model_fn=mlp_model_fn,
        params={'learning_rate': 0.01, 'decay_steps': 20, 'decay_rate': 0.9},
        estimator='Estimator', feature_key='x', feature_dim=10,
        train_x=x[:512], train_y=y[:512], eval_x=x[512:], eval_y=y[512:],
        train_batch_size=32, eval_batch_size=32, predict_batch_size=32,
        train_steps=100, eval_steps=4)


# keras-spec note: the shared fixture's cases.py uses _TPU_W/_TPU_B without defining them.
# Reconstructed with the pattern of the other cases (RandomState(404), randn * 0.1, zero bias):
# it reproduces golden train_losses[0] exactly, and every later recorded quantity follows.
_TPU_RS = np.random.RandomState(404)
_TPU_W = (_TPU_RS.randn(5, 4) * 0.1).astype(_F32)
_TPU_B = np.zeros([4], _F32)


def tpu_metric_fn(labels, logits):
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return {
        'accuracy': tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, axis=1)),
        'mean_example_loss': tf.compat.v1.metrics.mean(per_example),
    }


def tpu_model_fn(features, labels, mode, params):
    x = features['x']
    with tf.compat.v1.variable_scope('tpu_linear'):
        logits = _dense(x, _TPU_W, _TPU_B, 'dense')
    if mode == SPEC.ModeKeys.PREDICT:
        probabilities = tf.nn.softmax(logits)
        predictions = {'class_ids': tf.argmax(logits, axis=1), 'probabilities': probabilities}
        return SPEC.TPUEstimatorSpec(
            mode=mode, predictions=predictions,
            export_outputs={
                'serving_default': SPEC.export_output.PredictOutput(predictions),
                'classification': SPEC.export_output.ClassificationOutput(scores=probabilities),
            })
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    loss = tf.reduce_sum(per_example) / float(params['batch_size'])
    if mode == SPEC.ModeKeys.EVAL:
        return SPEC.TPUEstimatorSpec(mode=mode, loss=loss,
                                     eval_metrics=(tpu_metric_fn, [labels, logits]))
    opt = tf.compat.v1.train.GradientDescentOptimizer(params['learning_rate'])
    if params.get('use_tpu', False):
        opt = tf.compat.v1.tpu.CrossShardOptimizer(opt)
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return SPEC.TPUEstimatorSpec(mode=mode, loss=loss, train_op=train_op)


def make_case_tpu_metrics():
    rs = np.random.RandomState(4)
    x = rs.randn(320, 5).astype(_F32)
    y = np.argmax(x @ rs.randn(5, 4) + 0.5 * rs.randn(320, 4), axis=1).astype(np.int32)
    # params['batch_size'] is NOT in params: TPUEstimator injects it (train/eval/predict
    # batch size of the current mode); whatever runs this case must do the same.
    return dict(
        name='tpu_metrics', model_fn=tpu_model_fn,
        params={'learning_rate': 0.1, 'use_tpu': False},
        estimator='TPUEstimator', feature_key='x', feature_dim=5,
        train_x=x[:256], train_y=y[:256], eval_x=x[256:], eval_y=y[256:],
        train_batch_size=32, eval_batch_size=16, predict_batch_size=16,
        train_steps=50, eval_steps=4)


# ---------------------------------------------------------------------------
# bench: 784 -> 256 -> 256 -> 10 MLP, Adam, batch 128 (throughput baseline only)
# ---------------------------------------------------------------------------
def _bench_init():
    rs = np.random.RandomState(505)
    return dict(
        w1=(rs.randn(784, 256) * np.sqrt(2.0 / 784)).astype(_F32), b1=np.zeros([256], _F32),
        w2=(rs.randn(256, 256) * np.sqrt(2.0 / 256)).astype(_F32), b2=np.zeros([256], _F32),
        w3=(rs.randn(256, 10) * np.sqrt(1.0 / 256)).astype(_F32), b3=np.zeros([10], _F32))


_BENCH_INIT = None


def _dense_glorot(x, n_in, n_out, seed, scope):
    with tf.compat.v1.variable_scope(scope):
        w = tf.compat.v1.get_variable(
            'kernel', shape=[n_in, n_out], dtype=tf.float32,
            initializer=tf.compat.v1.glorot_uniform_initializer(seed=seed))
        b = tf.compat.v1.get_variable('bias', shape=[n_out], dtype=tf.float32,
                                      initializer=tf.compat.v1.zeros_initializer())
        return tf.matmul(x, w) + b


def bench_model_fn(features, labels, mode, params):
    """params['const_init'] (default True): constant numpy initializers (embedded in the
    GraphDef, ~1 MB); False: in-graph glorot_uniform(seed) init (no big constants)."""
    global _BENCH_INIT
    x = features['x']
    with tf.compat.v1.variable_scope('bench'):
        if params.get('const_init', True):
            if _BENCH_INIT is None:
                _BENCH_INIT = _bench_init()
            p = _BENCH_INIT
            h = tf.nn.relu(_dense(x, p['w1'], p['b1'], 'fc1'))
            h = tf.nn.relu(_dense(h, p['w2'], p['b2'], 'fc2'))
            logits = _dense(h, p['w3'], p['b3'], 'logits')
        else:
            h = tf.nn.relu(_dense_glorot(x, 784, 256, 1, 'fc1'))
            h = tf.nn.relu(_dense_glorot(h, 256, 256, 2, 'fc2'))
            logits = _dense_glorot(h, 256, 10, 3, 'logits')
    if mode == SPEC.ModeKeys.PREDICT:
        return SPEC.EstimatorSpec(mode=mode, predictions={'logits': logits})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    if mode == SPEC.ModeKeys.EVAL:
        return SPEC.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops={
            'accuracy': tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, axis=1))})
    opt = tf.compat.v1.train.AdamOptimizer(params['learning_rate'])
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return SPEC.EstimatorSpec(mode=mode, loss=loss, train_op=train_op)


def make_case_bench():
    rs = np.random.RandomState(5)
    x = rs.rand(8192, 784).astype(_F32)
    y = rs.randint(0, 10, size=8192).astype(np.int32)
    return dict(
        name='bench', model_fn=bench_model_fn, params={'learning_rate': 1e-3, 'const_init': True},
        estimator='Estimator', feature_key='x', feature_dim=784,
        train_x=x, train_y=y, eval_x=x[:1024], eval_y=y[:1024],
        train_batch_size=128, eval_batch_size=128, predict_batch_size=128,
        train_steps=1500, eval_steps=8)


ALL_CASES = {
    'linreg': make_case_linreg,
    'mlp_classifier': make_case_mlp_classifier,
    'tpu_metrics': make_case_tpu_metrics,
}

"""Record what tf.estimator 2.15's Heads produce for every case in heads_cases.py.

Run ONLY under TF 2.15.1 + tensorflow-estimator 2.15.0 (a side virtualenv; CI never runs it):
    /path/to/tf215/bin/python tests/goldens/heads/record_heads.py
Writes heads_2_15.json beside this file. Per case: per-step training losses (the loss fetched
with train_op), final variables and global_step, evaluate() results, predict() outputs on the
evaluation examples, and both exports' signatures (keys, method names, inputs, outputs,
dtypes, shapes) with each signature's outputs on the first 3 evaluation examples.
"""

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import heads_cases as cases  # noqa: E402  pylint: disable=g-import-not-at-top

N_SIGNATURE_EXAMPLES = 3


class _LossRecorder(tf.compat.v1.train.SessionRunHook):
    def __init__(self, loss, out):
        self._loss, self._out = loss, out

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self._loss)

    def after_run(self, run_context, run_values):
        self._out.append(float(run_values.results))


def _to_json(value):
    value = np.asarray(value)
    if value.dtype.kind in 'SO':
        return np.vectorize(lambda b: b.decode() if isinstance(b, bytes) else str(b),
                            otypes=[object])(value).tolist()
    if value.dtype.kind == 'b':
        return value.tolist()
    if value.dtype.kind in 'iu':
        return value.astype(np.int64).tolist()
    return value.astype(np.float64).tolist()


def _key(k):
    return '|'.join(k) if isinstance(k, tuple) else k


def _dataset(case, split, repeat=1):
    features, labels = cases.data(case, split)
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    if split == 'train':
        return ds.repeat(repeat).batch(cases.TRAIN_BATCH)
    return ds.batch(cases.EVAL_BATCH)


def _examples(x):
    return [tf.train.Example(features=tf.train.Features(feature={
        'x': tf.train.Feature(float_list=tf.train.FloatList(value=row.tolist()))}))
        .SerializeToString() for row in x]


def _dtype(t):
    return tf.as_dtype(t.dtype).name


def _shape(t):
    return None if t.shape.rank is None else [-1 if d is None else d for d in t.shape.as_list()]


def _signatures(export_dir):
    loaded = tf.saved_model.load(export_dir)
    from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, 'saved_model.pb'), 'rb') as f:
        sm.ParseFromString(f.read())
    meta = [m for m in sm.meta_graphs if list(m.meta_info_def.tags) == ['serve']][0]
    result = {}
    x = cases.EVAL_X[:N_SIGNATURE_EXAMPLES]
    for key in sorted(meta.signature_def):
        sd = meta.signature_def[key]
        fn = loaded.signatures[key]
        inputs = {}
        for name, info in sd.inputs.items():
            inputs[name] = (tf.constant(_examples(x)) if info.dtype == tf.string.as_datatype_enum
                            else tf.constant(x))
        outputs = fn(**inputs)
        result[key] = {
            'method_name': sd.method_name,
            'inputs': {n: {'dtype': tf.as_dtype(i.dtype).name,
                           'shape': [d.size for d in i.tensor_shape.dim]
                           if not i.tensor_shape.unknown_rank else None}
                       for n, i in sd.inputs.items()},
            'outputs': {n: {'dtype': tf.as_dtype(o.dtype).name,
                            'shape': [d.size for d in o.tensor_shape.dim]
                            if not o.tensor_shape.unknown_rank else None}
                        for n, o in sd.outputs.items()},
            'values': {n: _to_json(v.numpy()) for n, v in outputs.items()},
        }
    return result


def record(case):
    model_fn = cases.make_model_fn(case, tf.estimator)
    losses = []

    def recording_model_fn(features, labels, mode):
        spec = model_fn(features, labels, mode)
        if mode == tf.estimator.ModeKeys.TRAIN:
            spec = spec._replace(training_hooks=[_LossRecorder(spec.loss, losses)])
        return spec

    model_dir = tempfile.mkdtemp()
    try:
        est = tf.estimator.Estimator(recording_model_fn, model_dir=model_dir,
                                     config=tf.estimator.RunConfig(tf_random_seed=1))
        est.train(lambda: _dataset(case, 'train', cases.TRAIN_REPEAT))
        ckpt = tf.train.latest_checkpoint(model_dir)
        variables = {name: _to_json(tf.train.load_variable(ckpt, name))
                     for name, _ in tf.train.list_variables(ckpt)}
        evaluation = {k: _to_json(v)
                      for k, v in est.evaluate(lambda: _dataset(case, 'eval')).items()}
        predictions = list(est.predict(lambda: _dataset(case, 'eval')))
        predict_keys = [list(k) if isinstance(k, tuple) else k for k in predictions[0]]
        predict = {_key(k): _to_json(np.stack([p[k] for p in predictions]))
                   for k in predictions[0]}
        with tf.Graph().as_default():  # a template: only its dtype and shape are used
            raw_x = tf.compat.v1.placeholder(tf.float32, [None, cases.DIM])
        receivers = {
            'parsing': tf.estimator.export.build_parsing_serving_input_receiver_fn(
                {'x': tf.io.FixedLenFeature([cases.DIM], tf.float32)}),
            'raw': tf.estimator.export.build_raw_serving_input_receiver_fn(
                {'x': raw_x}),
        }
        exports = {}
        for name, receiver in receivers.items():
            path = est.export_saved_model(os.path.join(model_dir, 'export_' + name), receiver)
            exports[name] = _signatures(path.decode() if isinstance(path, bytes) else path)
        return {'train_losses': losses, 'checkpoint': os.path.basename(ckpt),
                'variables': variables, 'evaluate': evaluation, 'predict_keys': predict_keys,
                'predict': predict, 'exports': exports}
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)


def main():
    from importlib.metadata import version  # pylint: disable=g-import-not-at-top
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    only = sys.argv[1:]
    out = {'meta': {'tensorflow': tf.__version__,
                    'tensorflow_estimator': version('tensorflow-estimator'),
                    'signature_examples': N_SIGNATURE_EXAMPLES},
           'cases': {}}
    for case in cases.CASES:
        if only and case not in only:
            continue
        print('recording', case, flush=True)
        out['cases'][case] = record(case)
    path = os.path.join(HERE, 'heads_2_15.json' if not only else 'heads_partial.json')
    with open(path, 'w') as f:
        json.dump(out, f, indent=None, sort_keys=True)
        f.write('\n')
    print('wrote', path)


if __name__ == '__main__':
    main()

"""input_fns and event-file readers shared by the Estimator facade tests."""

import glob
import os

import numpy as np
import tensorflow as tf

from conformance_runner import make_case


def input_fns(case: dict):
    """(train, eval, predict) input_fns shaped like the golden recording's pipelines."""
    def train_input_fn():
        return (tf.data.Dataset.from_tensor_slices(({"x": case["train_x"]}, case["train_y"]))
                .repeat().batch(case["train_batch_size"], drop_remainder=True))

    def eval_input_fn():
        return (tf.data.Dataset.from_tensor_slices(({"x": case["eval_x"]}, case["eval_y"]))
                .batch(case["eval_batch_size"], drop_remainder=True))

    def predict_input_fn():
        return (tf.data.Dataset.from_tensor_slices({"x": case["eval_x"]})
                .batch(case["predict_batch_size"], drop_remainder=True))

    return train_input_fn, eval_input_fn, predict_input_fn


def case_and_fns(name: str):
    case = make_case(name)
    return (case,) + input_fns(case)


def read_events(logdir: str) -> dict:
    """{tag: {step: value}} from the event files directly in logdir (simple or tensor values)."""
    found: dict = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    array = tf.make_ndarray(value.tensor)
                    number = array.item() if array.size == 1 else array
                else:
                    number = value.simple_value
                found.setdefault(value.tag, {})[event.step] = number
    return found


def checkpoint_steps(model_dir: str) -> list:
    return sorted(int(f[len("model.ckpt-"):-len(".index")]) for f in os.listdir(model_dir)
                  if f.startswith("model.ckpt-") and f.endswith(".index"))


def assert_nested_close(mine, golden, path: str = "") -> None:
    """Compare a result with its golden through dicts and lists: floats at rtol 1e-4 (the
    conformance tolerance), everything else exactly; `path` names where they differ."""
    if isinstance(golden, dict):
        assert sorted(mine) == sorted(golden), path
        for key in golden:
            assert_nested_close(mine[key], golden[key], f"{path}.{key}")
    elif isinstance(golden, list):
        assert len(mine) == len(golden), path
        for i, (m, g) in enumerate(zip(mine, golden)):
            assert_nested_close(m, g, f"{path}[{i}]")
    elif isinstance(golden, float):
        np.testing.assert_allclose(mine, golden, rtol=1e-4, atol=1e-6, err_msg=path)
    else:
        assert mine == golden, path
